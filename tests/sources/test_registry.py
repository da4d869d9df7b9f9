"""Sources are components: built from the configuration through the registry and supervised by the service."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from garrison.config import load_config
from garrison.pipeline.service import Service
from garrison.sources import SOURCES, Sinks, build_sources
from garrison.store import EventStore, open_state
from garrison.testing import free_port


def test_registry_builds_the_configured_listeners(tmp_path):
    cfg = load_config(data_dir=str(tmp_path), ingest={"syslog_udp": None, "syslog_tcp": "127.0.0.1:1"})
    built = build_sources(cfg, Sinks(lambda recs: None, lambda recs: None))
    assert "syslog" in SOURCES
    assert [s.name for s in built] == ["syslog-tcp"]
    assert built[0].running() is False  # not started yet


def test_a_source_that_stops_is_reported_and_restarted(tmp_path):
    http, port = free_port(), free_port()
    cfg = load_config(data_dir=str(tmp_path / "data"), store={"flush_seconds": 0.2},
                      ingest={"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": f"127.0.0.1:{port}"})
    engine = open_state(cfg.data_path)
    service = Service(cfg, engine, EventStore(cfg.data_path, engine))
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        code, body = service.health()
        return JSONResponse(body, status_code=code)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=lambda: loop.run_until_complete(service.run(app)), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{http}"
    try:
        _wait(lambda: _get(base) is not None)
        listener = next(s for s in service.sources if s.name == "syslog-tcp")
        assert listener.running()
        # the listener's socket is closed under it, as a crash would: health says so, the supervisor restarts it
        loop.call_soon_threadsafe(listener._server.close)
        _wait(lambda: service.components["syslog-tcp"].restarts == 1)
        _wait(lambda: listener.running())
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"<34>Nov 28 10:00:00 web1 sshd[42]: Failed password for root from 203.0.113.9 port 22 ssh2\n")
        _wait(lambda: _get(base)["components"]["syslog-tcp"]["records"] == 1)
        body = _get(base)
        assert body["components"]["syslog-tcp"]["last_error"] == "it stopped taking input"
        assert body["components"]["syslog-tcp"]["state"] == "running"
    finally:
        service.stop()
        thread.join(60)


def _get(base: str) -> dict | None:
    try:
        return httpx.get(base + "/healthz", timeout=2).json()
    except httpx.HTTPError:
        return None


def _wait(cond, timeout: float = 20) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
