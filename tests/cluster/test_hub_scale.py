"""The hub with 50 members (issue 22): each pushes its bans and sightings (100 attackers, one of them common to
all); the hub takes every push, raises cluster incidents as members join, and the last names all 50. Timings are
printed for the closing note, never asserted."""

from __future__ import annotations

import time

import orjson

from garrison.cluster import hub
from garrison.cluster.share import Shared, stix_bundle
from garrison.store import open_state
from garrison.store import state_cluster as C

COMMON = "198.51.100.66"


def test_fifty_members(tmp_path):
    engine = open_state(tmp_path)
    now = int(time.time() * 1e6)
    pushes = []
    t0 = time.perf_counter()
    for m in range(50):
        items = [Shared("ip", f"192.0.{m}.{i + 1}", now, now + 3600_000_000, "attacker banned", 75) for i in range(99)]
        items.append(Shared("ip", COMMON, now, now + 3600_000_000, "attacker banned", 75))
        objs = orjson.loads(stix_bundle(items, f"Member {m:02d}"))["objects"]
        t = time.perf_counter()
        st = hub.add_objects(engine, hub.SHARED, objs, f"member{m:02d}")
        pushes.append(time.perf_counter() - t)
        assert st["success_count"] == len(objs) == 202 and st["failure_count"] == 0
    total = time.perf_counter() - t0
    with engine.connect() as c:
        groupings = [orjson.loads(r[0]) for r in c.execute(
            C.cluster_objects.select().with_only_columns(C.cluster_objects.c.body).where(C.cluster_objects.c.collection == hub.INCIDENTS)
            .order_by(C.cluster_objects.c.id))]
    assert len(groupings) == 49  # one as each member after the first sees the common attacker
    assert groupings[-1]["description"].count(",") == 49 and "member49" in groupings[-1]["description"]
    t = time.perf_counter()
    got, after = 0, 0
    while True:
        objs, nxt, _, _ = hub.objects(engine, hub.SHARED, None, 500, after)
        got += len(objs)
        if nxt is None:
            break
        after = nxt
    poll = time.perf_counter() - t
    assert got == 50 * 202 - 49  # the TLP marking definition is one object, held once
    print(f"50 members x 202 objects: {total:.1f} s in all, a push {sorted(pushes)[25] * 1000:.0f} ms (median), "
          f"{max(pushes) * 1000:.0f} ms (slowest); polling all {got:,} objects in pages of 500: {poll:.2f} s")


def _push(engine, member: str, ip: str) -> None:
    now = int(time.time() * 1e6)
    objs = orjson.loads(stix_bundle([Shared("ip", ip, now, now + 3600_000_000, "attacker banned", 75)], member.capitalize()))["objects"]
    hub.add_objects(engine, hub.SHARED, objs, member)


def _groupings(engine) -> list[str]:
    with engine.connect() as c:
        return [orjson.loads(r[0])["name"] for r in c.execute(
            C.cluster_objects.select().with_only_columns(C.cluster_objects.c.body).where(C.cluster_objects.c.collection == hub.INCIDENTS)
            .order_by(C.cluster_objects.c.id))]


def test_one_operator_across_a_range(tmp_path):
    """Different addresses of one /24 at different members are one cluster incident on the range; the same address at
    two members is one incident on the address, not a second on its range."""
    engine = open_state(tmp_path / "a")
    _push(engine, "hospital", "203.0.113.10")
    _push(engine, "airport", "203.0.113.20")
    assert _groupings(engine) == ["The same attacker at 2 members: 203.0.113.0/24"]
    _push(engine, "council", "198.51.100.5")
    assert len(_groupings(engine)) == 1  # a third member elsewhere: nothing
    engine = open_state(tmp_path / "b")
    _push(engine, "hospital", "203.0.113.10")
    _push(engine, "airport", "203.0.113.10")
    assert _groupings(engine) == ["The same attacker at 2 members: 203.0.113.10"]
