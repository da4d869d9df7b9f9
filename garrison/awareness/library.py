"""Garrison's own simulation templates, training modules and scanner knowledge, kept as data (``library/*.yml``)."""

from __future__ import annotations

import functools
import html
from importlib import resources
from string import Template
from typing import Any

import yaml


@functools.cache
def _load(name: str) -> dict[str, Any]:
    text = resources.files("garrison.awareness").joinpath("library", f"{name}.yml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(text))


def templates() -> dict[str, dict[str, Any]]:
    return _load("templates")


def modules() -> dict[str, dict[str, Any]]:
    return _load("modules")


def scanners() -> dict[str, Any]:
    return _load("scanners")


def render(text: str, values: dict[str, str], as_html: bool = False) -> str:
    """Placeholders ($name, $link...) filled; in HTML every value is escaped."""
    vals = {k: html.escape(v) for k, v in values.items()} if as_html else values
    return Template(text).safe_substitute(vals)
