"""Notifications reach a real local SMTP server and a local webhook receiver; blocklist URLs need a token."""

from __future__ import annotations

import http.server
import json
import threading
import time

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from garrison.config import NotifyConfig, load_config
from garrison.model.decision import Decision
from garrison.respond.decisions import add_decision
from garrison.respond.notify import Notifier
from garrison.sources.tokens import create_token
from garrison.store import open_state
from garrison.web.app import create_app
from tests.e2e.test_serve_durability import _free_port


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


class _Hooks(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hooks.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"1")

    def log_message(self, *a):
        pass


def test_smtp_teams_slack_and_rate_limit():
    box = _Mailbox()
    port = _free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    hooks = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{hooks.server_port}"
    try:
        n = Notifier(NotifyConfig(smtp_host="127.0.0.1", smtp_port=port, mail_from="garrison@council.example",
                                  mail_to=["soc@council.example"], teams_webhooks=[base + "/teams"],
                                  slack_webhooks=[base + "/slack"], max_per_hour=2))
        assert n.notify_text("critical", "Ransomware behaviour on FS01", "Mass file renames by one process.")
        assert n.notify_text("high", "Password spraying", "41 accounts from 185.220.101.4")
        assert not n.notify_text("high", "Third in the hour", "held for the digest")  # rate-limited
        assert not n.notify_text("low", "Below the threshold", "never sent")
        deadline = time.time() + 5
        while time.time() < deadline and len(box.messages) < 2:
            time.sleep(0.05)
        assert [m[1] for m in box.messages] == [["soc@council.example"]] * 2
        assert "Subject: Ransomware behaviour on FS01" in box.messages[0][2]
        teams = [p for path, p in _Hooks.received if path == "/teams"]
        slack = [p for path, p in _Hooks.received if path == "/slack"]
        assert teams[0]["@type"] == "MessageCard" and teams[0]["title"].startswith("[CRITICAL]")
        assert slack[1]["text"].startswith("*[HIGH] Password spraying*")
        assert n.flush_digest() == 1
        while time.time() < deadline + 5 and len(box.messages) < 3:
            time.sleep(0.05)
        assert "Garrison digest: 1 notice(s)" in box.messages[2][2] and "Third in the hour" in box.messages[2][2]
    finally:
        smtp.stop()
        hooks.shutdown()


def test_blocklist_urls_need_an_api_token(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path))
    engine = open_state(tmp_path)
    now = int(time.time() * 1e6)
    for v, scope in (("203.0.113.9", "ip"), ("2001:db8::7", "ip"), ("198.51.100.0/24", "range")):
        add_decision(engine, Decision("ban", scope, v, "rule", "test", now, now + 3_600_000_000), "test")
    client = TestClient(create_app(cfg, engine, lambda r: 0))
    assert client.get("/api/v1/blocklist.txt").status_code == 401
    ingest_only = create_token(engine, "shipper", "default")
    # a valid token without the 'api' scope: 403 (known, not allowed), where a missing one is 401
    assert client.get("/api/v1/blocklist.txt", headers={"Authorization": f"Bearer {ingest_only}"}).status_code == 403
    token = create_token(engine, "firewall", "default", "api")
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/blocklist.txt", headers=h).text.split() == ["198.51.100.0/24", "203.0.113.9", "2001:db8::7"]
    assert "deny 203.0.113.9;" in client.get("/api/v1/blocklist.nginx", headers=h).text
    nft = client.get("/api/v1/blocklist.nft", headers=h).text
    assert "elements = { 198.51.100.0/24, 203.0.113.9 }" in nft and "ip6 saddr @garrison_blocklist_v6 drop" in nft
    r = client.post("/api/v1/decisions", headers=h, json={"value": "203.0.113.10", "duration": "1h", "reason": "api"})
    assert r.status_code == 201 and r.json()["origin"] == "analyst"
    assert client.post("/api/v1/decisions", headers=h, json={"value": "10.0.0.1"}).json()["error"]["code"] == "invalid_decision"
    assert client.delete(f"/api/v1/decisions/{r.json()['id']}", headers=h).json() == {"deleted": 1}


def test_new_critical_incident_is_emailed(tmp_path):
    """End to end: logs -> detection -> incident -> email at a real local SMTP server."""
    from garrison.pipeline.runner import build_live_pipeline, import_paths
    from garrison.simulate import write_demo_logs
    from garrison.store import EventStore

    box = _Mailbox()
    port = _free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        cfg = load_config(None, data_dir=str(tmp_path / "data"), enrich={"geoip": False},
                          notify={"smtp_host": "127.0.0.1", "smtp_port": port, "mail_to": ["soc@council.example"]})
        engine = open_state(tmp_path / "data")
        auth = next(f for f in write_demo_logs(tmp_path / "logs") if f.name == "auth.log")
        import_paths(build_live_pipeline(cfg, engine), EventStore(tmp_path / "data", engine), [auth])
        deadline = time.time() + 10
        while time.time() < deadline and not any("Successful login after brute force" in m[2] for m in box.messages):
            time.sleep(0.05)
        mails = [m[2] for m in box.messages if "New incident" in m[2]]
        assert any("Successful login after brute force" in m and "critical rule" in m for m in mails)
    finally:
        smtp.stop()
