"""Console pages over a simulated store, through the app (no browser): rules with hits, switches and a
test run, sources and the quarantine, search export, the report archive for a viewer, incident actions."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from garrison.config import load_config
from garrison.model import Reject
from garrison.pipeline.runner import build_live_pipeline
from garrison.simulate.load import import_simulated
from garrison.simulate.generate import simulate
from garrison.store import EventStore, open_state
from garrison.web.app import create_app
from garrison.web.auth import add_user

PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    sim = simulate(tmp / "logs", days=1, seed=2, staff=400, scale=0.2)
    cfg = load_config(None, data_dir=str(tmp / "data"), enrich={"inventory": str(sim.out / "inventory.yaml")},
                      web={"secure_cookies": False})
    engine = open_state(cfg.data_path)
    store = EventStore(cfg.data_path, engine)
    import_simulated(build_live_pipeline(cfg, engine), store, sim.out)
    store.commit([], [Reject("udp:10.0.0.9", "malformed syslog: no timestamp", "<<garbage>>", 7)])
    add_user(engine, "alice", PW, "analyst")
    add_user(engine, "cllr", PW, "viewer")
    return create_app(cfg, engine, lambda r: 0, store)


def _client(app, who="alice"):
    c = TestClient(app)
    assert c.post("/console/login", data={"username": who, "password": PW}, headers={"Origin": "http://testserver"},
                  follow_redirects=False).status_code == 303
    return c


def _csrf(c):
    return re.search(r'name="csrf" content="([^"]+)"', c.get("/console/").text).group(1)


def test_rules_page_switch_and_test(app):
    c = _client(app)
    page = c.get("/console/rules").text
    assert "Failed login from outside the organisation" in page and "Brute force" in page
    r = c.post("/console/rules/toggle", data={"target": "garrison_webshell", "enabled": "0", "csrf": _csrf(c)},
               follow_redirects=True)
    assert "disabled" in r.text
    r = c.post("/console/rules/test", data={"rule": "9c1e7a52-5d3b-4d4e-9a7f-6a1f0b2c3d61", "csrf": _csrf(c)})
    assert "Probe for sensitive files" in r.text
    # The simulated day ends at the last midnight, so part of it is in the last 24 hours: web scanners probe
    # sensitive paths all day long.
    assert re.search(r"<b>[\d,]+</b> match(es)? in [\d,]+ events of the last 24 hours", r.text)


def test_sources_and_quarantine(app):
    c = _client(app)
    page = c.get("/console/sources").text
    assert "auth.log" in page and "malformed syslog: no timestamp" in page and "&lt;&lt;garbage&gt;&gt;" in page


def test_search_export_is_safe_for_spreadsheets(app):
    c = _client(app)
    r = c.get("/console/search.csv", params={"q": "event.dataset:sshd", "range": "1y"})
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    lines = r.text.splitlines()
    assert lines[0].startswith("@timestamp,event.dataset") and len(lines) > 10
    assert not any(cell.startswith(("=", "+", "@")) for line in lines[1:] for cell in line.split(","))
    bad = c.get("/console/search.json", params={"q": "(a OR", "range": "1y"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_query"
    page = c.get("/console/search", params={"q": "(a OR", "range": "1y"}).text
    assert "expected a term at position 5" in page


def test_viewer_generates_and_reads_reports(app):
    c = _client(app, "cllr")
    r = c.post("/console/reports", data={"period": "30d", "format": "html", "csrf": _csrf(c)}, follow_redirects=True)
    assert "generated" in r.text
    rid = re.search(r'href="/console/reports/(\d+)"', r.text).group(1)
    rep = c.get(f"/console/reports/{rid}")
    assert rep.status_code == 200 and "Cyber-security report" in rep.text


def test_incident_actions_are_audited(app):
    c = _client(app)
    iid = re.search(r'href="/console/incidents/(\d+)"', c.get("/console/incidents").text).group(1)
    token = _csrf(c)
    for action, data in (("assign", {"assignee": "bob"}), ("status", {"status": "investigating"}),
                         ("comment", {"text": "looking"}), ("close", {"outcome": "false_positive", "note": "test"}),
                         ("suppress", {"kind": "rule", "reason": "lab traffic", "duration": "7d"})):
        r = c.post(f"/console/incidents/{iid}/{action}", data={**data, "csrf": token}, follow_redirects=False)
        assert r.status_code == 303 and "not+done" not in r.headers["location"] and "not%20done" not in r.headers["location"], (action, r.headers["location"])
    from sqlalchemy import select

    from garrison.store import state as S

    with app.state.decisions.engine.connect() as conn:
        actions = {a for (a,) in conn.execute(select(S.audit_log.c.action).where(S.audit_log.c.actor == "alice"))}
    assert {"incident.assign", "incident.status", "incident.comment", "incident.close", "suppression.add"} <= actions


def test_incident_page_offers_ban_only_for_outside_addresses_and_no_preset_outcome(app):
    """Issue 17: the estate's own addresses are never offered for a ban; closing asks what it was."""
    c = _client(app)
    ids = re.findall(r'href="/console/incidents/(\d+)"', c.get("/console/incidents").text)
    seen_internal = False
    for iid in ids:
        html = c.get(f"/console/incidents/{iid}").text
        assert '<option value="" disabled selected>choose what it was</option>' in html
        offered = re.findall(r"<option>([0-9a-f.:]+)</option>", html.split('name="value"', 1)[1].split("</select>", 1)[0]) \
            if 'name="value"' in html else []
        assert not [ip for ip in offered if ip.startswith(("10.", "192.168.", "172.16."))], (iid, offered)
        seen_internal |= ">10." in html or "10." in html.split("Entities", 1)[-1]
    assert ids and seen_internal  # the simulated incidents do name internal addresses


def test_timeline_groups_repeats():
    from garrison.web.console.incidents import timeline_groups

    def d(rule, t, host="ws1"):
        return {"rule_id": rule, "timestamp": t, "source_ip": None, "user_name": None, "host_name": host}

    dets = [d("sweep", 1), d("note", 2), *[d("note", 3 + i) for i in range(29)], d("note", 40, host="ws2")]
    groups = timeline_groups(dets)
    assert [len(g) for g in groups] == [1, 30, 1] and groups[1][-1]["timestamp"] == 31


def test_overview_breaches_card_is_not_green_while_incidents_are_open(app):
    """Issue 17: the overview follows the report's rule; with open serious incidents it says so, not 'none'."""
    html = _client(app).get("/console/?range=30d").text
    card = re.search(r'<li class="(\w+)"><b data-k="breaches">[^<]*</b><span>(.*?)</span></li>', html, re.S)
    assert card and card.group(1) == "open", card and card.group(0)
    assert "still being investigated" in card.group(2)
