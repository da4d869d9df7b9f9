"""The hub with 50 members (issue 22): each pushes its bans and sightings (100 attackers, one of them common to
all); the hub takes every push, raises cluster incidents as members join, and the last names all 50. Timings are
printed for the closing note, never asserted."""

from __future__ import annotations

import time
import uuid

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


def test_fifty_members_technique_chains(tmp_path):
    """50 members push 15 incident summaries each (a day's worth): random chains of 4-8 techniques, plus one chain
    every member shares. The common chain is one cluster incident as members join (49), random chains rarely
    match; the time to compare each push with every other member's summaries is printed."""
    import random

    import stix2

    from garrison.cluster import chains

    rng = random.Random(22)
    pool = [f"T{1000 + i}" for i in range(200)]
    common = ["T1566", "T1204", "T1059", "T1021", "T1003"]
    engine = open_state(tmp_path)
    marking = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
    pushes = []
    for m in range(50):
        me = f"identity--{uuid.uuid5(uuid.NAMESPACE_URL, str(m))}"
        objs = []
        for i in range(15):
            chain = common if i == 0 else rng.sample(pool, rng.randint(4, 8))
            objs += [stix2.AttackPattern(id=chains.pattern_id(t), name=t, created="2026-01-01T00:00:00.000Z",
                                         modified="2026-01-01T00:00:00.000Z",
                                         external_references=[{"source_name": "mitre-attack", "external_id": t}]) for t in chain]
            objs.append(stix2.Grouping(id=chains.keyed_id(f"key{m}", i), context="suspicious-activity", name="summary",
                                       object_refs=[chains.pattern_id(t) for t in chain], labels=[chains.LABEL],
                                       created_by_ref=me, object_marking_refs=[marking]))
        t = time.perf_counter()
        hub.add_objects(engine, hub.SHARED, [orjson.loads(o.serialize()) for o in objs], f"member{m:02d}")
        pushes.append(time.perf_counter() - t)
    names = [n for n in _groupings(engine) if n.startswith("The same technique chain")]
    on_common = [n for n in names if n.endswith(" → ".join(common))]
    assert len(on_common) == 49 and on_common[-1].startswith("The same technique chain at 50 members")
    print(f"50 members x 15 summaries: a push {sorted(pushes)[25] * 1000:.0f} ms (median), {max(pushes) * 1000:.0f} ms "
          f"(slowest, against {49 * 15} summaries); {len(names) - len(on_common)} matches among the random chains")
