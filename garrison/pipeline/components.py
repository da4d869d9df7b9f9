"""Stages are components: a name in ``STAGES``, a frozen config section, and ``build(config, deps) -> Stage``.

The order they run in is data (``pipeline.stages`` in the configuration); the default is today's order:

    geo -> inventory -> sigma -> web -> travel -> beacon -> mailbox -> intel -> suppress -> respond -> triage

Enrichers are stages like any other. A builder returns None when its configuration turns it off. New
stages (the cloud connectors' detectors, the cluster's sightings) register here with ``@stage``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine

from garrison.config import Config
from garrison.errors import ConfigError
from garrison.model import RawRecord
from garrison.model.batch import Batch
from garrison.model.inventory import Inventory, load_inventory

log = logging.getLogger("garrison.pipeline")


class Stage(Protocol):
    """Reads a batch's events and adds what it finds (detections, decisions, commit work)."""

    def __call__(self, batch: Batch) -> None: ...


class Sink(Protocol):
    """Takes raw records and keeps them (the WAL, or a test's memory); returns an offset or a count."""

    def __call__(self, records: list[RawRecord]) -> int: ...


@dataclass
class Deps:
    """What stages share at run time: built once per pipeline, never part of a config."""

    engine: Engine | None
    inventory: Inventory
    notifier: Any = None
    assets: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[Config, Deps], "Stage | None"]
STAGES: dict[str, Builder] = {}
ENRICH = ("geo", "inventory")


