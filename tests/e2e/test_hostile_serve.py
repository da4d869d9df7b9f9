"""Issue 15: hostile records over every ingest path of a live ``garrison serve`` never blind it.

Each class of record that used to stop processing for good is sent over NDJSON, HEC /event, HEC /raw,
syslog UDP and syslog TCP, each followed by ordinary records. Every ordinary record must be stored, every
hostile one quarantined with a reason, no answer may be a 5xx, and /healthz must stay truthful.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml
from sqlalchemy import select

from garrison.store import EventStore, open_state
from garrison.store import state as S
from garrison.store.search import search
from garrison.testing import free_port, wait_ready
from tests.pipeline.test_guard import HOSTILE

OK = "Nov 28 10:00:0{s} web1 sshd[42]: Failed password for okuser{n} from 203.0.113.7 port 4242 ssh2"


def _serve(cfg: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "garrison", "--config", str(cfg), "serve"],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def _setup(tmp_path: Path, **ingest) -> tuple[Path, int, int, str]:
    http, syslog = free_port(), free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
                                   "ingest": {"http": f"127.0.0.1:{http}", "syslog_tcp": f"127.0.0.1:{syslog}",
                                              "syslog_udp": f"127.0.0.1:{syslog}", **ingest}}))
    token = subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "tokens", "add", "t"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return cfg, http, syslog, token


def _ready_or_exited(proc: subprocess.Popen, url: str, timeout: float = 60) -> bool:
    """True once the server answers; False as soon as it exits (a crash during replay)."""
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code in (200, 503):
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _quarantine(data: Path) -> list[dict]:
    with open_state(data).connect() as c:
        return [dict(r) for r in c.execute(select(S.quarantine)).mappings()]


def test_hostile_records_on_every_path_are_quarantined_and_ordinary_ones_stored(tmp_path):
    cfg, http, syslog, token = _setup(tmp_path)
    proc = _serve(cfg, tmp_path / "serve.log")
    statuses: list[int] = []
    ok_sent = 0
    try:
        wait_ready(f"http://127.0.0.1:{http}", 60)
        base = f"http://127.0.0.1:{http}"
        nd = {"Authorization": f"Bearer {token}"}
        hec = {"Authorization": f"Splunk {token}"}
        with httpx.Client(timeout=30) as c:
            for name, text in HOSTILE.items():
                lines = [text, OK.format(s=1, n=ok_sent)]
                ok_sent += 1
                statuses.append(c.post(f"{base}/api/v1/ingest", content="\n".join(lines), headers=nd).status_code)
                statuses.append(c.post(f"{base}/services/collector/raw", content="\n".join(
                    [text, OK.format(s=2, n=ok_sent)]), headers=hec).status_code)
                ok_sent += 1
                event = json.loads(text) if text.startswith("{") and name != "JSON nested 1000 deep" else text
                body = json.dumps({"event": event}) + json.dumps({"event": OK.format(s=3, n=ok_sent), "sourcetype": "syslog"})
                r = c.post(f"{base}/services/collector/event", content=body, headers=hec)
                statuses.append(r.status_code)
                ok_sent += 1
            # HEC's own hostile shapes: a time of 1e300, a body nested past the decoder, a huge event
            body = json.dumps({"time": 1e300, "event": "x"}) + json.dumps({"event": OK.format(s=4, n=ok_sent)})
            statuses.append(c.post(f"{base}/services/collector/event", content=body, headers=hec).status_code)
            ok_sent += 1
            deep = '{"event":' + '{"a":' * 3000 + "1" + "}" * 3001
            r = c.post(f"{base}/services/collector/event", content=deep, headers=hec)
            assert r.status_code == 400 and r.json()["code"] == 6
            big = json.dumps({"event": "A" * (2 * 1024 * 1024)}) + json.dumps({"event": OK.format(s=5, n=ok_sent)})
            statuses.append(c.post(f"{base}/services/collector/event", content=big, headers=hec).status_code)
            ok_sent += 1
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with socket.create_connection(("127.0.0.1", syslog)) as tcp:
            for text in HOSTILE.values():
                udp.sendto(text.encode(), ("127.0.0.1", syslog))
                udp.sendto(OK.format(s=6, n=ok_sent).encode(), ("127.0.0.1", syslog))
                ok_sent += 1
                tcp.sendall(text.encode() + b"\n" + OK.format(s=7, n=ok_sent).encode() + b"\n")
                ok_sent += 1
        assert all(s < 500 for s in statuses), statuses
        store = EventStore(tmp_path / "data", open_state(tmp_path / "data"))
        deadline = time.time() + 60
        found = 0
        while time.time() < deadline:
            found = search(store, "okuser", count_only=True).count
            if found >= ok_sent:
                break
            time.sleep(0.3)
        assert found == ok_sent, (tmp_path / "serve.log").read_text()[-3000:]
        q = _quarantine(tmp_path / "data")
        by_path = {p: [r for r in q if r["source"].startswith(p)] for p in ("http:", "hec:", "syslog/udp", "syslog/tcp")}
        n = len(HOSTILE)
        assert len(by_path["http:"]) == n and len(by_path["syslog/udp"]) == n and len(by_path["syslog/tcp"]) == n
        assert len(by_path["hec:"]) >= 2 * n + 3  # raw and event per class, plus 1e300, the deep body and the huge event
        assert all(r["reason"] and r["raw_sha256"] and r["raw_bytes"] is not None for r in q)
        assert any("HEC body refused" in r["reason"] for r in q)
        assert any("max_event_bytes" in r["reason"] for r in q)
        h = httpx.get(f"http://127.0.0.1:{http}/healthz").json()
        assert h["status"] == "ok" and h["components"]["processor"]["state"] == "running", h
        assert _peak_rss_mb(proc.pid) < 1024
        print(f"hostile: {ok_sent} ordinary records stored, {len(q)} hostile ones quarantined, statuses "
              f"{sorted(set(statuses))}, peak RSS {_peak_rss_mb(proc.pid):.0f} MB")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_a_record_that_kills_the_process_twice_is_quarantined(tmp_path):
    """A crash no ``except`` can catch (here: a fault injected on one record) is replayed at most twice per mode."""
    cfg, http, syslog, token = _setup(tmp_path)
    env = {"GARRISON_FAULT_EXIT_ON": "CRASH-ME"}
    log = tmp_path / "serve.log"
    proc = _serve(cfg, log, env)
    wait_ready(f"http://127.0.0.1:{http}", 60)
    lines = [OK.format(s=1, n=i) for i in range(20)]
    lines.insert(7, OK.format(s=1, n="CRASH-ME"))
    try:
        r = httpx.post(f"http://127.0.0.1:{http}/api/v1/ingest", content="\n".join(lines),
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200  # acknowledged: on disk
    except httpx.RemoteProtocolError:
        pass  # the processor may read the fsynced record and die before the answer goes out: it's on disk
    starts = 1
    while True:  # as a service manager does: start it again each time it dies
        code = proc.wait(timeout=60) if starts < 8 else None
        if code is None:
            break
        assert code == 70
        proc = _serve(cfg, log, env)
        starts += 1
        if not _ready_or_exited(proc, f"http://127.0.0.1:{http}"):
            continue
        store = EventStore(tmp_path / "data", open_state(tmp_path / "data"))
        deadline = time.time() + 10
        while time.time() < deadline and proc.poll() is None:
            if search(store, "okuser", count_only=True).count == 20:
                break
            time.sleep(0.2)
        if proc.poll() is None:
            break
    try:
        assert 2 <= starts <= 6, starts
        print(f"crash: the poison record was quarantined after {starts - 1} crashes")
        store = EventStore(tmp_path / "data", open_state(tmp_path / "data"))
        assert search(store, "okuser", count_only=True).count == 20
        q = _quarantine(tmp_path / "data")
        assert len(q) == 1 and "down twice" in q[0]["reason"] and "CRASH-ME" in q[0]["raw"]
        assert httpx.get(f"http://127.0.0.1:{http}/healthz").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_oversized_bodies_and_connections_are_bounded(tmp_path):
    cfg, http, syslog, token = _setup(tmp_path, max_body_bytes=1024 * 1024, max_syslog_connections=4,
                                      header_timeout=1.0, body_timeout=1.5)
    proc = _serve(cfg, tmp_path / "serve.log")
    try:
        wait_ready(f"http://127.0.0.1:{http}", 60)
        base = f"http://127.0.0.1:{http}"
        big = b"x" * (53 * 1024 * 1024)
        r = httpx.post(f"{base}/services/collector/raw", content=big, headers={"Authorization": f"Splunk {token}"},
                       timeout=60)
        assert r.status_code == 413 and r.json()["code"] == 27
        r = httpx.post(f"{base}/api/v1/ingest", content=big, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        # the token is checked before the body is read; a missing one is 401 on every ingest route
        for path in ("/api/v1/ingest", "/services/collector/event", "/services/collector/raw"):
            assert httpx.post(base + path, content=b"{").status_code == 401
        conns = [socket.create_connection(("127.0.0.1", syslog)) for _ in range(10)]
        time.sleep(0.5)
        h = httpx.get(f"{base}/healthz").json()["components"]["syslog-tcp"]
        assert h["connections"] == 4 and h["refused_connections"] == 6
        for s in conns:
            s.close()
        # slow clients: headers a byte at a time are cut off; so is a body that never finishes
        slow = socket.create_connection(("127.0.0.1", http))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        slow.settimeout(10)
        assert slow.recv(100) == b""  # closed by the server
        body = socket.create_connection(("127.0.0.1", http))
        body.sendall(f"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                     "Content-Length: 1000\r\n\r\nabc".encode())
        body.settimeout(10)
        assert b" 408 " in body.recv(200)
        assert httpx.get(f"{base}/healthz").json()["components"]["http"]["header_timeouts"] >= 1
        assert _peak_rss_mb(proc.pid) < 1024
        print(f"bounds: 53 MB bodies refused (413), 10 syslog connections -> 4 kept, 6 refused; "
              f"peak RSS {_peak_rss_mb(proc.pid):.0f} MB")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
