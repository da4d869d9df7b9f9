"""One attacker's playbook at several members: incidents shared as sanitised summaries (``cluster.share: [incidents]``)
and compared on the hub by their chain of ATT&CK techniques.

A summary is a STIX grouping of ``attack-pattern`` objects, the incident's techniques (parent techniques, so two
members' rule sets that name T1110.001 and T1110.003 agree) in the order first seen, with its severity, detection
count and times. Nothing else of the incident leaves: no title, host, user, address or rule text. Its id is a keyed
hash of the incident's number (HMAC under the member's own key), so the member finds its incident again and the hub
cannot.

The hub raises a cluster incident when two members' chains share an ordered run of techniques (their longest common
subsequence) of at least ``chain_min`` techniques that is also ``chain_similarity`` of the longer chain: Empire's
PsExec and its SMBExec lateral movement (12 of 13) match; an Empire PsExec and a WMI stager, which share only
PowerShell, obfuscation and discovery (5 of 13), do not.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select, update

from garrison.cluster.share import _iso
from garrison.store import state as S
from garrison.store import state_cluster as C
from garrison.store.records import audit

US = 1_000_000
LABEL = "incident-summary"
CLUSTER_REASON = "the same attacker hit other members of the cluster"
_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
MAX_SUMMARIES = 500  # per push, the newest first
MAX_TECHNIQUES = 64  # per summary
MAX_COMPARED = 20_000  # the other members' newest summaries a new one is compared with


def keyed_id(key: str, incident_id: int) -> str:
    """The summary's STIX id: the member can recompute it from its incident, the hub (without the key) cannot."""
    digest = hmac.new(key.encode(), f"garrison:incident:{incident_id}".encode(), hashlib.sha256).digest()
    return f"grouping--{uuid.UUID(bytes=digest[:16], version=4)}"


def pattern_id(technique: str) -> str:
    return f"attack-pattern--{uuid.uuid5(_NAMESPACE, 'mitre-attack:' + technique)}"


def chain_of(tag_lists: list[list[str]]) -> list[str]:
    """Parent techniques in the order first seen, from detections' tags in time order."""
    out: list[str] = []
    for tags in tag_lists:
        for t in tags:
            if t.startswith("attack.t") and t[8:9].isdigit():
                p = t[7:].upper().split(".")[0]
                if p not in out:
                    out.append(p)
    return out[:MAX_TECHNIQUES]


def summaries(engine: Engine, key: str, identity: str, marking: str, chain_min: int, since_us: int) -> list[Any]:
    """STIX objects for our incidents updated since ``since_us`` whose chain has ``chain_min`` techniques or more."""
    import stix2

    i, d, j = S.incidents, S.detections, S.incident_detections
    with engine.connect() as c:
        incs = c.execute(select(i.c.id, i.c.severity, i.c.first_seen, i.c.last_seen, i.c.updated_at).where(
            i.c.updated_at >= since_us, i.c.reason != CLUSTER_REASON).order_by(i.c.updated_at.desc()).limit(MAX_SUMMARIES)).all()
        tags: dict[int, list[list[str]]] = {}
        for iid, t in c.execute(select(j.c.incident_id, d.c.tags).join(d, d.c.id == j.c.detection_id).where(
                j.c.incident_id.in_([r[0] for r in incs])).order_by(j.c.incident_id, d.c.timestamp, d.c.id)):
            tags.setdefault(iid, []).append(orjson.loads(t))
    objs: list[Any] = []
    patterns: dict[str, Any] = {}
    for iid, severity, first, last, updated in incs:
        chain = chain_of(tags.get(iid, []))
        if len(chain) < chain_min:
            continue
        for t in chain:
            if t not in patterns:
                patterns[t] = stix2.AttackPattern(
                    id=pattern_id(t), name=t, created="2026-01-01T00:00:00.000Z", modified="2026-01-01T00:00:00.000Z",
                    external_references=[{"source_name": "mitre-attack", "external_id": t,
                                          "url": f"https://attack.mitre.org/techniques/{t}/"}])
        n = len(tags.get(iid, []))
        objs.append(stix2.Grouping(
            id=keyed_id(key, iid), context="suspicious-activity", name=f"Incident summary: {' → '.join(chain)}"[:250],
            description=f"A {severity} incident: {n} detection{'s' * (n != 1)} from {_iso(first)} to {_iso(last)}; "
                        "its ATT&CK techniques in the order first seen.",
            object_refs=[pattern_id(t) for t in chain], labels=[LABEL], created_by_ref=identity,
            object_marking_refs=[marking], created=_iso(updated), modified=_iso(updated)))
    return list(patterns.values()) + objs


def lcs(a: list[str], b: list[str]) -> list[str]:
    """The longest run of techniques in both chains in the same order (not necessarily adjacent)."""
    m = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for x in range(len(a) - 1, -1, -1):
        for y in range(len(b) - 1, -1, -1):
            m[x][y] = m[x + 1][y + 1] + 1 if a[x] == b[y] else max(m[x + 1][y], m[x][y + 1])
    out, x, y = [], 0, 0
    while x < len(a) and y < len(b):
        if a[x] == b[y]:
            out.append(a[x])
            x, y = x + 1, y + 1
        elif m[x + 1][y] >= m[x][y + 1]:
            x += 1
        else:
            y += 1
    return out


