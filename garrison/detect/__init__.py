"""Detection: Sigma rules (detect/sigma) and Garrison's own detectors."""
