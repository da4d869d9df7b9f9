"""Automatic decisions from detections: policies, safety, escalation, circuit breaker, dry run, blocked counting."""

from __future__ import annotations

import time

from sigma.collection import SigmaCollection
from sqlalchemy import select

from garrison.config import load_config
from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.stage import SigmaStage
from garrison.model import RawRecord
from garrison.pipeline import build_pipeline
from garrison.respond.decisions import list_decisions
from garrison.respond.policy import RespondStage
from garrison.store import EventStore, open_state
from garrison.store import state as S

RULE = """
title: SSH failed password
id: 2f0c4b8e-0000-4000-8000-000000000001
logsource: {product: linux, service: sshd}
level: high
detection: {sel: {event.action: ssh_login, event.outcome: failure}, condition: sel}
"""


def _setup(tmp_path, **respond):
    tmp_path.mkdir(parents=True, exist_ok=True)
    inv = tmp_path / "inventory.yaml"
    inv.write_text("own_ranges: [81.2.69.160/28]\npartner_ranges: [198.51.100.0/24]\n"
                   "critical_hosts: [{name: mail, ip: 203.0.113.200, criticality: 5}]\n")
    cfg = load_config(None, data_dir=str(tmp_path / "data"), enrich={"inventory": str(inv), "geoip": False},
                      respond=respond or None)
    engine = open_state(tmp_path / "data")
    store = EventStore(tmp_path / "data", engine)
    pipe = build_pipeline(cfg)
    notices = []
    pipe.stages += [SigmaStage(SigmaEngine(SigmaCollection.from_yaml(RULE).rules)),
                    RespondStage(cfg, engine, pipe.inventory, notice=lambda *a: notices.append(a))]
    return cfg, engine, store, pipe, notices


def _fail(ip: str, n: int = 0, later: float = 0.0) -> RawRecord:
    stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(time.time() + later))
    return RawRecord(text=f"{stamp} web01 sshd[{100 + n}]: Failed password for root from {ip} port {4000 + n} ssh2",
                     source="test", position=n + 1)


def _run(pipe, store, records):
    b = pipe.process(records)
    store.commit(b.events, b.rejects, detections=b.detections, decisions=b.decisions)
    return b


def test_bans_attacker_never_own_partner_or_critical(tmp_path):
    _, engine, store, pipe, _ = _setup(tmp_path)
    _run(pipe, store, [_fail("203.0.113.9"), _fail("81.2.69.161", 1), _fail("198.51.100.4", 2),
                       _fail("203.0.113.200", 3), _fail("10.0.0.7", 4), _fail("127.0.0.1", 5)])
    assert [d.value for d in list_decisions(engine)] == ["203.0.113.9"]
    (d,) = list_decisions(engine)
    assert d.origin == "rule" and d.reason == "SSH failed password" and d.event_id is not None
    assert 3.9 * 3600e6 < d.until - d.created_at <= 4 * 3600e6


def test_repeat_offender_escalates_and_blocked_attempts_are_linked(tmp_path):
    _, engine, store, pipe, _ = _setup(tmp_path)
    _run(pipe, store, [_fail("203.0.113.9")])
    first = list_decisions(engine)[0]
    _run(pipe, store, [_fail("203.0.113.9", 1, later=2)])  # a ban is in force: this attempt was stopped by it
    with engine.connect() as c:
        rows = c.execute(select(S.detections.c.decision_id).order_by(S.detections.c.id)).all()
    assert [r[0] for r in rows] == [None, first.id]
    from garrison.respond.decisions import delete_decisions

    delete_decisions(engine, "203.0.113.9")
    _run(pipe, store, [_fail("203.0.113.9", 2)])
    second = list_decisions(engine)[0]
    assert second.offence == 2
    assert abs((second.until - second.created_at) - 2 * (first.until - first.created_at)) < 2e6


def test_circuit_breaker_and_dry_run(tmp_path):
    _, engine, store, pipe, notices = _setup(tmp_path, max_auto_bans_per_minute=3)
    _run(pipe, store, [_fail(f"203.0.113.{i}", i) for i in range(1, 8)])
    ds = list_decisions(engine, active_only=False)
    assert sum(not d.simulated for d in ds) == 3 and sum(d.simulated for d in ds) == 4
    assert len(notices) == 1 and "circuit breaker" in notices[0][1]
    _, engine2, store2, pipe2, _ = _setup(tmp_path / "dry", dry_run=True)
    _run(pipe2, store2, [_fail("203.0.113.9")])
    (d,) = list_decisions(engine2, active_only=False)
    assert d.simulated
