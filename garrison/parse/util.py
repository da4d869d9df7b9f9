"""Small helpers shared by parsers."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


def to_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    if type(value) is int:
        return value
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None


def clean_ip(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return _clean_ip(value)


@lru_cache(maxsize=100_000)
def _clean_ip(value: str) -> str | None:
    """Return a canonical IP string, or None for '-', empty or non-IP values.

    Accepts 'ip:port' and '[v6]:port' as some Microsoft logs write them.
    """
    if not isinstance(value, str) or not value or value in ("-", "::1%0"):
        return None
    s = value.strip()
    if s.startswith("["):
        s = s[1 : s.find("]")] if "]" in s else s[1:]
    elif s.count(":") == 1:
        s = s.split(":", 1)[0]
    if "%" in s:
        s = s.split("%", 1)[0]
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return None
