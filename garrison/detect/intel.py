"""Threat-intelligence indicators: loaded from CSV or plain lists, STIX 2.1 bundles and MISP event files,
each with its source and an expiry; looked up in O(1) per event field.

CSV: a header with ``type,value`` and optionally ``source,expires`` (ISO time) and ``trust`` (high, medium, low). Plain lists: one value
per line, the type guessed from its shape (IP, CIDR, domain, URL, MD5/SHA-1/SHA-256).
"""

from __future__ import annotations

import csv
import ipaddress
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import orjson

from garrison.errors import InputError, Location
from garrison.model.event import us_from_iso

TYPES = ("ip", "cidr", "domain", "url", "hash")
_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$", re.I)
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.I)
_STIX = re.compile(r"\[\s*(ipv4-addr|ipv6-addr|domain-name|url|file):(value|hashes\.'?[\w-]+'?)\s*=\s*'([^']+)'\s*\]")
_MISP_TYPES = {"ip-src": "ip", "ip-dst": "ip", "ip-src|port": "ip", "ip-dst|port": "ip", "domain": "domain",
               "hostname": "domain", "url": "url", "md5": "hash", "sha1": "hash", "sha256": "hash",
               "domain|ip": "domain"}


@dataclass(frozen=True)
class Indicator:
    type: str
    value: str
    source: str
    expires: int | None = None  # epoch us
    description: str = ""
    trust: str = "high"  # high | medium | low: a subscribed feed's trust sets its matches' level


def guess_type(value: str) -> str | None:
    v = value.strip()
    try:
        ipaddress.ip_address(v)
        return "ip"
    except ValueError:
        pass
    try:
        if "/" in v:
            ipaddress.ip_network(v, strict=False)
            return "cidr"
    except ValueError:
        pass
    if v.lower().startswith(("http://", "https://", "ftp://")):
        return "url"
    if _HASH.match(v):
        return "hash"
    if _DOMAIN.match(v):
        return "domain"
    return None


def _norm(t: str, v: str) -> str:
    v = v.strip()
    if t in ("domain", "hash"):
        return v.lower().rstrip(".")
    if t == "ip":
        return str(ipaddress.ip_address(v.split("|")[0].split(":")[0] if v.count(":") == 1 else v))
    return v


def load_file(path: Path) -> tuple[list[Indicator], list[InputError]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    src = path.stem
    errs: list[InputError] = []
    out: list[Indicator] = []
    stripped = text.lstrip()
    if stripped.startswith("{"):
        doc = orjson.loads(text)
        if doc.get("type") == "bundle":
            for o in doc.get("objects", []):
                if o.get("type") != "indicator":
                    continue
                until = us_from_iso(o["valid_until"]) if o.get("valid_until") else None
                for kind, _, val in _STIX.findall(o.get("pattern", "")):
                    t = {"ipv4-addr": "ip", "ipv6-addr": "ip", "domain-name": "domain", "url": "url",
                         "file": "hash"}[kind]
                    if t == "ip" and "/" in val:
                        t = "cidr"
                    out.append(Indicator(t, _norm(t, val), o.get("name") or src, until, o.get("description", "")))
            return out, errs
        event = doc.get("Event", doc)
        for i, a in enumerate(event.get("Attribute", []), 1):
            t = _MISP_TYPES.get(a.get("type", ""))
            if t is None or a.get("to_ids") is False:
                continue
            try:
                out.append(Indicator(t, _norm(t, a["value"]), f"misp:{event.get('info', src)}", None,
                                     a.get("comment", "")))
            except (ValueError, KeyError) as e:
                errs.append(InputError(f"MISP attribute: {e}", Location(str(path), i)))
        return out, errs
    lines = text.splitlines()
    if lines and lines[0].lower().replace(" ", "").startswith("type,value"):
        for i, row in enumerate(csv.DictReader(lines), 2):
            t = (row.get("type") or "").strip().lower()
            try:
                if t not in TYPES:
                    raise ValueError(f"unknown indicator type {t!r}")
                exp = us_from_iso(row["expires"]) if row.get("expires") else None
                trust = (row.get("trust") or "high").strip().lower()
                out.append(Indicator(t, _norm(t, row["value"]), row.get("source") or src, exp,
                                     trust=trust if trust in ("high", "medium", "low") else "high"))
            except (ValueError, KeyError) as e:
                errs.append(InputError(str(e), Location(str(path), i)))
        return out, errs
    for i, line in enumerate(lines, 1):
        v = line.split("#", 1)[0].strip()
        if not v:
            continue
        t = guess_type(v)
        if t is None:
            errs.append(InputError(f"not an IP, range, domain, URL or hash: {v[:80]!r}", Location(str(path), i)))
            continue
        out.append(Indicator(t, _norm(t, v), src))
    return out, errs


@dataclass
class IntelIndex:
    exact: dict[tuple[str, str], Indicator] = field(default_factory=dict)
    cidrs: list[tuple[Any, Indicator]] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    def add(self, ind: Indicator) -> None:
        if ind.type == "cidr":
            self.cidrs.append((ipaddress.ip_network(ind.value, strict=False), ind))
        else:
            self.exact[(ind.type, ind.value)] = ind

    def _live(self, ind: Indicator | None) -> Indicator | None:
        if ind is None or (ind.expires is not None and ind.expires < time.time() * 1e6):
            return None
        return ind

    def ip(self, value: str) -> Indicator | None:
        hit = self._live(self.exact.get(("ip", value)))
        if hit or not self.cidrs:
            return hit
        try:
            a = ipaddress.ip_address(value)
        except ValueError:
            return None
        return next((self._live(i) for n, i in self.cidrs if n.version == a.version and a in n and self._live(i)), None)

    def domain(self, value: str) -> Indicator | None:
        d = value.lower().rstrip(".")
        while d:
            hit = self._live(self.exact.get(("domain", d)))
            if hit:
                return hit
            d = d.partition(".")[2] if "." in d else ""
        return None

    def get(self, kind: str, value: str) -> Indicator | None:
        return self._live(self.exact.get((kind, value.lower() if kind == "hash" else value)))


def load_intel(paths: Sequence[str | Path]) -> IntelIndex:
    idx = IntelIndex()
    for p in map(Path, paths):
        # a folder's hidden files are not lists (a feed's checkpoint, an editor's swap file)
        files = sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")) if p.is_dir() else [p]
        for f in files:
            inds, errs = load_file(f)
            for ind in inds:
                idx.add(ind)
            idx.errors += errs
    return idx
