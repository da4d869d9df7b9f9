"""The compiled-rule cache: rule plans, keyed by the rule files' contents and the versions that lowered them.

pySigma parses about 2,400 SigmaHQ Windows rules in 8 s and lowering them takes 3 s more; a second ``hunt`` or
``serve`` with the same files reads the plans back with ``marshal`` instead (plain values only, so reading a
cache file runs no code). Any change to a rule file, the placeholders, the disabled rules, Garrison or pySigma
gives a new key. Correlation rules are few and are parsed again from their own files.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import orjson
from sigma.correlations import SigmaCorrelationRule

from garrison import __version__
from garrison.detect.sigma.load import load_rules, rule_files
from garrison.detect.sigma.plan import RulePlan, plan_rule

log = logging.getLogger("garrison.detect.sigma")
FORMAT = 1
KEEP = 8  # cache files kept per folder, newest first
_LOWERING = hashlib.sha256(Path(plan_rule.__code__.co_filename).read_bytes()).digest()


@dataclass
class CompiledRules:
    plans: list[RulePlan]
    correlations: list[SigmaCorrelationRule]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    files: int = 0
    cached: bool = False  # read from the cache


def cache_key(files: list[Path], disabled: set[str], placeholders: dict[str, list[str]]) -> str:
    h = hashlib.sha256(_LOWERING)  # a change to how rules are lowered, even between releases, is a new key
    h.update(orjson.dumps([FORMAT, __version__, version("pysigma"), sorted(disabled),
                           sorted((k, list(v)) for k, v in placeholders.items())]))
    for f in files:
        h.update(str(f).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def load_compiled(paths: Iterable[str | Path], disabled: set[str] | None = None,
                  placeholders: dict[str, list[str]] | None = None, cache_dir: Path | None = None) -> CompiledRules:
    """Rule plans for every rule under ``paths``: from the cache when the files are unchanged, else loaded,
    lowered and cached."""
    paths = list(paths)
    disabled, placeholders = disabled or set(), placeholders or {}
    files = rule_files(paths)
    key = cache_key(files, disabled, placeholders)
    target = cache_dir / f"rules-{key[:40]}.marshal" if cache_dir is not None else None
    if target is not None and target.is_file():
        try:
            doc = marshal.loads(target.read_bytes())
            corr = load_rules(doc["correlation_files"], disabled).correlations if doc["correlation_files"] else []
            return CompiledRules([RulePlan.from_tuple(t) for t in doc["plans"]], corr, list(doc["errors"]),
                                 doc["files"], cached=True)
        except (OSError, ValueError, EOFError, TypeError, KeyError) as e:
            log.warning("rule cache %s unreadable (%s); loading the rules again", target, e)
    rs = load_rules(paths, disabled)
    plans = [plan_rule(r, placeholders) for r in rs.rules]
    out = CompiledRules(plans, rs.correlations, rs.errors, rs.files)
    if target is not None:
        _write(target, {"plans": [p.to_tuple() for p in plans], "errors": [tuple(e) for e in rs.errors],
                        "files": rs.files,
                        "correlation_files": sorted({str(c.source.path) for c in rs.correlations
                                                     if c.source and c.source.path})})
    return out


def _write(target: Path, doc: dict[str, object]) -> None:
    """Write beside, then rename: a reader sees the whole file or none. A cache that can't be written is
    only slower next time."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps(doc))
        os.replace(tmp, target)
        old = sorted(target.parent.glob("rules-*.marshal"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]
        for p in old:
            p.unlink(missing_ok=True)
    except OSError as e:
        log.warning("rule cache not written to %s: %s", target, e)
