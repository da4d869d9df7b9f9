"""Pattern families kept as data (``garrison/model/patterns/*.yml``) and the one RE2 helper that compiles them.

Stages read the families they need: the syslog parser the service failure phrases, the web detector the
attack signatures. A pattern may name the shared address fragments as ``{{ip}}`` (captured as ``ip``) and
``{{ip2}}`` (not captured). Everything compiled from a rule or a pattern goes through ``re2``, so no input can
make matching slow.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import re2
import yaml

IP = r"(?:::ffff:)?(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})"
IP2 = r"(?:::ffff:)?(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})"


class PatternError(ValueError):
    pass


def options(case_sensitive: bool = False) -> Any:
    """RE2 options: case-insensitive unless asked, errors raised rather than logged."""
    opts = re2.Options()
    opts.case_sensitive = case_sensitive
    opts.log_errors = False
    return opts


def compile_re2(pattern: str, case_sensitive: bool = False) -> Any:
    try:
        return re2.compile(pattern, options(case_sensitive))
    except re2.error as e:
        raise PatternError(f"pattern {pattern[:80]!r} is not valid RE2: {e}") from None


def expand(pattern: str) -> str:
    return pattern.replace("{{ip}}", IP).replace("{{ip2}}", IP2)


@functools.cache
def family(name: str) -> Any:
    """The parsed YAML of one pattern family, loaded once."""
    text = resources.files("garrison.model").joinpath("patterns", f"{name}.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
