"""The cluster hub's store: members and their keys, and the STIX objects they share, served as TAXII 2.1
collections (``garrison/web/taxii.py``).

A member's key is 256 random bits shown once (``garrison cluster members add NAME``); the hub keeps its SHA-256.
Objects pushed are checked to be STIX 2.1 (``stix2``), never raw events: only indicators, sightings,
identities, marking definitions, groupings and notes are taken; anything else is refused and counted in the push's
status. Each exchange is in the audit log.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update

from garrison.cluster import chains
from garrison.cluster.share import _VALUE_OF
from garrison.errors import GarrisonError
from garrison.store import state_cluster as C
from garrison.store.records import audit

US = 1_000_000
SHARED = str(uuid.uuid5(uuid.NAMESPACE_URL, "garrison:cluster:shared"))
INCIDENTS = str(uuid.uuid5(uuid.NAMESPACE_URL, "garrison:cluster:incidents"))
COLLECTIONS = {SHARED: ("Shared indicators and sightings", "Attackers, phishing and sightings the members share", True),
               INCIDENTS: ("Cluster incidents", "The same attacker seen by more than one member", False)}
ALLOWED = {"indicator", "sighting", "identity", "marking-definition", "grouping", "note", "relationship", "observed-data",
           "attack-pattern"}
MAX_OBJECTS = 5_000  # per push


def add_member(engine: Engine, name: str, actor: str) -> str:
    """A new member; returns its key (shown once, kept only as a hash)."""
    key = secrets.token_urlsafe(32)
    with engine.begin() as c:
        if c.execute(select(C.cluster_members.c.id).where(C.cluster_members.c.name == name)).first():
            raise GarrisonError(f"a member named {name!r} exists already")
        c.execute(insert(C.cluster_members).values(name=name, key_hash=hashlib.sha256(key.encode()).hexdigest(),
                                                   created_at=int(time.time() * US)))
        audit(c, actor, "cluster.member.add", f"member:{name}", {})
    return key


def member_of(engine: Engine, key: str) -> str | None:
    h = hashlib.sha256(key.encode()).hexdigest()
    with engine.begin() as c:
        row = c.execute(select(C.cluster_members.c.name).where(C.cluster_members.c.key_hash == h)).first()
        if row is not None:
            c.execute(update(C.cluster_members).where(C.cluster_members.c.key_hash == h).values(last_seen=int(time.time() * US)))
    return str(row[0]) if row else None


def members(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [{"name": r[0], "created_at": r[1], "last_seen": r[2]}
                for r in c.execute(select(C.cluster_members.c.name, C.cluster_members.c.created_at, C.cluster_members.c.last_seen))]


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def add_objects(engine: Engine, collection: str, objects: list[Any], member: str, chain: tuple[int, float, float] = (3, 0.6, 7.0)
                ) -> dict[str, Any]:
    """A member's push (a TAXII envelope's objects): each STIX 2.1 object of an allowed type is added; the status."""
    import stix2
    from stix2.exceptions import STIXError

    if collection not in COLLECTIONS or not COLLECTIONS[collection][2]:
        raise GarrisonError("this collection cannot be written")
    now = int(time.time() * US)
    rows, refused = [], []
    for o in objects[:MAX_OBJECTS]:
        try:
            if not isinstance(o, dict) or o.get("spec_version") not in (None, "2.1"):
                raise ValueError("not a STIX 2.1 object")
            if o.get("type") not in ALLOWED:
                raise ValueError(f"objects of type {o.get('type')!r} are not shared through the hub")
            parsed = stix2.parse(o, allow_custom=False)
            version = str(getattr(parsed, "modified", None) or getattr(parsed, "created", None) or "")
            rows.append({"collection": collection, "stix_id": parsed.id, "type": parsed.type, "version": version,
                         "added_at": now, "member": member, "body": parsed.serialize()})
        except (STIXError, ValueError, TypeError, KeyError) as e:
            refused.append({"id": str(o.get("id") if isinstance(o, dict) else "?")[:128], "message": str(e)[:200]})
    refused += [{"id": "?", "message": f"more than {MAX_OBJECTS} objects in one push"}] * (len(objects) > MAX_OBJECTS)
    sid = str(uuid.uuid4())
    taken = len(rows)  # a version already held counts as taken: it is there, once
    with engine.begin() as c:
        if rows:  # a version already held is not added twice (TAXII keeps versions, not copies)
            t = C.cluster_objects
            held = {(r[0], r[1]) for r in c.execute(select(t.c.stix_id, t.c.version).where(
                t.c.collection == collection, t.c.stix_id.in_([x["stix_id"] for x in rows])))}
            rows = [x for x in rows if (x["stix_id"], x["version"]) not in held]
        if rows:
            c.execute(insert(C.cluster_objects), rows)
            _correlate(c, rows, member, now)
            chains.correlate(c, rows, member, now, INCIDENTS, int(chain[2] * 86400 * US), chain[0], chain[1])
        c.execute(insert(C.cluster_status).values(id=sid, member=member, created_at=now, total=len(objects),
                                                  success=taken, failure=len(objects) - taken, detail=orjson.dumps(refused).decode()))
        audit(c, member, "cluster.push", f"collection:{collection}", {"added": len(rows), "held": taken - len(rows),
                                                                       "refused": len(refused)})
    return status(engine, sid) or {}


def log_poll(engine: Engine, member: str, collection: str, n: int) -> None:
    """A member took objects from a collection: in the hub's audit log, as pushes are."""
    with engine.begin() as c:
        audit(c, member, "cluster.poll", f"collection:{collection}", {"objects": n})