def _techniques(c: Any, body: dict[str, Any], known: dict[str, str]) -> list[str]:
    refs = [str(r) for r in body.get("object_refs", []) if str(r).startswith("attack-pattern--")]
    missing = [r for r in refs if r not in known]
    if missing:
        for sid, b in c.execute(select(C.cluster_objects.c.stix_id, C.cluster_objects.c.body).where(
                C.cluster_objects.c.stix_id.in_(missing))):
            ext = [e for e in orjson.loads(b).get("external_references", []) if e.get("source_name") == "mitre-attack"]
            if ext:
                known[sid] = str(ext[0].get("external_id", ""))
    return [known[r] for r in refs if r in known][:MAX_TECHNIQUES]


def mark(c: Any, key: str, member: str, at: int) -> None:
    """A member's sighting under ``key`` (an indicator, a range, a chain) in the hub's memory."""
    t = C.cluster_sightings
    old = c.execute(select(t.c.count, t.c.last_seen).where(t.c.value == key, t.c.member == member)).first()
    if old:
        c.execute(update(t).where(t.c.value == key, t.c.member == member).values(last_seen=max(at, old[1]), count=old[0] + 1))
    else:
        c.execute(insert(t).values(value=key[:512], member=member, first_seen=at, last_seen=at, count=1))


def correlate(c: Any, rows: list[dict[str, Any]], member: str, now: int, collection: str, window_us: int,
              chain_min: int, similarity: float) -> None:
    """Each summary just pushed against the other members' summaries of the window (their newest versions)."""
    import stix2

    pushed = [(r["stix_id"], orjson.loads(r["body"])) for r in rows if r["type"] == "grouping"]
    pushed = [(sid, b) for sid, b in pushed if LABEL in b.get("labels", [])]
    if not pushed:
        return
    known = {r["stix_id"]: ext["external_id"] for r in rows if r["type"] == "attack-pattern"
             for ext in orjson.loads(r["body"]).get("external_references", []) if ext.get("source_name") == "mitre-attack"}
    t = C.cluster_objects
    others: dict[str, tuple[str, list[str]]] = {}
    recent = c.execute(select(t.c.stix_id, t.c.member, t.c.body).where(
        t.c.type == "grouping", t.c.member != member, t.c.added_at >= now - window_us).order_by(t.c.id.desc()).limit(MAX_COMPARED)).all()
    for sid, m, body in reversed(recent):
        b = orjson.loads(body)
        if LABEL in b.get("labels", []):
            others[sid] = (m, _techniques(c, b, known))  # later versions replace earlier ones
    for sid, body in pushed:
        mine = _techniques(c, body, known)
        matches = []
        for osid, (om, theirs) in others.items():
            common = lcs(mine, theirs)
            if len(common) >= chain_min and len(common) >= similarity * max(len(mine), len(theirs)):
                matches.append((len(common), om, osid, common))
        if not matches:
            continue
        _, _, _, common = max(matches)
        chain_key = "chain:" + ">".join(common)
        refs = [sid] + [osid for _, _, osid, cm in matches if cm == common]
        everyone = sorted({member} | {om for _, om, _, cm in matches if cm == common})
        sights = C.cluster_sightings
        named = {m for m, at in c.execute(select(sights.c.member, sights.c.incident_at).where(sights.c.value == chain_key[:512]))
                 if at is not None and at >= now - window_us}
        for m in everyone:
            mark(c, chain_key, m, now)
        if set(everyone) <= named:
            continue
        shown = " → ".join(common)
        g = stix2.Grouping(context="suspicious-activity", name=f"The same technique chain at {len(everyone)} members: {shown}"[:250],
                           description="Seen at: " + ", ".join(everyone), object_refs=refs,
                           labels=["cluster-incident", "technique-chain"])
        c.execute(insert(t).values(collection=collection, stix_id=g.id, type="grouping", version=str(g.modified),
                                   added_at=now, member="hub", body=g.serialize()))
        c.execute(update(sights).where(sights.c.value == chain_key[:512], sights.c.member.in_(everyone)).values(incident_at=now))
        audit(c, "hub", "cluster.incident", f"chain:{shown}"[:256], {"members": everyone})


def ours(engine: Engine, key: str, refs: list[str], since_us: int) -> int | None:
    """Our incident behind one of a cluster incident's summaries: the keyed ids recomputed for our recent incidents."""
    wanted = set(refs)
    i = S.incidents
    with engine.connect() as c:
        for (iid,) in c.execute(select(i.c.id).where(i.c.updated_at >= since_us).order_by(i.c.id.desc()).limit(10 * MAX_SUMMARIES)):
            if keyed_id(key, iid) in wanted:
                return int(iid)
    return None
