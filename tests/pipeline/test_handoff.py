"""Hand-offs between workers, without servers: two workers' Sigma engines see half of a botnet each (loghub's
real failed-password lines, 7 addresses on each side); their hits go through the state database to the owner of
the user's partition, which fires distributed brute force once with all 14 events as evidence. A new owner
rebuilds the same state from the hand-offs already read. Hostile event values are carried or refused, never a
crash."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from garrison.config import load_config
from garrison.detect.sigma.stage import compiled_engine
from garrison.model import RawRecord
from garrison.model.detection import Detection
from garrison.parse import ParseState, parse_record
from garrison.pipeline import handoff
from garrison.store import open_state
from garrison.store import state_bus as B
from tests.e2e.test_scale_handoff import DISTRIBUTED, _botnet, _half
from tests.fuzz.test_fuzz import FUZZ

RULES = "garrison/detect/rules"


def _engine(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path))
    e = compiled_engine(cfg, [RULES])
    moved = e.correlation.hand_off_unless("source.ip")
    assert DISTRIBUTED in moved and "garrison_brute_force" not in moved
    return e


def _events():
    lines, _ = _botnet()
    st_ = ParseState(source="auth.log", reference_us=int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1e6))
    evs = [parse_record(RawRecord(text=line, source="auth.log"), st_) for line, _ in lines]
    for i, ev in enumerate(evs):
        ev["event.id"] = 1000 + i  # as the commit numbers them
        ev["organization.id"] = "default"
    return evs


def test_two_workers_one_owner(tmp_path):
    state = open_state(tmp_path / "state")
    workers = [_engine(tmp_path / "w0"), _engine(tmp_path / "w1")]
    local = []
    for ev in _events():
        local += workers[_half(ev["source.ip"])].match(ev)
    assert DISTRIBUTED not in {d.rule_id for d in local}  # neither worker alone would see it
    with state.begin() as c:
        for w in workers:
            handoff.write(c, w.correlation.handed, 8)
    with state.connect() as c:
        rows = c.execute(select(B.bus_handoffs)).all()
    assert {r.correlation for r in rows} >= {DISTRIBUTED} and all("event.original" not in r.event for r in rows)
    assert len({r.partition for r in rows if r.correlation == DISTRIBUTED}) == 1  # one user, one owner

    owner = _engine(tmp_path / "owner")
    h = handoff.Handoffs(state, 8)
    h.load_marks(set(range(8)))
    got = h.read(set(range(8)))
    fired = [d for d in h.feed(owner.correlation, got) if d.rule_id == DISTRIBUTED]
    assert len(fired) == 1 and fired[0].group == {"user.name": "root"}
    assert sorted(e["event.id"] for e in fired[0].evidence) == list(range(1000, 1010))
    with state.begin() as c:
        handoff.Handoffs.save(c, h.advance(got))

    # a new owner (the first died) rebuilds the state from what was read: the window fired as it did (discarded)
    again = _engine(tmp_path / "again")
    h2 = handoff.Handoffs(state, 8)
    h2.load_marks(set(range(8)))
    assert h2.read(set(range(8))) == []
    rebuilt = h2.feed(again.correlation, h2.read(set(range(8)), upto=True))
    assert [d.rule_id for d in rebuilt if d.rule_id == DISTRIBUTED] == [DISTRIBUTED]  # the rebuild's own, discarded
    assert h2.waiting(set(range(8))) == 0


@pytest.fixture(scope="module")
def shared_owner(tmp_path_factory):
    return _engine(tmp_path_factory.mktemp("o"))


@FUZZ
@given(value=st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=30)
                          | st.binary(max_size=8), lambda inner: st.lists(inner, max_size=3), max_leaves=6),
       user=st.text(max_size=40))
def test_hostile_values_travel(shared_owner, value, user):
    corr = shared_owner.correlation
    target = next(c for c in corr.correlations if c.info.id == DISTRIBUTED)
    ev = {"@timestamp": 1_800_000_000_000_000, "event.id": 1, "source.ip": "203.0.113.5", "user.name": user,
          "event.odd": value, "event.original": "x" * 100}
    rows = handoff.rows([(target, "garrison_auth_failure", Detection("r", "t", "low", [], 1, ev))], 8)
    for r in rows:
        assert "event.original" not in r["event"] and 0 <= r["partition"] < 8
        _, _, d = handoff._detection(SimpleNamespace(id=1, **r))  # what the owner reads back
        assert d.event["user.name"] == user and d.timestamp == 1


def test_an_unreadable_hand_off_is_skipped_and_counted(tmp_path):
    state = open_state(tmp_path / "state")
    with state.begin() as c:
        c.execute(B.bus_handoffs.insert(), [{"partition": 1, "correlation": DISTRIBUTED, "ref": "x", "ts": 1, "event": "{not json"},
                                            {"partition": 1, "correlation": DISTRIBUTED, "ref": "x", "ts": 2, "event": "{}"}])
    h = handoff.Handoffs(state, 8)
    h.load_marks({1})
    assert h.feed(_engine(tmp_path / "o").correlation, h.read({1})) == [] and h.unreadable == 2