def status(engine: Engine, sid: str) -> dict[str, Any] | None:
    with engine.connect() as c:
        r = c.execute(select(C.cluster_status).where(C.cluster_status.c.id == sid)).mappings().first()
    if r is None:
        return None
    failures = orjson.loads(r["detail"])
    return {"id": r["id"], "status": "complete", "request_timestamp": iso(r["created_at"]), "total_count": r["total"],
            "success_count": r["success"], "failure_count": r["failure"], "pending_count": 0,
            "failures": failures}


def objects(engine: Engine, collection: str, added_after: int | None, limit: int, after_id: int = 0,
            types: list[str] | None = None) -> tuple[list[dict[str, Any]], int | None, int | None, int | None]:
    """A page of a collection's objects in the order added: (objects, next id or None, first and last added times)."""
    t = C.cluster_objects
    q = select(t.c.id, t.c.added_at, t.c.body).where(t.c.collection == collection, t.c.id > after_id)
    if added_after is not None:
        q = q.where(t.c.added_at > added_after)
    if types:
        q = q.where(t.c.type.in_(types))
    with engine.connect() as c:
        rows = c.execute(q.order_by(t.c.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return ([orjson.loads(r[2]) for r in rows], rows[-1][0] if more else None,
            rows[0][1] if rows else None, rows[-1][1] if rows else None)


WINDOW_US = 24 * 3600 * US
MIN_MEMBERS = 2


def _indicator_value(c: Any, stix_id: str, pushed: dict[str, dict[str, Any]]) -> str | None:
    body = pushed.get(stix_id)
    if body is None:
        row = c.execute(select(C.cluster_objects.c.body).where(C.cluster_objects.c.stix_id == stix_id)
                        .order_by(C.cluster_objects.c.id.desc()).limit(1)).first()
        body = orjson.loads(row[0]) if row else None
    m = _VALUE_OF.search(str((body or {}).get("pattern", "")))
    return m.group(1) if m else None


def _range_of(value: str) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) an attacking address is in: one operator's addresses, usually."""
    try:
        a = ipaddress.ip_address(value)
    except ValueError:
        return None
    return str(ipaddress.ip_network(f"{a}/{24 if a.version == 4 else 48}", strict=False))


def _seen(c: Any, key: str, member: str, now: int) -> tuple[list[str], set[str]]:
    """Record a member's sighting under ``key``; who saw it within the window, and who an incident names already."""
    t = C.cluster_sightings
    chains.mark(c, key, member, now)
    seen = c.execute(select(t.c.member, t.c.incident_at).where(t.c.value == key, t.c.last_seen >= now - WINDOW_US)).all()
    return sorted(m for m, _ in seen), {m for m, at in seen if at is not None and at >= now - WINDOW_US}


def _raise(c: Any, keys: list[str], shown: str, everyone: list[str], ind: str, now: int) -> None:
    import stix2

    g = stix2.Grouping(context="suspicious-activity", name=f"The same attacker at {len(everyone)} members: {shown}"[:250],
                       description="Seen at: " + ", ".join(everyone), object_refs=[ind], labels=["cluster-incident"])
    c.execute(insert(C.cluster_objects).values(collection=INCIDENTS, stix_id=g.id, type="grouping", version=str(g.modified),
                                               added_at=now, member="hub", body=g.serialize()))
    t = C.cluster_sightings
    c.execute(update(t).where(t.c.value.in_(keys), t.c.member.in_(everyone)).values(incident_at=now))
    audit(c, "hub", "cluster.incident", f"indicator:{shown}", {"members": everyone})


def _correlate(c: Any, rows: list[dict[str, Any]], member: str, now: int) -> None:
    """Sightings of one attacker by several members within a day raise a cluster incident: a STIX grouping in the
    incidents collection naming every member that saw it ("also seen at"). The same indicator, or addresses of one
    range (different addresses of one /24 at different members: one operator working through the cluster)."""
    pushed = {r["stix_id"]: orjson.loads(r["body"]) for r in rows}
    for r in rows:
        if r["type"] != "sighting":
            continue
        ind = str(pushed[r["stix_id"]].get("sighting_of_ref"))
        value = _indicator_value(c, ind, pushed)
        if value is None:
            continue
        everyone, named = _seen(c, value, member, now)
        net = _range_of(value)
        if net is not None:
            in_range, range_named = _seen(c, "range:" + net, member, now)
        if len(everyone) >= MIN_MEMBERS and not set(everyone) <= named:
            # the range's rows are marked too: the same address is not reported twice, once more as its range
            _raise(c, [value] + (["range:" + net] if net else []), value, everyone, ind, now)
        elif net is not None and len(in_range) >= MIN_MEMBERS and not set(in_range) <= range_named:
            _raise(c, ["range:" + net], net, in_range, ind, now)
