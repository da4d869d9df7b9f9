"""Issue 20's parts on their own: who is a person (the labelled replay of scanners and people), the send window,
targets from a CSV and from an Entra ID group (Graph stand-in), and the built-in library."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from garrison.awareness import campaigns
from garrison.awareness.library import modules, templates
from garrison.awareness.tracking import Visit, scanner_evidence
from garrison.config import load_config
from garrison.errors import InputError
from garrison.evaluate.scanners import measure
from garrison.store import open_state
from garrison.testing.microsoft import StandIn, serve


def test_people_are_told_from_scanners(tmp_path):
    r = measure(open_state(tmp_path), n=600, seed=5)
    assert r["raw_click_rate"] == 100.0  # every message was pre-clicked by a filter: the raw rate says nothing
    assert r["precision"] >= 0.9 and r["recall"] >= 0.85, r
    assert abs(r["people_click_rate"] - r["true_click_rate"]) < 3
    p = r["patterns"]
    for scanner in ("safelinks", "safelinks_render", "proofpoint", "mimecast", "barracuda", "preview", "prefetch",
                    "sandbox_all_links", "headless"):
        assert p[scanner]["wrongly counted"] == 0, scanner
    assert p["human:desktop"]["counted as a person"] == p["human:desktop"]["recipients"]
    assert p["human:scripts_blocked"]["counted as a person"] == 0  # no evidence, no person: counted as unknown


def test_scanner_evidence_names_its_reason():
    edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Edg/131.0"
    assert scanner_evidence(Visit("HEAD", "10.0.0.5", edge), None, set())[0].startswith("a HEAD request")
    assert "Microsoft" in scanner_evidence(Visit("GET", "40.107.3.9", edge), None, set())[0]
    assert "link checker" in scanner_evidence(Visit("GET", "10.0.0.5", "python-requests/2.31"), None, set())[0]
    assert "after delivery" in scanner_evidence(Visit("GET", "10.0.0.5", edge, at=3_000_000), 0, set())[0]
    assert "every link" in scanner_evidence(Visit("GET", "10.0.0.5", edge, link="2"), None, {"1"})[0]
    assert scanner_evidence(Visit("GET", "10.0.0.5", edge, at=600_000_000), 0, set()) == []


def test_send_window_is_working_hours_only():
    cfg = load_config(None, awareness={"working_hours": "09:00-17:00", "timezone": "Europe/London"}).awareness
    saturday_noon = int(datetime(2026, 12, 5, 12, 0, tzinfo=ZoneInfo("Europe/London")).timestamp() * 1e6)
    times = campaigns.slots(saturday_noon, 4, 200, cfg)
    local = [datetime.fromtimestamp(t / 1e6, ZoneInfo("Europe/London")) for t in times]
    assert all(d.weekday() == 0 and 9 <= d.hour < 13 for d in local)  # Monday 09:00-13:00, four working hours
    assert times == sorted(times) and len(set(times)) >= 200 // 2


def test_targets_from_csv_and_group(tmp_path):
    f = tmp_path / "staff.csv"
    f.write_text("email,name,department\nJo@Council.example,Jo Bloggs,Finance\njo@council.example,Jo,Finance\n"
                 "sam@council.example,,Planning\n")
    assert campaigns.targets_from_csv(f) == [campaigns.Target("jo@council.example", "Jo Bloggs", "Finance"),
                                            campaigns.Target("sam@council.example", "sam", "Planning")]
    f.write_text("email,name\nnot-an-address,X\n")
    with pytest.raises(InputError, match="staff.csv line 2: not an email address"):
        campaigns.targets_from_csv(f)
    s = StandIn()
    server, ca = serve(s, tmp_path / "tls")
    try:
        s.groups["g-finance"] = [{"displayName": "Kim Ward", "mail": "Kim.Ward@council.example", "department": "Finance"},
                                 {"displayName": "No Mail"}]
        cfg = load_config(None, data_dir=str(tmp_path / "d"), microsoft=s.connector_config(tmp_path / "secret", ca))
        assert campaigns.targets_from_group(cfg, "g-finance") == [campaigns.Target("kim.ward@council.example", "Kim Ward", "Finance")]
    finally:
        server.should_exit = True


def test_library():
    t = templates()
    assert len(t) >= 12 and all(x["red_flags"] and "$link" in x["text"] and x["landing"] in ("login", "document", "payment")
                                for x in t.values())
    m = modules()
    assert {"phishing", "passwords_mfa", "reporting", "removable_media"} <= set(m)
    assert all(0 <= q["answer"] < len(q["options"]) for x in m.values() for q in x["questions"])


def test_report_button_in_the_audit_log_marks_the_simulation_reported(tmp_path):
    """Microsoft 365's Report button: a UserSubmission audit record of our simulation's sender marks its recipient."""
    import json
    import time

    from sqlalchemy import select, update

    from garrison.model import RawRecord
    from garrison.pipeline.runner import build_live_pipeline, commit_batch
    from garrison.store import EventStore
    from garrison.store import state_awareness as A

    cfg = load_config(None, data_dir=str(tmp_path), awareness={"from_domain": "notices.example"})
    engine = open_state(tmp_path)
    campaigns.create(engine, cfg, "april", "parcel", [campaigns.Target("kim@council.example", "Kim", "Finance"),
                                                      campaigns.Target("jo@council.example", "Jo", "Finance")], "test")
    now = int(time.time() * 1e6)
    with engine.begin() as c:
        c.execute(update(A.aw_targets).values(sent_at=now - 60_000_000, delivered_at=now - 60_000_000))
    rec = {"CreationTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "Id": "a1", "Operation": "UserSubmission",
           "Workload": "Exchange", "RecordType": 29, "UserId": "kim@council.example", "P1Sender": "notifications@notices.example",
           "Subject": "We missed you", "ResultStatus": "Succeeded"}
    other = {**rec, "Id": "a2", "UserId": "jo@council.example", "P1Sender": "someone@elsewhere.example"}
    store = EventStore(tmp_path, engine)
    batch = build_live_pipeline(cfg, engine).process([RawRecord(json.dumps(rec), "o365", 1), RawRecord(json.dumps(other), "o365", 2)])
    commit_batch(store, batch)
    with engine.connect() as c:
        got = dict(c.execute(select(A.aw_targets.c.email, A.aw_targets.c.reported_at)).all())
    assert got["kim@council.example"] is not None and got["jo@council.example"] is None


def test_a_real_phish_on_a_trained_theme_is_recognised():
    from garrison.awareness.results import resembles

    assert resembles("Overdue invoice 88213 - payment required today",
                     "Our records show your invoice is now overdue. To avoid a late payment charge and suspension, review "
                     "the invoice and confirm payment today.") == "Overdue supplier invoice (invoice)"
    assert resembles("Minutes of Tuesday's meeting", "The minutes are on the shared drive under Committees.") is None
