"""The CrowdSec bouncer API as bouncers use it (TestClient against the real app and state DB)."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from garrison.config import load_config
from garrison.model.decision import Decision, go_duration
from garrison.respond.bouncers import add_bouncer
from garrison.respond.decisions import add_decision, delete_decisions
from garrison.respond.manual import manual_ban
from garrison.store import open_state
from garrison.web.app import create_app


@pytest.fixture
def lapi(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path))
    engine = open_state(tmp_path)
    key = add_bouncer(engine, "test")
    app = create_app(cfg, engine, lambda recs: 0)
    app.state.decisions.lookup_interval = 0  # tests write and read within milliseconds
    client = TestClient(app)
    client.headers["X-Api-Key"] = key
    return cfg, engine, client


def _ban(engine, value, scope="ip", origin="rule", reason="ssh brute force", seconds=3600, type_="ban"):
    now = int(time.time() * 1e6)
    return add_decision(engine, Decision(type=type_, scope=scope, value=value, origin=origin, reason=reason,
                                         created_at=now, until=now + seconds * 1_000_000), "test")


def test_auth_required(lapi):
    _, _, client = lapi
    for key, status in ((None, 401), ("wrong", 403)):  # no key: 401, as on every route; a wrong one: 403
        h = {"X-Api-Key": key} if key else {}
        r = TestClient(client.app).get("/v1/decisions/stream", headers=h)
        assert r.status_code == status


def test_stream_startup_then_deltas(lapi):
    cfg, engine, client = lapi
    assert client.get("/v1/decisions/stream", params={"startup": "true"}).json() == {"new": None, "deleted": None}
    d = _ban(engine, "203.0.113.9")
    r = client.get("/v1/decisions/stream", params={"startup": "false", "unknown_param": "x"}).json()
    (new,) = r["new"]
    assert r["deleted"] is None
    assert new["value"] == "203.0.113.9" and new["scope"] == "Ip" and new["type"] == "ban" and new["origin"] == "crowdsec"
    assert re.fullmatch(r"(\d+h)?(\d+m)?[\d.]+s", new["duration"]) and new["duration"].startswith("59m")
    assert client.get("/v1/decisions/stream").json() == {"new": None, "deleted": None}
    delete_decisions(engine, "203.0.113.9")
    r = client.get("/v1/decisions/stream").json()
    assert [x["id"] for x in r["deleted"]] == [d.id] and r["new"] is None
    r = client.get("/v1/decisions/stream", params={"startup": "true"}).json()
    assert r["new"] is None


def test_stream_filters(lapi):
    _, engine, client = lapi
    _ban(engine, "203.0.113.1", reason="ssh brute force")
    _ban(engine, "198.51.100.0/24", scope="range", origin="analyst", reason="web scan")
    _ban(engine, "FR", scope="country", reason="policy")
    _ban(engine, "baduser", scope="user", reason="spray")
    def vals(**p):
        r = client.get("/v1/decisions/stream", params={"startup": "true", **p}).json()
        return sorted(x["value"] for x in r["new"] or [])
    assert vals() == ["198.51.100.0/24", "203.0.113.1"]  # default scopes: ip,range
    assert vals(scopes="ip,range,country,username") == ["198.51.100.0/24", "203.0.113.1", "FR", "baduser"]
    assert vals(origins="cscli") == ["198.51.100.0/24"]
    assert vals(scenarios_containing="brute") == ["203.0.113.1"]
    assert vals(scenarios_not_containing="brute") == ["198.51.100.0/24"]
    assert client.head("/v1/decisions/stream").status_code == 200


def test_get_decisions(lapi):
    _, engine, client = lapi
    assert client.get("/v1/decisions", params={"ip": "203.0.113.1"}).json() is None
    _ban(engine, "203.0.113.1")
    _ban(engine, "198.51.100.0/24", scope="range", type_="captcha")
    assert [x["value"] for x in client.get("/v1/decisions", params={"ip": "203.0.113.1"}).json()] == ["203.0.113.1"]
    assert [x["value"] for x in client.get("/v1/decisions", params={"ip": "198.51.100.77"}).json()] == ["198.51.100.0/24"]
    assert [x["type"] for x in client.get("/v1/decisions", params={"range": "198.51.100.0/25"}).json()] == ["captcha"]
    assert client.get("/v1/decisions", params={"scope": "ip", "value": "203.0.113.1"}).json()[0]["scope"] == "Ip"
    assert client.get("/v1/decisions", params={"ip": "203.0.113.1", "type": "captcha"}).json() is None
    assert client.head("/v1/decisions", params={"ip": "203.0.113.1"}).status_code == 200
    assert client.post("/v1/usage-metrics", json={"remediation_components": []}).status_code == 201


def test_expired_decision_is_deleted_in_stream(lapi):
    _, engine, client = lapi
    _ban(engine, "203.0.113.2", seconds=1)
    client.get("/v1/decisions/stream", params={"startup": "true"})
    time.sleep(1.2)
    r = client.get("/v1/decisions/stream").json()
    assert [x["value"] for x in r["deleted"]] == ["203.0.113.2"]


def test_go_duration():
    assert go_duration(3 * 3_600_000_000 + 59 * 60_000_000 + 58_500_000) == "3h59m58.5s"
    assert go_duration(12_000_000) == "12s" and go_duration(0) == "0s" and go_duration(60_000_000) == "1m0s"


def test_manual_ban_refuses_protected_and_bad_input(lapi, tmp_path):
    cfg, engine, _ = lapi
    from garrison.errors import GarrisonError

    with pytest.raises(GarrisonError, match="private address"):
        manual_ban(cfg, engine, "192.168.1.5")
    with pytest.raises(GarrisonError, match="not a valid ip"):
        manual_ban(cfg, engine, "999.1.1.1")
    with pytest.raises(GarrisonError, match="not a duration"):
        manual_ban(cfg, engine, "203.0.113.3", duration="forever")
