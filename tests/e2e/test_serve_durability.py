"""End to end: garrison serve ingests over HTTP, HEC and syslog; SIGKILL loses no acknowledged event."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from garrison.testing import free_port, wait_ready
from garrison.store import EventStore, open_state
from garrison.store.search import search


def _free_port() -> int:
    return free_port()


def _garrison(cfg: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), *args], capture_output=True,
                          text=True, check=True, **kw)


def _start(cfg: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "garrison", "--config", str(cfg), "serve"],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def _wait_http(port: int, timeout: float = 30) -> None:
    wait_ready(f"http://127.0.0.1:{port}", timeout)


@pytest.fixture
def server_cfg(tmp_path):
    http, syslog = _free_port(), _free_port()
    cfg = tmp_path / "garrison.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
                                   "ingest": {"http": f"127.0.0.1:{http}", "syslog_tcp": f"127.0.0.1:{syslog}",
                                              "syslog_udp": f"127.0.0.1:{syslog}"}}))
    token = _garrison(cfg, "tokens", "add", "test").stdout.strip()
    return cfg, http, syslog, token, tmp_path


def _markers(data_dir: Path) -> Counter[str]:
    store = EventStore(data_dir, open_state(data_dir))
    res = search(store, "marker:*", limit=None)
    return Counter(e["marker"] for e in res.events)


def test_sigkill_loses_no_acknowledged_event(server_cfg):
    cfg, http, syslog, token, tmp = server_cfg
    log = tmp / "serve.log"
    proc = _start(cfg, log)
    _wait_http(http)
    acked: list[str] = []
    tcp_sent: list[tuple[float, str]] = []
    stop = threading.Event()

    def http_sender() -> None:
        n = 0
        with httpx.Client(timeout=5) as c:
            while not stop.is_set():
                batch = [f"h-{n + i}" for i in range(50)]
                body = "\n".join(f'{{"marker": "{m}", "ts": "2026-11-28T10:00:00Z"}}' for m in batch)
                try:
                    r = c.post(f"http://127.0.0.1:{http}/api/v1/ingest", content=body,
                               headers={"Authorization": f"Bearer {token}"})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    acked.extend(batch)
                n += 50

    def tcp_sender() -> None:
        s = socket.create_connection(("127.0.0.1", syslog))
        n = 0
        try:
            while not stop.is_set():
                m = f"t-{n}"
                s.sendall(f"<13>1 2026-11-28T10:00:00Z host app - - - marker={m}\n".encode())
                tcp_sent.append((time.time(), m))
                n += 1
                time.sleep(0.001)
        except OSError:
            return

    threads = [threading.Thread(target=http_sender), threading.Thread(target=tcp_sender)]
    for t in threads:
        t.start()
    time.sleep(3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 500, log.read_text()[-2000:]

    proc = _start(cfg, log)  # restart: the WAL is replayed
    try:
        _wait_http(http)
        deadline = time.time() + 30
        while time.time() < deadline:
            found = _markers(tmp / "data")
            if all(found[m] for m in acked):
                break
            time.sleep(0.5)
        found = _markers(tmp / "data")
        missing = [m for m in acked if found[m] == 0]
        dupes = {m: n for m, n in found.items() if n > 1}
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
        assert not dupes, f"duplicates: {list(dupes.items())[:5]}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_syslog_tcp_udp_and_hec(server_cfg):
    cfg, http, syslog, token, tmp = server_cfg
    proc = _start(cfg, tmp / "serve.log")
    try:
        _wait_http(http)
        with socket.create_connection(("127.0.0.1", syslog)) as s:
            msg = b"<13>1 2026-11-28T10:00:00Z h app - - - marker=octet-1"
            s.sendall(str(len(msg)).encode() + b" " + msg + b"<13>Nov 28 10:00:00 h app: marker=newline-1\n")
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b"<13>Nov 28 10:00:00 h sshd[1]: Failed password for root from 203.0.113.5 port 22 ssh2", ("127.0.0.1", syslog))
        r = httpx.post(f"http://127.0.0.1:{http}/services/collector/event", headers={"Authorization": f"Splunk {token}"},
                       content='{"event": {"marker": "hec-1"}, "time": 1795860000}{"event": "<13>Nov 28 10:00:00 h app: marker=hec-2", "sourcetype": "syslog"}')
        assert r.json() == {"text": "Success", "code": 0}
        bad = httpx.post(f"http://127.0.0.1:{http}/services/collector/event", headers={"Authorization": "Splunk nope"}, content="{}")
        assert bad.status_code == 403 and bad.json()["code"] == 4
        raw = httpx.post(f"http://127.0.0.1:{http}/services/collector/raw?sourcetype=access_combined",
                         headers={"Authorization": f"Splunk {token}"},
                         content='203.0.113.8 - - [28/Nov/2026:10:00:00 +0000] "GET /.env HTTP/1.1" 404 12 "-" "curl/8"')
        assert raw.status_code == 200
        assert httpx.post(f"http://127.0.0.1:{http}/api/v1/ingest", content="{}").status_code == 401
        store = EventStore(tmp / "data", open_state(tmp / "data"))
        expected = ['"marker=octet-1"', '"marker=newline-1"',
                    "input.type:syslog-udp AND event.dataset:sshd AND source.ip:203.0.113.5",
                    "marker:hec-1 AND input.type:hec", '"marker=hec-2"', "url.path:/.env AND event.dataset:web.access"]
        deadline = time.time() + 30  # each arrives on its own path; wait until every one is stored
        counts: list[int] = []
        while time.time() < deadline:
            counts = [search(store, q, count_only=True).count for q in expected]
            if all(counts):
                break
            time.sleep(0.3)
        assert counts == [1] * len(expected), dict(zip(expected, counts))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_syslog_tls(tmp_path):
    """Syslog over TLS with a configured certificate (a self-signed one made here with openssl)."""
    import ssl

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    http, tls = _free_port(), _free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
                                   "ingest": {"http": f"127.0.0.1:{http}", "syslog_tcp": None, "syslog_udp": None,
                                              "syslog_tls": f"127.0.0.1:{tls}", "tls_cert": str(cert), "tls_key": str(key)}}))
    proc = _start(cfg, tmp_path / "serve.log")
    try:
        _wait_http(http)
        ctx = ssl.create_default_context(cafile=str(cert))
        with socket.create_connection(("127.0.0.1", tls)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"<13>Nov 28 10:00:00 h sshd[2]: Invalid user zed from 198.51.100.4 port 4242\n")
        store = EventStore(tmp_path / "data", open_state(tmp_path / "data"))
        deadline = time.time() + 20
        while time.time() < deadline and search(store, "", count_only=True).count < 1:
            time.sleep(0.3)
        assert search(store, "input.type:syslog-tls AND user.name:zed AND source.ip:198.51.100.4", count_only=True).count == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_streaming_detection_in_serve(tmp_path):
    """garrison serve runs the configured Sigma rules on every event and stores the detections."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ssh_root.yml").write_text("""
title: SSH login failure for root
id: 4b2f1c0e-1111-4a4a-8b8b-000000000001
logsource: {product: linux, service: sshd}
level: medium
tags: [attack.credential-access, attack.t1110]
detection:
  sel: {user.name: root, event.outcome: failure}
  condition: sel
""")
    http, syslog = _free_port(), _free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
                                   "detect": {"sigma": {"rule_dirs": [str(rules)]}},
                                   "ingest": {"http": f"127.0.0.1:{http}", "syslog_tcp": f"127.0.0.1:{syslog}",
                                              "syslog_udp": None}}))
    proc = _start(cfg, tmp_path / "serve.log")
    try:
        _wait_http(http)
        with socket.create_connection(("127.0.0.1", syslog)) as s:
            s.sendall(b"<13>Nov 28 10:00:00 web1 sshd[1]: Failed password for root from 203.0.113.5 port 22 ssh2\n"
                      b"<13>Nov 28 10:00:01 web1 sshd[1]: Failed password for alice from 203.0.113.5 port 22 ssh2\n")
        deadline = time.time() + 20
        rows = []
        while time.time() < deadline and not rows:
            time.sleep(0.3)
            out = subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "detections", "list",
                                  "--since", "all", "--json"], capture_output=True, text=True).stdout
            rows = [r for x in out.splitlines() if (r := json.loads(x))["rule_title"] == "SSH login failure for root"]
        (row,) = rows
        assert row["rule_title"] == "SSH login failure for root" and row["source_ip"] == "203.0.113.5"
        assert row["event_id"] is not None and row["user_name"] == "root"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
