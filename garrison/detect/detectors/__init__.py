"""Garrison's own detectors: documented Python for what Sigma can't express, with the same output."""
