"""Scaled out for real: NATS JetStream, PostgreSQL, one ingest node and two workers as separate processes.

200,000 events of a simulated council's day go in over HEC; a worker is killed (SIGKILL) halfway. Every
acknowledged event must be stored exactly once, and detections, incidents and bans must be those of one
embedded ``garrison serve`` fed the same requests.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import duckdb
import httpx
from sqlalchemy import func, select

from garrison.simulate.demo import write_demo_logs
from garrison.store import EventStore, open_state
from garrison.store import state as S
from garrison.testing.scale import as_live, deploy, hec_bodies, send

NOW = 1_780_000_000  # a fixed day, so that both runs see the same times


def _wait_stored(engine, n: int, timeout: float = 420) -> int:
    end = time.time() + timeout
    got = 0
    while time.time() < end:
        with engine.connect() as c:
            got = c.execute(select(func.coalesce(func.sum(S.commits.c.events), 0))).scalar()
        if got >= n:
            return got
        time.sleep(1)
    return got


def _summary(root, engine) -> dict:
    store = EventStore(root / "data", engine)
    with engine.connect() as c:
        dets = Counter((r.rule_id, r.source_ip) for r in c.execute(select(S.detections.c.rule_id, S.detections.c.source_ip)))
        incidents = sorted(r.title for r in c.execute(select(S.incidents.c.title)))
        bans = sorted(r.value for r in c.execute(select(S.decisions.c.value)))
        quarantined = c.execute(select(func.count()).select_from(S.quarantine)).scalar()
    stored = Counter(r[0] for r in duckdb.connect().execute('SELECT "event.original" FROM read_parquet(?)',
                                                            [store.files()]).fetchall())
    return {"detections": dets, "incidents": incidents, "bans": bans, "stored": stored, "quarantined": quarantined}


def test_200k_events_through_nats_and_two_workers_one_killed(tmp_path, postgres, nats_server):
    logs = write_demo_logs(tmp_path / "logs", seed=5, now=NOW, scale=10)
    bodies = hec_bodies(as_live(logs, NOW * 1_000_000))
    total = sum(len(lines) for _, lines in bodies)
    assert total >= 200_000

    # one machine, embedded: the reference
    emb = deploy(tmp_path / "embedded", None, None, 0)
    try:
        acked_emb = send(emb.nodes[0].url, emb.token, bodies)
        emb_engine = open_state(tmp_path / "embedded" / "data")
        assert _wait_stored(emb_engine, len(acked_emb)) == len(acked_emb)
        reference = _summary(tmp_path / "embedded", emb_engine)
    finally:
        emb.stop()

    # scaled out: ingest -> JetStream -> two workers -> PostgreSQL + shared Parquet
    stream = f"T{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(stream.lower())
    d = deploy(tmp_path / "scaled", url, nats_server.url, 2, bus={"stream": stream, "subject": f"g.{stream}"})
    killed = threading.Event()
    try:
        ingest, victim, survivor = d.by_role("ingest")[0], d.by_role("worker")[0], d.by_role("worker")[1]

        def halfway(i: int) -> None:
            if i == len(bodies) // 2 and not killed.is_set():
                victim.kill()
                killed.set()

        acked = send(ingest.url, d.token, bodies, on_sent=halfway)
        assert killed.is_set()
        engine = open_state(url)
        assert _wait_stored(engine, len(acked)) == len(acked), (tmp_path / "scaled").glob("*.log")
        time.sleep(2)  # anything stored twice would show now
        scaled = _summary(tmp_path / "scaled", engine)
        health = httpx.get(survivor.url + "/healthz", timeout=10).json()
    finally:
        d.stop()

    assert len(acked) == len(acked_emb) == total
    assert scaled["stored"] == Counter(acked)  # every acknowledged event, exactly once
    assert scaled["quarantined"] == reference["quarantined"] == 0
    assert health["status"] == "ok" and health["components"]["processor"]["owned_partitions"] == list(range(8))
    assert scaled["detections"] == reference["detections"]
    assert scaled["incidents"] == reference["incidents"]
    assert scaled["bans"] == reference["bans"]
