"""Garrison: a security-operations platform for small teams facing many attacks."""

__version__ = "0.1.0"
__all__ = ["__version__"]
