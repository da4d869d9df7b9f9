"""Evaluation against the peers' own labelled test suites (fail2ban, OWASP CRS, CSIC 2010, HttpParams)."""