def stage(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        STAGES[name] = fn
        return fn
    return register


def _named(fn: Stage, name: str) -> Stage:
    try:
        fn.name = name  # type: ignore[attr-defined]  # what health and the quarantine call it
    except AttributeError:
        pass
    return fn


def build_stages(config: Config, deps: Deps, names: list[str] | tuple[str, ...] | None = None) -> list[Stage]:
    """The stages named in ``pipeline.stages`` (or ``names``), built in that order."""
    out = []
    for name in names if names is not None else config.pipeline.stages:
        builder = STAGES.get(name)
        if builder is None:
            raise ConfigError(f"pipeline.stages: unknown stage {name!r}; known: {', '.join(STAGES)}")
        built = builder(config, deps)
        if built is not None:
            out.append(_named(built, name))
    return out


def make_deps(config: Config, engine: Engine | None, notifier: Any = None) -> Deps:
    from garrison.enrich.assets import AssetMap

    return Deps(engine=engine, inventory=load_inventory(config.enrich.inventory), notifier=notifier, assets=AssetMap())


# -- exactly once -------------------------------------------------------------------------------
@stage("once")
def _once(config: Config, deps: Deps) -> Stage | None:
    return OnceStage(deps.engine) if deps.engine is not None else None


class OnceStage:
    """Pulled records already stored (an overlap window re-read, a page fetched again after a crash) are
    dropped before detection and counted; the new ones' ids are saved in the commit that stores them."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.duplicates = 0

    def __call__(self, batch: Any) -> None:
        from garrison.store.once import remember, seen

        by_stream: dict[str, list[str]] = {}
        for ev in batch.events:
            if "garrison.record_id" in ev:
                by_stream.setdefault(ev["garrison.stream"], []).append(ev["garrison.record_id"])
        if not by_stream:
            return
        old = {(s, r) for s, ids in by_stream.items() for r in seen(self.engine, s, ids)}
        kept, new = [], []
        for ev in batch.events:
            key = (ev.get("garrison.stream"), ev.get("garrison.record_id"))
            if key[1] is None:
                kept.append(ev)
            elif key in old:
                self.duplicates += 1
            else:
                old.add(key)  # a second copy inside the same batch is a duplicate too
                new.append(key)
                kept.append(ev)
        batch.events[:] = kept
        batch.in_commit.append(lambda c: remember(c, new))


# -- enrich ---------------------------------------------------------------------------------------
@stage("geo")
def _geo(config: Config, deps: Deps) -> Stage | None:
    from garrison.enrich import GeoLookup

    if not (config.enrich.geoip or config.enrich.maxmind_country):
        return None
    geo = GeoLookup(config.enrich)

    def enrich_geo(batch: Batch) -> None:
        for ev in batch.events:
            geo.enrich(ev)
    return enrich_geo


@stage("inventory")
def _inventory(config: Config, deps: Deps) -> Stage | None:
    inv, assets = deps.inventory, deps.assets
    if not (inv.own or inv.partners or inv.hosts or inv.users):
        return None

    def enrich_inventory(batch: Batch) -> None:
        for ev in batch.events:
            inv.enrich(ev)
            assets.enrich(ev)
    return enrich_inventory


# -- detect ---------------------------------------------------------------------------------------
@stage("sigma")
def _sigma(config: Config, deps: Deps) -> Stage | None:
    from garrison.detect.sigma.stage import build_sigma_stage

    if deps.engine is None:
        raise ConfigError("the sigma stage needs the state database (installed rule sets, disabled rules)")
    return build_sigma_stage(config, deps.engine)


@stage("web")
def _web(config: Config, deps: Deps) -> Stage:
    from garrison.detect.detectors.web import web_attack_stage

    return web_attack_stage


@stage("travel")
def _travel(config: Config, deps: Deps) -> Stage | None:
    from garrison.detect.detectors.travel import TravelStage

    t = config.detect.travel
    return TravelStage(t.speed_kmh, t.min_km, t.no_coords_hours, t.learn, t.max_users) if t.enabled else None


@stage("beacon")
def _beacon(config: Config, deps: Deps) -> Stage | None:
    from garrison.detect.detectors.beacon import BeaconStage

    b = config.detect.beacon
    return BeaconStage(b.min_count, b.keep, b.min_interval_s, b.max_interval_s, b.max_jitter, b.quiet_hours,
                       b.max_pairs) if b.enabled else None


@stage("mailbox")
def _mailbox(config: Config, deps: Deps) -> Stage:
    from garrison.detect.detectors.mailbox import MailboxStage

    return MailboxStage(tuple(config.enrich.own_domains))


@stage("phish")
def _phish(config: Config, deps: Deps) -> Stage | None:
    from garrison.detect.detectors import phish, phish_model

    m = config.detect.mail
    if not m.enabled:
        return None
    staff = {str(f["display_name"]): name for name, f in deps.inventory.users.items() if f.get("display_name")}
    rules = phish.Rules.load(tuple(config.enrich.own_domains), tuple(m.partner_domains), staff)
    engine = deps.engine
    if engine is None:  # analysis only (garrison mail analyze): nothing stored to compare with or write to
        return phish.PhishStage(rules, phish_model.load(m.model))
    from garrison.store import EventStore
    from garrison.triage.campaign import newly_seen

    # live: a sender's domain new to our mail logs is a signal; a reported phish's indicators join the intel list
    return phish.PhishStage(rules, phish_model.load(m.model), newly_seen(lambda: EventStore(config.data_path, engine), m.new_domain_days),
                            data_dir=config.data_dir, engine=engine)


# Microsoft 365's Report button writes a submission to the unified audit log (Defender for Office 365)
REPORT_OPERATIONS = frozenset(("usersubmission", "userreportedmessage", "reportsubmission"))


@stage("simulations")
def _simulations(config: Config, deps: Deps) -> Stage | None:
    """A report of one of our phishing simulations made with Microsoft 365's Report button marks it reported."""
    if deps.engine is None:
        return None
    domain = config.awareness.from_domain.lower()

    def reported(batch: Batch) -> None:
        import functools

        from garrison.store.state_awareness import mark_reported_by

        def _mark(c: Any, who: str, at: int) -> None:
            mark_reported_by(c, who, at)

        for ev in batch.events:
            sender = str(ev.get("email.from.address") or "").lower()
            if str(ev.get("event.action") or "").lower() in REPORT_OPERATIONS and sender.endswith("@" + domain) \
                    and ev.get("user.name") and ev.get("@timestamp"):
                batch.in_commit.append(functools.partial(_mark, who=str(ev["user.name"]), at=int(ev["@timestamp"])))
    return reported


@stage("intel")
def _intel(config: Config, deps: Deps) -> Stage | None:
    from pathlib import Path

    from garrison.store import indicators

    # what reported phishing and `garrison mail act --block` write: watched, so a new indicator counts within seconds
    reported = Path(config.data_dir) / indicators.FILE
    feeds = Path(config.data_dir) / "intel" / "feeds"  # neighbours' MISP feeds (garrison share import)
    return IntelReloader([*config.enrich.intel, str(reported), str(feeds)])


class IntelReloader:
    """The intel stage over its lists, rebuilt when one of the files changes (checked every ``every`` seconds)."""

    def __init__(self, paths: list[str], every: float = 5.0):
        self.paths, self.every = paths, every
        self.stage: Any = None
        self.seen: tuple[tuple[str, float], ...] | None = None
        self.checked = 0.0

    def _stamp(self) -> tuple[tuple[str, float], ...]:
        import os
        from pathlib import Path

        out = []
        for p in self.paths:
            try:
                if os.path.isdir(p):  # a folder of lists: each file's change counts
                    out += [(str(f), f.stat().st_mtime) for f in sorted(Path(p).rglob("*"))
                            if f.is_file() and not f.name.startswith(".")]
                else:
                    out.append((p, os.stat(p).st_mtime))
            except OSError:
                pass
        return tuple(out)

    def __call__(self, batch: Batch) -> None:
        import time

        now = time.monotonic()
        if now - self.checked >= self.every:
            self.checked = now
            stamp = self._stamp()
            if stamp != self.seen:
                from garrison.detect.detectors.intel import IntelStage
                from garrison.detect.intel import load_intel

                self.seen = stamp
                index = load_intel([p for p, _ in stamp])
                for err in index.errors:
                    log.warning("indicator not loaded: %s", err)
                self.stage = IntelStage(index) if stamp else None
        if self.stage is not None:
            self.stage(batch)


# -- triage and respond ----------------------------------------------------------------------------
@stage("suppress")
def _suppress(config: Config, deps: Deps) -> Stage | None:
    from garrison.triage.suppress import SuppressStage

    return SuppressStage(deps.engine) if deps.engine is not None else None


@stage("respond")
def _respond(config: Config, deps: Deps) -> Stage | None:
    from garrison.respond.policy import RespondStage

    if not config.respond.enabled or deps.engine is None:
        return None
    return RespondStage(config, deps.engine, deps.inventory, notice=deps.notifier)


@stage("triage")
def _triage(config: Config, deps: Deps) -> Stage:
    from garrison.triage.incidents import TriageStage, from_settings

    model, triage = from_settings(config.triage)
    return TriageStage(model, triage, announce=deps.notifier)  # new high and critical incidents are announced
