"""A member's exchange with the cluster hub, run by ``garrison serve`` every ``cluster.sync_seconds``: our bans and
sightings pushed, the others' polled into our indicator lists and (``cluster.adopt_bans``) banned here too, and each
cluster incident naming us raised here as "also seen at" the other members. The hub being down is logged and
retried: nothing is lost, the next round catches up from the hub's own checkpoint times.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import requests
from sqlalchemy import Engine, and_, insert, select

from garrison.cluster import chains
from garrison.cluster.share import _VALUE_OF, collect, keep_bundle, push, read_since, stix_bundle
from garrison.config import Config, read_secret_from
from garrison.errors import GarrisonError
from garrison.model.decision import Decision
from garrison.model.inventory import load_inventory
from garrison.respond.decisions import add_decision
from garrison.respond.safety import protected_reason
from garrison.store import state as S
from garrison.store.records import audit
from garrison.triage.cases import comment

log = logging.getLogger("garrison.cluster")
US = 1_000_000
OPEN = ("new", "investigating", "contained")


def _key(config: Config) -> str:
    key = read_secret_from(config.cluster.key_file, None, "cluster.key")
    if not key:
        raise GarrisonError("cluster.key_file: the member key the hub issued is needed to exchange with it")
    return key


def _push_new(engine: Engine, config: Config, key: str, seen_file: Path) -> int:
    """Only what the hub has not had from us (by id and version), so a quiet day costs one small request."""
    cl = config.cluster
    objs = orjson.loads(stix_bundle(collect(engine, config), config.awareness.organisation, cl.tlp))["objects"]
    if "incidents" in cl.share:  # sanitised summaries: technique chains only, under keyed ids
        me, marking = objs[0]["id"], objs[1]["id"]
        since = int((time.time() - cl.chain_days * 86400) * US)
        objs += [orjson.loads(o.serialize()) for o in chains.summaries(engine, key, me, marking, cl.chain_min, since)]
    seen = set(seen_file.read_text().split()) if seen_file.exists() else set()
    new = [o for o in objs if f"{o['id']}@{o.get('modified', '')}" not in seen]
    if not [o for o in new if o["type"] not in ("identity", "marking-definition")]:
        return 0
    r = push(cl.hub_url, cl.member, key, orjson.dumps({"objects": new}).decode())
    seen_file.write_text("\n".join(sorted(seen | {f"{o['id']}@{o.get('modified', '')}" for o in new})))
    return int(r["success"])


def sync(engine: Engine, config: Config) -> dict[str, int]:
    """One exchange; returns what moved."""
    cl = config.cluster
    key = _key(config)
    out = {"pushed": 0, "received": 0, "adopted": 0, "incidents": 0}
    dest = Path(config.data_dir) / "intel" / "feeds" / "cluster"
    dest.mkdir(parents=True, exist_ok=True)
    out["pushed"] = _push_new(engine, config, key, dest / ".pushed")
    base = cl.hub_url.rstrip("/") + "/taxii2/cluster/collections/"
    with httpx.Client(auth=(cl.member, key), timeout=30, headers={"Accept": "application/taxii+json;version=2.1"}) as http:
        cols = {c["title"]: c["id"] for c in http.get(base).raise_for_status().json().get("collections", [])}
        shared = read_since(http, f"{base}{cols['Shared indicators and sightings']}/objects/", dest / ".added_after")
        groupings = read_since(http, f"{base}{cols['Cluster incidents']}/objects/", dest / ".incidents_after")
    keep_bundle(dest, shared)
    out["received"] = len(shared)
    if cl.adopt_bans:
        out["adopted"] = _adopt(engine, config, shared)
    for g in groupings:
        out["incidents"] += _same_chain(engine, config, key, g) if "technique-chain" in g.get("labels", []) else \
            _also_seen(engine, config, g)
    if any(out.values()):  # every exchange that moved something is in our audit log too
        with engine.begin() as c:
            audit(c, "cluster", "cluster.sync", f"hub:{cl.hub_url}", out)
    return out


def _adopt(engine: Engine, config: Config, objs: list[dict[str, Any]]) -> int:
    """The others' banned addresses banned here (origin "feed"), except our own, partners' and special ranges."""
    me = config.awareness.organisation
    names = {o["id"]: o.get("name", "") for o in objs if o.get("type") == "identity"}
    inv = load_inventory(config.enrich.inventory)
    now = int(time.time() * US)
    n = 0
    for o in objs:
        if o.get("type") != "indicator" or names.get(str(o.get("created_by_ref"))) == me:
            continue
        m = _VALUE_OF.search(str(o.get("pattern", "")))
        if not m or not str(o.get("pattern", "")).startswith(("[ipv4-addr", "[ipv6-addr")):
            continue
        value = m.group(1)
        scope = "range" if "/" in value else "ip"
        if protected_reason(scope, value, inv):
            continue
        with engine.connect() as c:
            if c.execute(select(S.decisions.c.id).where(and_(S.decisions.c.scope == scope, S.decisions.c.value == value,
                                                             S.decisions.c.deleted_at.is_(None), S.decisions.c.until > now))).first():
                continue
        until = now + int(config.cluster.adopt_hours * 3600 * US)
        who = names.get(str(o.get("created_by_ref")), "a cluster member")
        add_decision(engine, Decision(type="ban", scope=scope, value=value, origin="feed", reason=f"cluster: banned by {who}"[:200],
                                      created_at=now, until=until, organization_id=config.organization), "cluster")
        n += 1
    return n


def _members(g: dict[str, Any]) -> list[str]:
    """The members a cluster incident names ("Seen at: A, B")."""
    return [m.strip() for m in str(g.get("description", "")).removeprefix("Seen at: ").split(",") if m.strip()]


def _also_seen(engine: Engine, config: Config, g: dict[str, Any]) -> int:
    """A cluster incident naming us: joins our open incident about that attacker, or opens one."""
    members = _members(g)
    me = config.cluster.member
    if g.get("type") != "grouping" or me not in members:
        return 0
    value = str(g.get("name", "")).rpartition(": ")[2]
    others = [m for m in members if m != me]
    text = f"Also seen at: {', '.join(others)} (cluster incident {g.get('id')})"
    now = int(time.time() * US)
    with engine.connect() as c:
        row = c.execute(select(S.incidents.c.id).join(S.incident_entities, S.incident_entities.c.incident_id == S.incidents.c.id)
                        .where(S.incident_entities.c.kind == "ip", S.incident_entities.c.value == value,
                               S.incidents.c.status.in_(OPEN)).order_by(S.incidents.c.id.desc()).limit(1)).first()
    if row is not None:
        comment(engine, int(row[0]), "cluster", text)
        return 1
    with engine.begin() as c:
        iid = c.execute(insert(S.incidents).values(
            title=f"Attacker also seen at {', '.join(others)} — {value}"[:512], severity="medium", status="new",
            organization_id=config.organization, created_at=now, updated_at=now, first_seen=now, last_seen=now, raised_at=now,
            risk=0, reason=chains.CLUSTER_REASON, title_rank=0)).inserted_primary_key[0]
        c.execute(insert(S.incident_entities).values(incident_id=iid, kind="ip", value=value))
        audit(c, "cluster", "incident.raise", f"incident:{iid}", {"reason": text})
    comment(engine, int(iid), "cluster", text)
    return 1


def _same_chain(engine: Engine, config: Config, key: str, g: dict[str, Any]) -> int:
    """A cluster incident on a technique chain naming us: a comment on our incident whose summary it holds."""
    members = _members(g)
    me = config.cluster.member
    if g.get("type") != "grouping" or me not in members:
        return 0
    since = int((time.time() - config.cluster.chain_days * 86400) * US)
    iid = chains.ours(engine, key, [str(r) for r in g.get("object_refs", [])], since)
    if iid is None:  # our incident is older than the window now: nothing of ours to join
        log.info("cluster incident %s names us, but none of our recent incidents", g.get("id"))
        return 0
    chain = str(g.get("name", "")).rpartition(": ")[2]
    others = ", ".join(m for m in members if m != me)
    comment(engine, iid, "cluster", f"Also seen at: {others}, the same attack technique chain ({chain}); "
                                    f"cluster incident {g.get('id')}")
    return 1


_last = [0.0]


def scheduled(engine: Engine, config: Config) -> dict[str, int] | None:
    """``garrison serve``'s scheduler calls this every minute or so; it exchanges every ``cluster.sync_seconds``."""
    cl = config.cluster
    if not cl.hub_url or time.monotonic() - _last[0] < cl.sync_seconds:
        return None
    _last[0] = time.monotonic()
    try:
        out = sync(engine, config)
    except (httpx.HTTPError, requests.RequestException, GarrisonError, KeyError, ValueError) as e:  # hub down: next round
        log.warning("cluster exchange with %s failed: %s (retried in %.0f s)", cl.hub_url, e, cl.sync_seconds)
        return None
    if any(out.values()):
        log.info("cluster: pushed %(pushed)d, received %(received)d, adopted %(adopted)d bans, %(incidents)d incidents", out)
    return out


def committee_sentence(engine: Engine, start_us: int, end_us: int) -> str | None:
    """The committee report's line on the cluster: attackers that also hit our neighbours, bans on their word."""
    with engine.connect() as c:
        shared = c.execute(select(S.incidents.c.id).where(
            S.incidents.c.reason == chains.CLUSTER_REASON,
            S.incidents.c.created_at >= start_us, S.incidents.c.created_at < end_us)).all()
        joined = c.execute(select(S.incident_comments.c.incident_id).where(
            S.incident_comments.c.author == "cluster", S.incident_comments.c.at >= start_us,
            S.incident_comments.c.at < end_us)).all()
        adopted = c.execute(select(S.decisions.c.id).where(S.decisions.c.origin == "feed", S.decisions.c.created_at >= start_us,
                                                           S.decisions.c.created_at < end_us)).all()
    attacks = len({r[0] for r in shared} | {r[0] for r in joined})
    if not attacks and not adopted:
        return None
    return (f"{attacks:,} of the attacks on us also hit neighbouring organisations in our regional cluster, and "
            f"{len(adopted):,} attackers were banned here on a neighbour's warning before they reached us.")
