"""The cluster hub's store: members and their keys, and the STIX objects they share, served as TAXII 2.1
collections (``garrison/web/taxii.py``).

A member's key is 256 random bits shown once (``garrison cluster members add NAME``); the hub keeps its SHA-256.
Objects pushed are checked to be STIX 2.1 (``stix2``), never raw events: only indicators, sightings,
identities, marking definitions, groupings and notes are taken; anything else is refused and counted in the push's
status. Each exchange is in the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update

from garrison.errors import GarrisonError
from garrison.store import state_cluster as C
from garrison.store.records import audit

US = 1_000_000
SHARED = str(uuid.uuid5(uuid.NAMESPACE_URL, "garrison:cluster:shared"))
INCIDENTS = str(uuid.uuid5(uuid.NAMESPACE_URL, "garrison:cluster:incidents"))
COLLECTIONS = {SHARED: ("Shared indicators and sightings", "Attackers, phishing and sightings the members share", True),
               INCIDENTS: ("Cluster incidents", "The same attacker seen by more than one member", False)}
ALLOWED = {"indicator", "sighting", "identity", "marking-definition", "grouping", "note", "relationship", "observed-data"}
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


def add_objects(engine: Engine, collection: str, objects: list[Any], member: str) -> dict[str, Any]:
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
    with engine.begin() as c:
        if rows:
            c.execute(insert(C.cluster_objects), rows)
        c.execute(insert(C.cluster_status).values(id=sid, member=member, created_at=now, total=len(objects),
                                                  success=len(rows), failure=len(refused), detail=orjson.dumps(refused).decode()))
        audit(c, member, "cluster.push", f"collection:{collection}", {"added": len(rows), "refused": len(refused)})
    return status(engine, sid) or {}


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
