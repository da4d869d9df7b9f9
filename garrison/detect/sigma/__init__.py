"""Sigma: load (pySigma), route, compile, match, correlate, hunt."""
