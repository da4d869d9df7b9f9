"""Community rules kept current: a SigmaHQ release package downloaded (or read from a mirror, a file or a
folder), its checksum verified, compared rule by rule with the version in use, and tried on the last day of
stored events before it is switched on, as Hayabusa's ``update-rules`` and Zircolite's bundled sets do.

Packages follow SigmaHQ's release table: which rule folders, statuses and levels each holds.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from garrison.errors import GarrisonError


@dataclass(frozen=True)
class Package:
    asset: str  # the release asset's file name
    folders: tuple[str, ...]  # the rule folders of SigmaHQ's repository it is made from
    statuses: frozenset[str]
    levels: frozenset[str]


_STABLE = frozenset({"test", "testing", "stable"})
_ALL = _STABLE | {"experimental"}
_HIGH = frozenset({"high", "critical"})
_MEDIUM = _HIGH | {"medium"}
PACKAGES = {
    "core": Package("sigma_core.zip", ("rules",), _STABLE, _HIGH),
    "core+": Package("sigma_core+.zip", ("rules",), _STABLE, _MEDIUM),
    "core++": Package("sigma_core++.zip", ("rules",), _ALL, _MEDIUM),
    "emerging": Package("sigma_emerging_threats_addon.zip", ("rules-emerging-threats",), _ALL, _MEDIUM),
    "all": Package("sigma_all_rules.zip", ("rules", "rules-emerging-threats"), _ALL, _MEDIUM),
}
DEFAULT_URL = "https://github.com/SigmaHQ/sigma/releases/latest/download/{asset}"
DEFAULT_API = "https://api.github.com"
MAX_API_BODY = 4 * 1024 * 1024
_RELEASE = re.compile(r"^https?://[^/]+/([\w.-]+)/([\w.-]+)/releases/(?:latest/download|download/([^/]+))/([^/?#]+)$")


def package(name: str) -> Package:
    try:
        return PACKAGES[name]
    except KeyError:
        raise GarrisonError(f"unknown package {name!r}; one of {', '.join(PACKAGES)}") from None


def folder_filter(pkg: Package) -> Callable[[str, bytes], bool]:
    """For a checkout of SigmaHQ's repository: the files the release package would hold."""

    def keep(rel: str, data: bytes) -> bool:
        if rel.split("/", 1)[0] not in pkg.folders:
            return False
        try:
            docs = [d for d in yaml.safe_load_all(data) if isinstance(d, dict)]
        except yaml.YAMLError:
            return True  # installed, and reported as not loadable like any broken rule
        return any(str(d.get("status", "")).lower() in pkg.statuses and str(d.get("level", "")).lower() in pkg.levels
                   for d in docs) or any("correlation" in d for d in docs)

    return keep


@dataclass
class Release:
    url: str
    version: str | None  # the release tag, where the host tells it
    sha256: str | None  # the digest the host publishes for the asset


def github_release(url: str, api: str = DEFAULT_API) -> Release:
    """The tag and the asset's published SHA-256 of a release download URL shaped like GitHub's
    (``/OWNER/REPO/releases/latest/download/ASSET``), from the release API, which carries a ``digest`` per asset.
    Where the API doesn't answer, both are None and the checksum published beside the file is used instead."""
    m = _RELEASE.match(url)
    if m is None:
        return Release(url, None, None)
    owner, repo, tag, asset = m.groups()
    import httpx

    endpoint = f"{api.rstrip('/')}/repos/{owner}/{repo}/releases/" + (f"tags/{tag}" if tag else "latest")
    try:
        r = httpx.get(endpoint, timeout=30, follow_redirects=True, headers={"Accept": "application/vnd.github+json"})
        body = r.json() if r.status_code == 200 and len(r.content) <= MAX_API_BODY else {}
    except (httpx.HTTPError, ValueError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    assets = body.get("assets") if isinstance(body.get("assets"), list) else []
    digest = next((a.get("digest") for a in assets if isinstance(a, dict) and a.get("name") == asset), None)
    sha = digest.split(":", 1)[1].lower() if isinstance(digest, str) and digest.startswith("sha256:") else None
    return Release(url, str(body.get("tag_name") or "") or None, sha)


def rule_index(root: Path) -> dict[str, tuple[str, str]]:
    """rule id (or correlation name) -> (title, a hash of its content, blind to formatting and comments)."""
    out: dict[str, tuple[str, str]] = {}
    for f in sorted(root.rglob("*.y*ml")):
        try:
            docs = [d for d in yaml.safe_load_all(f.read_bytes()) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue
        for d in docs:
            rid = d.get("id") or d.get("name")
            if rid:
                body = {k: v for k, v in d.items() if k not in ("modified", "date")}
                h = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
                out[str(rid)] = (str(d.get("title") or rid), h)
    return out


@dataclass
class Changes:
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def tried(self) -> set[str]:
        return set(self.new) | set(self.changed)


def compare(old: dict[str, tuple[str, str]], new: dict[str, tuple[str, str]]) -> Changes:
    c = Changes(sorted(set(new) - set(old)), sorted(set(old) - set(new)))
    for rid in sorted(set(new) & set(old)):
        if new[rid][1] != old[rid][1]:
            c.changed.append(rid)
        else:
            c.unchanged += 1
    return c


def dry_run(match: Callable[[dict[str, Any]], Iterable[Any]], flush: Callable[[], Iterable[Any]],
            events: Iterable[dict[str, Any]], progress: Callable[[int], None] | None = None) -> tuple[Counter[str], int]:
    """Detections per rule id, and the events read, of an engine run over stored events."""
    counts: Counter[str] = Counter()
    n = 0
    for ev in events:
        n += 1
        for d in match(ev):
            counts[d.rule_id] += 1
        if progress is not None and n % 10_000 == 0:
            progress(n)
    for d in flush():
        counts[d.rule_id] += 1
    return counts, n
