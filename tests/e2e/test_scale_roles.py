"""The roles' edges: a role without a bus is refused with what to do; an ingest node whose JetStream is gone
answers 503 (nothing acknowledged) and says so on /healthz, and takes records again when it is back."""

from __future__ import annotations

import time

import httpx
from click.testing import CliRunner

from garrison.cli.main import cli
from garrison.testing.scale import deploy
from garrison.testing.servers import start_nats


def test_a_role_needs_a_bus(tmp_path):
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "serve", "--role", "worker"])
    assert r.exit_code != 0 and "bus.url" in r.output


def test_ingest_refuses_when_jetstream_is_gone_and_recovers(tmp_path, postgres):
    nats = start_nats()
    port = nats.port
    d = deploy(tmp_path, postgres.create_database("roles"), nats.url, 0, bus={"publish_timeout_seconds": 2})
    try:
        url, auth = d.nodes[0].url, {"Authorization": f"Splunk {d.token}"}
        body = b'{"event": "Dec  6 10:00:00 h sshd[1]: Failed password for root from 203.0.113.9 port 22 ssh2"}'
        assert httpx.post(f"{url}/services/collector/event", content=body, headers=auth).status_code == 200
        nats.proc.kill()
        nats.proc.wait(10)
        r = httpx.post(f"{url}/services/collector/event", content=body, headers=auth, timeout=60)
        assert r.status_code == 503 and r.json()["code"] == 9  # HEC's "busy, send again"
        h = httpx.get(f"{url}/healthz").json()
        assert h["status"] == "failing" and any("bus" in p for p in h["problems"])
        # the same server, back on its port with its stored stream: the node reconnects by itself
        from garrison.testing.servers import Nats
        import subprocess
        import shutil

        proc = subprocess.Popen([shutil.which("nats-server") or "/usr/sbin/nats-server", "-a", "127.0.0.1", "-p",
                                 str(port), "-js", "-sd", str(nats.root / "js")], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        nats = Nats(nats.root, port, proc)
        for _ in range(60):
            if httpx.post(f"{url}/services/collector/event", content=body, headers=auth, timeout=30).status_code == 200:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the ingest node did not take records again after JetStream came back")
        h = httpx.get(f"{url}/healthz").json()
        assert h["status"] == "ok", h["problems"]
    finally:
        d.stop()
        nats.stop()
