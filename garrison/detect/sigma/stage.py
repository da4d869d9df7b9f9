"""The Sigma stage of the live pipeline: every normalised event against the active rules."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine

from garrison.config import Config
from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.cache import load_compiled
from garrison.detect.sigma.routing import load_routing
from garrison.detect.sigma.rulesets import active_paths, disabled_rules
from garrison.model.batch import Batch

log = logging.getLogger("garrison.detect.sigma")


class SigmaStage:
    def __init__(self, engine: SigmaEngine):
        self.engine = engine

    def __call__(self, batch: Batch) -> None:
        out = batch.detections
        match = self.engine.match
        for ev in batch.events:
            for d in match(ev, ev.get("@timestamp") or 0):
                d.source_file = ev.get("log.file.path")
                d.source_record = ev.get("log.file.line")
                out.append(d)


def build_sigma_stage(config: Config, db: Engine) -> SigmaStage | None:
    sig = config.detect.sigma
    if not sig.enabled:
        return None
    return SigmaStage(compiled_engine(config, active_paths(db, config), disabled_rules(db)))


def compiled_engine(config: Config, paths: list[Path] | list[str], disabled: set[str] | None = None) -> SigmaEngine:
    """The engine for the rules under ``paths``, through the compiled-rule cache in the data directory."""
    sig = config.detect.sigma
    cr = load_compiled(paths, disabled, sig.placeholders, config.data_path / "cache")
    for f, reason in cr.errors:
        log.warning("rule not loaded: %s: %s", f, reason)
    engine = SigmaEngine([], cr.correlations, routing=load_routing(sig.logsources) if sig.logsources else None,
                         placeholders=sig.placeholders, max_groups=sig.max_groups, plans=cr.plans)
    engine.errors = cr.errors
    log.info("sigma: %d rules and %d correlations active from %d files%s (%d not loadable, %d for sources Garrison "
             "doesn't collect)", engine.report.loaded, len(cr.correlations), cr.files,
             " (compiled-rule cache)" if cr.cached else "", len(cr.errors) + len(engine.report.failed),
             len(engine.report.unrouted))
    return engine
