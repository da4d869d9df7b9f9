"""Fuzzing what the cluster reads from others: TAXII envelopes pushed to the hub, MISP feed manifests and events.

Invariant: a hostile body is refused with a reason (4xx, a failed object in the status, a GarrisonError), never a
server error, and nothing but STIX objects of shareable types is stored."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from garrison.cluster import hub
from garrison.cluster.share import import_misp_feed
from garrison.config import load_config
from garrison.errors import GarrisonError
from garrison.store import open_state
from garrison.web.app import create_app
from tests.fuzz.test_fuzz import FUZZ

JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                       max_leaves=12)
INDICATOR = {"type": "indicator", "spec_version": "2.1", "id": "indicator--3f0a2c4e-1b2d-4c5e-8f9a-0b1c2d3e4f50",
             "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z", "pattern_type": "stix",
             "pattern": "[ipv4-addr:value = '203.0.113.9']", "valid_from": "2026-12-01T00:00:00Z"}


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory):
    d = tmp_path_factory.mktemp("hub")
    cfg = load_config(None, data_dir=str(d), cluster={"role": "hub", "max_content_bytes": 100_000})
    engine = open_state(d)
    key = hub.add_member(engine, "fuzzer", "test")
    hub.add_member(engine, "neighbour", "test")  # summaries are compared across members only
    return TestClient(create_app(cfg, engine, lambda r: 0)), key, engine


@FUZZ
@given(body=st.one_of(JSONISH.map(json.dumps), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.lists(JSONISH, max_size=5).map(lambda objs: json.dumps({"objects": objs})),
                      st.dictionaries(st.sampled_from(list(INDICATOR)), JSONISH, max_size=4).map(
                          lambda poke: json.dumps({"objects": [{**INDICATOR, **poke}]}))))
def test_taxii_pushes(hub_app, body):
    client, key, _ = hub_app
    r = client.post(f"/taxii2/cluster/collections/{hub.SHARED}/objects/", content=body, auth=("fuzzer", key),
                    headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert r.status_code in (202, 400, 413), (r.status_code, r.text[:300])
    if r.status_code == 202:
        st_ = r.json()
        assert st_["success_count"] + st_["failure_count"] == st_["total_count"]


SUMMARY = {"type": "grouping", "spec_version": "2.1", "id": "grouping--3f0a2c4e-1b2d-4c5e-8f9a-0b1c2d3e4f51",
           "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z", "context": "suspicious-activity",
           "labels": ["incident-summary"], "object_refs": ["attack-pattern--3f0a2c4e-1b2d-4c5e-8f9a-0b1c2d3e4f52"]}
PATTERN = {"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--3f0a2c4e-1b2d-4c5e-8f9a-0b1c2d3e4f52",
           "created": "2026-12-01T00:00:00.000Z", "modified": "2026-12-01T00:00:00.000Z", "name": "T1021",
           "external_references": [{"source_name": "mitre-attack", "external_id": "T1021"}]}


@FUZZ
@given(poke=st.dictionaries(st.sampled_from(["object_refs", "labels", "name", "modified"]), JSONISH, max_size=3),
       ext=JSONISH)
def test_incident_summaries(hub_app, poke, ext):
    """Technique-chain summaries with hostile references and attack patterns: taken or refused, never a 500."""
    client, key, _ = hub_app
    body = json.dumps({"objects": [{**PATTERN, "external_references": ext if isinstance(ext, list) else [ext]},
                                   {**SUMMARY, **poke}, {**SUMMARY, "id": SUMMARY["id"][:-1] + "3"}]})
    r = client.post(f"/taxii2/cluster/collections/{hub.SHARED}/objects/", content=body, auth=("fuzzer", key),
                    headers={"Content-Type": "application/taxii+json;version=2.1"})
    assert r.status_code == 202, (r.status_code, r.text[:300])
    # the neighbour's summary is compared with the fuzzer's (pushed straight to the hub's code: its key is not kept)
    st_ = hub.add_objects(hub_app[2], hub.SHARED, [{**SUMMARY, **poke, "id": SUMMARY["id"][:-1] + "4"}], "neighbour", (1, 0.0, 1.0))
    assert st_["success_count"] + st_["failure_count"] == 1


def test_only_shareable_objects_are_stored(hub_app):
    _, _, engine = hub_app
    from sqlalchemy import select

    from garrison.store import state_cluster as C

    with engine.connect() as c:
        types = {r[0] for r in c.execute(select(C.cluster_objects.c.type))}
    assert types <= hub.ALLOWED


@FUZZ
@given(manifest=JSONISH, event=JSONISH)
def test_misp_feed_reader(tmp_path_factory, manifest, event):
    d = tmp_path_factory.mktemp("feed")
    uid = "5a1e7c58-0000-4000-8000-000000000009"
    (d / "manifest.json").write_text(json.dumps({uid: manifest} if isinstance(manifest, dict) else manifest))
    (d / f"{uid}.json").write_text(json.dumps(event))
    cfg = load_config(None, data_dir=str(d / "data"))
    try:
        import_misp_feed(cfg, str(d), "fuzz")
    except GarrisonError as e:
        assert str(e)
