"""A simulated day of a 5,000-staff council sent to a running ``garrison serve`` over HTTP, then measured
against its ground truth: every planted serious attack (five synthesised, one real OTRF recording found
by SigmaHQ's Windows rules from ``../shared/data/sigma``) raises an incident, with few incidents in all."""

from __future__ import annotations

import signal
import time

import yaml
from sqlalchemy import func, select

from garrison.evaluate.truth import evaluate
from garrison.simulate.generate import simulate
from garrison.simulate.replay import replay
from garrison.store import open_state
from garrison.store import state as S
from tests.e2e.test_serve_durability import _free_port, _garrison, _start, _wait_http


def _stored(engine) -> int:
    with engine.connect() as c:
        events = c.execute(select(func.coalesce(func.sum(S.daily_counts.c.n), 0))).scalar()
        rejects = c.execute(select(func.count()).select_from(S.quarantine)).scalar()
    return int(events) + int(rejects)


def test_a_simulated_day_through_serve(tmp_path, data):
    sim = simulate(tmp_path / "logs", days=1, seed=7, recordings=data / "otrf/datasets/atomic/windows")
    http = _free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.5},
        "enrich": {"inventory": str(sim.out / "inventory.yaml")},
        "detect": {"sigma": {"rule_dirs": [str(data / "sigma/rules/windows")]}},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None}}))
    token = _garrison(cfg, "tokens", "add", "replay").stdout.split()[-1]
    proc = _start(cfg, tmp_path / "serve.log")
    try:
        _wait_http(http, timeout=120)
        sent = replay(sim.out, f"http://127.0.0.1:{http}", token)
        assert sent == sim.events
        engine = open_state(tmp_path / "data")
        deadline = time.time() + 300
        while _stored(engine) < sent and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert _stored(engine) == sent, (tmp_path / "serve.log").read_text()[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    ev = evaluate(engine, sim.out / "truth.json")
    (day,) = ev.funnel
    assert day.events == sim.events and day.attempts >= 30_000 and day.blocked > 0
    assert ev.recall == 1.0, [a for a in ev.attacks if not a.covered]
    assert {a.kind for a in ev.attacks} >= {"recording"}
    assert day.incidents <= 15 and not ev.false_alarms
    assert ev.median_seconds is not None and ev.median_seconds <= 60  # event time, not wall-clock time
    out = _garrison(cfg, "evaluate", "--truth", str(sim.out / "truth.json")).stdout
    assert "recall 100%" in out
