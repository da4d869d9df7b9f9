"""Issue 19: an account takeover pulled from the (stand-in) Graph API by ``garrison serve`` becomes an incident
whose waiting "revoke sessions" action, clicked in a real browser, reaches Graph; the audit log names who."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from garrison.store import open_state
from garrison.store import state as S
from garrison.testing.microsoft import StandIn, serve
from garrison.triage.cases import list_incidents
from garrison.web.auth import add_user
from tests.conftest import needs
from tests.e2e.test_serve_durability import _free_port, _start, _wait_http
from tests.web.test_console_browser import ARTIFACTS, CHROMIUM, PW, _browser_page, _sign_in

pytestmark = needs(not Path(CHROMIUM).exists(), "Debian's chromium (make test-deps installs it)")
VICTIM = "kim.ward@council.example"


def mfa_fatigue(upn: str, ip: str, denials: int = 10) -> list[dict]:
    """Graph signIn records: prompts denied (500121), then one approved, over the last half hour."""
    t = time.time() - 1800
    out = []
    for i in range(denials + 1):
        t += 40
        ok = i == denials
        out.append({"id": str(uuid.uuid4()), "createdDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
                    "userPrincipalName": upn, "userDisplayName": "Kim Ward", "ipAddress": ip,
                    "appDisplayName": "Office 365 Exchange Online", "clientAppUsed": "Browser",
                    "status": {"errorCode": 0} if ok else {
                        "errorCode": 500121, "failureReason": "Authentication failed during strong authentication request."},
                    "location": {"countryOrRegion": "RU", "city": "Moscow"}})
    return out


@pytest.fixture
def takeover(tmp_path):
    s = StandIn()
    server, ca = serve(s, tmp_path / "tls")
    s.add_signins(mfa_fatigue(VICTIM, "185.220.101.4"))
    http = _free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None},
        "microsoft": s.connector_config(tmp_path / "secret", ca, content_types=[], graph=["signIns"], poll_seconds=1,
                                        actions=True, protected_accounts=["breakglass@council.example"])}))
    engine = open_state(tmp_path / "data")
    add_user(engine, "alice", PW, "analyst")
    proc = _start(cfg, tmp_path / "serve.log")
    try:
        _wait_http(http, timeout=60)
        deadline = time.time() + 60
        while not list_incidents(engine) and time.time() < deadline:
            time.sleep(0.3)
        yield f"http://127.0.0.1:{http}", s, engine
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        server.should_exit = True


def test_revoke_sessions_from_the_incident_page(takeover):
    url, s, engine = takeover
    (inc,) = [i for i in list_incidents(engine) if "MFA fatigue" in i["title"]]
    with _browser_page(url) as page:
        _sign_in(page)
        page.goto(f"/console/incidents/{inc['id']}")
        button = page.get_by_role("button", name="Revoke the user's sign-in sessions")
        assert page.get_by_text("A policy asks").is_visible()
        button.click()
        page.wait_for_url(f"**/console/incidents/{inc['id']}**")
        assert "done" in page.content()
        page.screenshot(path=str(ARTIFACTS / "incident-identity-action.png"), full_page=True)
        page.goto("/console/sources")
        assert page.get_by_role("cell", name="graph/signIns", exact=True).is_visible()
    assert [(a["action"], a["user"]) for a in s.actions] == [("revokeSignInSessions", VICTIM)]
    with engine.connect() as c:
        rows = c.execute(select(S.audit_log).where(S.audit_log.c.action == "identity.revoke_sessions.done")).mappings().all()
    assert [(r["actor"], r["target"]) for r in rows] == [("alice", VICTIM)]
