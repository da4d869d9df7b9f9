"""Issue 19 end to end: ``garrison serve`` pulls a simulated day of Entra ID sign-ins and unified audit records
from the local stand-in, is killed mid-way, restarts, and has stored every record exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import orjson
import yaml

from garrison.simulate.generate import simulate
from garrison.store import EventStore, open_state
from garrison.store.search import iter_events
from garrison.testing.microsoft import StandIn, serve
from tests.e2e.test_serve_durability import _free_port, _start, _wait_http
from tests.e2e.test_simulate_serve import _stored


def test_pulled_records_survive_a_kill_exactly_once(tmp_path):
    sim = simulate(tmp_path / "logs", days=1, seed=9, staff=1500, scale=0.5)
    folder = sim.out / sim.days[0]
    signins = [orjson.loads(x) for x in (folder / "entra-signin.json").read_bytes().splitlines() if x.strip()]
    audit = [orjson.loads(x) for x in (folder / "m365-audit.json").read_bytes().splitlines() if x.strip()]
    s = StandIn(throttle_every=5, retry_after=1, page_size=100)
    server, ca = serve(s, tmp_path / "tls")
    s.add_signins(signins)
    s.add_unified_audit(audit, created_us=int((time.time() - 5) * 1e6))
    total = len(signins) + len(audit)
    http = _free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
        "enrich": {"inventory": str(sim.out / "inventory.yaml")},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None},
        "microsoft": s.connector_config(tmp_path / "secret", ca, graph=["signIns", "directoryAudits"], poll_seconds=1,
                                        first_hours=72, page_size=100)}))
    engine = open_state(tmp_path / "data")
    log = tmp_path / "serve.log"
    proc = _start(cfg, log)
    try:
        _wait_http(http, timeout=60)
        deadline = time.time() + 120
        while _stored(engine) == 0 and time.time() < deadline:
            time.sleep(0.2)
        stored_before_kill = _stored(engine)
        assert 0 < stored_before_kill < total, "the kill must land mid-way"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc = _start(cfg, log)
        _wait_http(http, timeout=60)
        deadline = time.time() + 180
        while _stored(engine) < total and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert _stored(engine) == total, log.read_text()[-3000:]
        time.sleep(3)  # more rounds: the overlap re-read stores nothing again
        assert _stored(engine) == total
        ids = [e["garrison.record_id"] for e in iter_events(EventStore(tmp_path / "data", engine), 0, 2**62)]
        assert len(ids) == len(set(ids)) == total
        assert s.throttled > 0  # throttled, and nothing lost
        status = json.loads(subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "connectors",
                                            "status", "--json"], capture_output=True, text=True, check=True,
                                           env=os.environ).stdout)
        streams = {x["stream"]: x for x in status["streams"]}
        assert streams["graph/signIns"]["last_error"] is None and streams["graph/signIns"]["lag_seconds"] < 120
        assert status["throttled"] > 0
        table = subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "connectors", "status"],
                               capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "80"}).stdout
        assert "office365/Audit.SharePoint" in table and max(len(x) for x in table.splitlines()) <= 80
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        server.should_exit = True
