"""Risk scoring, incident raising and grouping, the case workflow, and incident notifications."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from garrison.errors import GarrisonError
from garrison.model.batch import Batch
from garrison.model.detection import Detection
from garrison.store import EventStore, open_state
from garrison.store import state as S
from garrison.triage.cases import assign, close, comment, get_incident, list_incidents, set_status
from garrison.triage.incidents import TriageConfig, TriageStage
from garrison.triage.risk import RiskModel, tactics_of

H = 3_600_000_000


def test_risk_model():
    m = RiskModel()
    assert m.weight("high", {}) == 40
    assert m.weight("high", {"garrison.host.criticality": 5}) == 80  # 1 + 0.25 x 4
    assert m.weight("high", {"garrison.user.privileged": True}) == 60
    assert m.decay(100, 0, 24 * H) == pytest.approx(50)
    assert m.effective(100, {"credential-access", "initial-access", "execution"}) == pytest.approx(140)
    assert tactics_of(["attack.credential-access", "attack.t1110", "attack.T1078"]) == {"credential-access"}


def _det(ts, level="high", rule="r1", ip="203.0.113.9", user=None, tags=("attack.credential-access",)):
    ev = {"source.ip": ip, "@timestamp": ts, "event.id": 1, "organization.id": "default"}
    if user:
        ev["user.name"] = user
    return Detection(rule, f"Rule {rule}", level, list(tags), ts, ev)


def _commit(store, stage, dets):
    b = Batch([], [], detections=dets)
    stage(b)
    store.commit([], detections=b.detections, in_commit=b.in_commit)
    for fn in b.after_commit:
        fn()


@pytest.fixture
def env(tmp_path):
    engine = open_state(tmp_path)
    notices = []
    stage = TriageStage(config=TriageConfig(threshold=100), announce=lambda *n: notices.append(n))
    return engine, EventStore(tmp_path, engine), stage, notices


def test_threshold_raises_then_related_detections_join(env):
    engine, store, stage, notices = env
    t0 = int(time.time() * 1e6)
    _commit(store, stage, [_det(t0, rule="r1"), _det(t0 + 1, rule="r1")])  # duplicate rule: deduped, 40 < 100
    assert list_incidents(engine) == []
    _commit(store, stage, [_det(t0 + 2, rule="r2"), _det(t0 + 3, rule="r3", user="alice")])  # 40+40+40 = 120
    (inc,) = list_incidents(engine)
    assert inc["severity"] == "high" and inc["reason"].startswith("risk")
    _commit(store, stage, [_det(t0 + 4, rule="r4", ip="198.51.100.7", user="alice", level="low")])  # shares alice
    full = get_incident(engine, inc["id"])
    assert [d["rule_id"] for d in full["detections"]] == ["r3", "r4"]  # r3 crossed the threshold, r4 joined via alice
    assert {e["value"] for e in full["entities"]} >= {"203.0.113.9", "alice", "198.51.100.7"}
    assert full["techniques"] == []  # the rules name a tactic only
    assert notices and notices[0][1].startswith(f"New incident #{inc['id']}")


def test_critical_rule_raises_at_once_and_closed_incidents_are_not_joined(env):
    engine, store, stage, _ = env
    t0 = int(time.time() * 1e6)
    _commit(store, stage, [_det(t0, level="critical", rule="c1", tags=("attack.initial-access", "attack.t1078"))])
    (inc,) = list_incidents(engine)
    assert inc["severity"] == "critical" and inc["reason"] == "critical rule"
    assert get_incident(engine, inc["id"])["techniques"] == ["T1078"]
    close(engine, inc["id"], "tp_stopped", "analyst", "attacker banned")
    _commit(store, stage, [_det(t0 + 5, level="critical", rule="c2")])
    assert len(list_incidents(engine)) == 2


def test_case_workflow_and_audit(env):
    engine, store, stage, _ = env
    _commit(store, stage, [_det(int(time.time() * 1e6), level="critical")])
    (inc,) = list_incidents(engine)
    iid = inc["id"]
    assign(engine, iid, "alice", "cli:bob")
    set_status(engine, iid, "investigating", "cli:alice")
    comment(engine, iid, "cli:alice", "Checked the mailbox rules; nothing new.")
    close(engine, iid, "false_positive", "cli:alice")
    full = get_incident(engine, iid)
    assert full["status"] == "closed" and full["outcome"] == "false_positive" and full["assignee"] == "alice"
    assert "Outcome: false positive." in full["summary"]
    with engine.connect() as c:
        actions = [r[0] for r in c.execute(select(S.audit_log.c.action).where(S.audit_log.c.target == f"incident:{iid}")
                                                .order_by(S.audit_log.c.id))]
    assert actions == ["incident.raise", "incident.assign", "incident.status", "incident.comment", "incident.close"]
    with pytest.raises(GarrisonError, match="unknown outcome"):
        close(engine, iid, "maybe", "x")
    with pytest.raises(GarrisonError, match="no incident #999"):
        assign(engine, 999, "x", "y")


def test_attempts_are_counted_per_day_category_and_outcome(env):
    engine, store, stage, _ = env
    t0 = int(time.time() * 1e6)
    dets = [_det(t0, rule="garrison_brute_force", tags=("attack.credential-access", "attack.t1110.001")),
            _det(t0, rule="garrison.web.sqli", tags=("attack.initial-access", "attack.t1190")),
            _det(t0, rule="x", tags=("attack.discovery",))]
    dets[1].extra["decision_id"] = 7  # a ban in force stopped it
    dets[2].event["event.type"] = "denied"  # the firewall dropped it
    _commit(store, stage, dets)
    with engine.connect() as c:
        rows = {(r["category"], r["outcome"]): r["n"] for r in c.execute(select(S.daily_attempts)).mappings()}
    assert rows == {("password_guessing", "not_blocked"): 1, ("web_attack", "blocked"): 1, ("other", "blocked"): 1}


def test_http_api_does_what_the_cli_does(env, tmp_path):
    from fastapi.testclient import TestClient

    from garrison.config import load_config
    from garrison.sources.tokens import create_token
    from garrison.web.app import create_app

    engine, store, stage, _ = env
    _commit(store, stage, [_det(int(time.time() * 1e6), level="critical")])
    (inc,) = list_incidents(engine)
    client = TestClient(create_app(load_config(None, data_dir=str(tmp_path)), engine, lambda r: 0))
    assert client.get("/api/v1/incidents").status_code == 401
    h = {"Authorization": f"Bearer {create_token(engine, 'soar', 'default', 'api')}"}
    assert [i["id"] for i in client.get("/api/v1/incidents", headers=h).json()] == [inc["id"]]
    base = f"/api/v1/incidents/{inc['id']}"
    assert client.post(base + "/assign", headers=h, json={"assignee": "carol"}).status_code == 200
    assert client.post(base + "/comments", headers=h, json={"text": "looking"}).status_code == 200
    assert client.post(base + "/status", headers=h, json={"status": "contained"}).status_code == 200
    assert client.post(base + "/close", headers=h, json={"outcome": "nope"}).json()["error"]["code"] == "invalid_request"
    assert client.post(base + "/close", headers=h, json={"outcome": "tp_stopped", "note": "banned"}).status_code == 200
    full = client.get(base, headers=h).json()
    assert full["status"] == "closed" and full["assignee"] == "carol" and len(full["comments"]) == 2
    assert client.get("/api/v1/incidents/999", headers=h).status_code == 404


def test_suppression_from_a_false_positive(env):
    from garrison.triage.suppress import SuppressStage, from_incident

    engine, store, stage, notices = env
    t0 = int(time.time() * 1e6)
    _commit(store, stage, [_det(t0, level="critical", rule="noisy", ip="203.0.113.20")])
    (inc,) = list_incidents(engine)
    with pytest.raises(GarrisonError, match="must be closed"):
        from_incident(engine, inc["id"], "rule", "backup job", "7d", "alice")
    close(engine, inc["id"], "false_positive", "alice")
    (sid,) = from_incident(engine, inc["id"], "rule", "the nightly backup job", "7d", "alice")
    suppress = SuppressStage(engine, refresh_seconds=0)
    b = Batch([], [], detections=[_det(t0 + 10, level="critical", rule="noisy", ip="203.0.113.21")])
    suppress(b)
    stage(b)
    store.commit([], detections=b.detections, in_commit=b.in_commit, suppressed=b.suppressed)
    assert len(list_incidents(engine)) == 1  # no new incident
    with engine.connect() as c:
        rows = c.execute(select(S.detections.c.rule_id, S.detections.c.suppression_id)).all()
        hits = c.execute(select(S.suppressions.c.hits).where(S.suppressions.c.id == sid)).scalar()
    assert sorted(rows, key=str) == sorted([("noisy", None), ("noisy", sid)], key=str) and hits == 1


def test_failed_attempts_weigh_less_and_single_attempts_not_at_all(env):
    engine, store, stage, _ = env
    t0 = int(time.time() * 1e6)
    dets = [_det(t0 + i, rule=f"f{i}") for i in range(4)]
    for d in dets:
        d.event["event.outcome"] = "failure"  # four refused attempts: 4 x 40 x 0.25 = 40 < 100
    _commit(store, stage, dets + [_det(t0 + 9, level="informational", rule="i1")])
    assert list_incidents(engine) == []
    with engine.connect() as c:
        (score,) = c.execute(select(S.entity_risk.c.score).where(S.entity_risk.c.value == "203.0.113.9")).one()
    assert score == 40


def test_high_activity_inside_the_estate_raises_at_once(env):
    engine, store, stage, _ = env
    t0 = int(time.time() * 1e6)
    d = _det(t0, level="high", rule="office", ip=None, tags=("attack.execution", "attack.t1204.002"))
    d.event.update({"event.dataset": "windows.sysmon", "host.name": "WS-00042.council.local", "user.name": "judy"})
    _commit(store, stage, [d])
    (inc,) = list_incidents(engine)
    assert inc["reason"] == "high-severity activity inside the estate" and inc["severity"] == "high"
    ents = {(e["kind"], e["value"]) for e in get_incident(engine, inc["id"])["entities"]}
    assert ("host", "ws-00042") in ents and ("user", "judy") in ents


def test_a_chain_of_tactics_raises_an_incident(env):
    engine, store, stage, _ = env
    t0 = int(time.time() * 1e6)
    steps = [("low", "s1", ("attack.initial-access",)), ("low", "s2", ("attack.execution",)),
             ("low", "s3", ("attack.persistence",))]
    for i, (level, rule, tags) in enumerate(steps):
        _commit(store, stage, [_det(t0 + i * 60_000_000, level=level, rule=rule, user="bob", tags=tags)])
        assert len(list_incidents(engine)) == (1 if i == 2 else 0)  # low risk, but three stages of an attack
    (inc,) = list_incidents(engine)
    assert inc["reason"] == "attack chain: initial-access → execution → persistence"


def test_temporal_correlation_links_the_entities_of_all_its_evidence(env):
    engine, store, stage, _ = env
    t0 = int(time.time() * 1e6)
    logon = {"host.name": "FS01", "user.name": "admin.kim", "source.ip": "10.10.0.7", "garrison.source.host": "ws-00007"}
    d = Detection("lat", "Lateral movement", "critical", ["attack.lateral-movement"], t0, {"host.name": "FS01"},
                  kind="correlation", evidence=[logon, {"host.name": "FS01"}],
                  extra={"correlation_type": "temporal_ordered"})
    _commit(store, stage, [d])
    (inc,) = list_incidents(engine)
    ents = {(e["kind"], e["value"]) for e in get_incident(engine, inc["id"])["entities"]}
    assert ents == {("host", "fs01"), ("user", "admin.kim"), ("ip", "10.10.0.7"), ("host", "ws-00007")}


def test_the_title_names_the_most_telling_detection(env):
    """Credential dumping names the incident over the log clearing that came first (issue 17)."""
    engine, store, stage, _ = env
    t0 = int(time.time() * 1e6)
    cleared = Detection("s1", "Important Windows Eventlog Cleared", "high", ["attack.defense-evasion", "attack.t1070.001"],
                        t0, {"host.name": "ws17", "@timestamp": t0, "event.id": 1, "organization.id": "default",
                             "garrison.host.criticality": 5})
    _commit(store, stage, [Detection("c0", "Suspicious process", "critical", ["attack.execution"], t0,
                                     {"host.name": "ws17", "@timestamp": t0, "event.id": 1})])
    (inc,) = list_incidents(engine)
    assert inc["title"] == "Suspicious process — ws17"
    # as if the log clearing had raised it: the detections that follow rename it only when they tell more
    with engine.begin() as c:
        c.execute(S.incidents.update().values(title="Important Windows Eventlog Cleared — ws17", title_rank=0))
    _commit(store, stage, [cleared])
    assert list_incidents(engine)[0]["title"] == "Important Windows Eventlog Cleared — ws17"
    dump = Detection("s2", "Lsass Memory Dump via Comsvcs DLL", "high", ["attack.credential-access", "attack.t1003.001"],
                     t0 + 1, {"host.name": "ws17", "@timestamp": t0 + 1, "event.id": 2, "organization.id": "default"})
    _commit(store, stage, [dump])
    assert list_incidents(engine)[0]["title"] == "Lsass Memory Dump via Comsvcs DLL — ws17"
    _commit(store, stage, [Detection("s3", "Whoami", "medium", ["attack.discovery", "attack.t1033"], t0 + 2,
                                     {"host.name": "ws17", "@timestamp": t0 + 2, "event.id": 3})])
    assert list_incidents(engine)[0]["title"] == "Lsass Memory Dump via Comsvcs DLL — ws17"


def test_title_rank_orders_severity_then_tactic_then_specificity():
    from garrison.triage.incidents import title_rank

    def d(level, *tags):
        return Detection("r", "r", level, list(tags), 0, {})

    assert title_rank(d("critical", "attack.discovery")) > title_rank(d("high", "attack.impact", "attack.t1486"))
    assert title_rank(d("high", "attack.impact", "attack.t1486")) > title_rank(d("high", "attack.lateral-movement"))
    assert title_rank(d("high", "attack.credential-access", "attack.t1003.001")) > \
        title_rank(d("high", "attack.credential-access", "attack.t1003"))
