"""What an organisation shares with its neighbours, in the formats their tools read: STIX 2.1 bundles (built with
the ``stix2`` library) and MISP feeds (manifest, one event, hashes), and MISP feeds of others imported as
indicator lists.

Shared: the attackers Garrison bans (addresses, ranges, sender addresses and domains) and the indicators of
reported phishing (domains, URLs, attachment hashes), each with when it was first and last seen and until when
it holds. Never raw events, never internal hosts or user names: descriptions say only what kind of attack it was.
"""

from __future__ import annotations

import csv
import hashlib
import ipaddress
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, select

from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.store import indicators as reported
from garrison.store import state as S

US = 1_000_000
TLP = ("clear", "green", "amber", "amber+strict", "red")
MAX_FEED_BYTES = 64 * 1024 * 1024
MAX_EVENTS = 10_000
_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # uuid5 over a URL: the same indicator, the same id


@dataclass(frozen=True)
class Shared:
    type: str  # ip cidr domain email url hash
    value: str
    first_seen: int
    valid_until: int | None
    kind: str  # what it did, in a few words
    confidence: int


def collect(engine: Engine, config: Config, now_us: int | None = None) -> list[Shared]:
    """Everything shareable now: active bans and the reported-phish list."""
    now = now_us or int(time.time() * US)
    out: dict[tuple[str, str], Shared] = {}
    d = S.decisions
    with engine.connect() as c:
        # a ban adopted from the cluster ("feed") is not ours to share again, nor a sighting of ours
        rows = c.execute(select(d.c.scope, d.c.value, d.c.created_at, d.c.until, d.c.origin).where(
            d.c.deleted_at.is_(None), d.c.until > now, d.c.simulated == 0, d.c.type == "ban", d.c.origin != "feed")).all()
    for scope, value, created, until, origin in rows:
        t = {"ip": "ip", "range": "cidr", "email": "email", "domain": "domain"}.get(scope)
        if t is None:
            continue
        key = (t, value)
        first = min(created, out[key].first_seen) if key in out else created
        out[key] = Shared(t, value, first, until, "phishing sender" if t in ("email", "domain") else "attacker banned",
                          90 if origin in ("analyst", "incident") else 75)
    path = Path(config.data_dir) / reported.FILE
    if path.exists():
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                t, v = row.get("type", ""), row.get("value", "")
                try:
                    until = int(datetime.fromisoformat(row["expires"].replace("Z", "+00:00")).timestamp() * US) if row.get("expires") else None
                except ValueError:
                    until = None
                if t in ("domain", "url", "hash") and v and (until is None or until > now) and (t, v) not in out:
                    out[(t, v)] = Shared(t, v, now, until, "reported phishing", 80)
    allowed = set(config.cluster.share)
    kinds = {"ip": "bans", "cidr": "bans", "email": "phishing", "domain": "phishing", "url": "phishing", "hash": "phishing"}
    return sorted((x for x in out.values() if kinds[x.type] in allowed), key=lambda s: (s.type, s.value))


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _pattern(s: Shared) -> str:
    v = s.value.replace("\\", "\\\\").replace("'", "\\'")
    if s.type in ("ip", "cidr"):
        version = ipaddress.ip_network(s.value, strict=False).version
        return f"[ipv{version}-addr:value = '{v}']"
    if s.type == "hash":
        algo = {32: "MD5", 40: "SHA-1", 64: "SHA-256"}.get(len(s.value), "SHA-256")
        return f"[file:hashes.'{algo}' = '{v}']"
    return {"domain": f"[domain-name:value = '{v}']", "email": f"[email-addr:value = '{v}']", "url": f"[url:value = '{v}']"}[s.type]


# TLP 2.0's STIX marking definitions: the published ids (the same as CACAO's TLPv2 markings) and the OASIS
# extension that carries the level; stix2 itself ships only TLP 1.0's four.
_TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_TLP2 = {"clear": "94868c89-83c2-464b-929b-a1a8aa3c8487", "green": "bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
         "amber": "55d920b0-5e8b-4f79-9ee9-91f868d9b421", "amber+strict": "939a9414-2ddd-4d32-a0cd-375ea402b003",
         "red": "e828b379-4e03-4974-9ac4-e53a884c97c1"}


def tlp2(level: str) -> Any:
    import stix2

    return stix2.MarkingDefinition(id=f"marking-definition--{_TLP2[level]}", created="2022-10-01T00:00:00.000Z",
                                   name=f"TLP:{level.upper()}",
                                   extensions={_TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}})


def stix_bundle(items: list[Shared], organisation: str, tlp: str = "amber") -> str:
    """A STIX 2.1 bundle: the organisation's identity, a TLP marking and one indicator per item (JSON text)."""
    import stix2

    marking = tlp2(tlp)
    me = stix2.Identity(id=f"identity--{uuid.uuid5(_NAMESPACE, 'garrison:' + organisation)}", name=organisation,
                        identity_class="organization", created="2026-01-01T00:00:00.000Z", modified="2026-01-01T00:00:00.000Z")
    objs: list[Any] = [me, marking]
    for s in items:
        kw: dict[str, Any] = {}
        if s.valid_until and s.valid_until > s.first_seen:
            kw["valid_until"] = _iso(s.valid_until)
        ind = stix2.Indicator(
            id=f"indicator--{uuid.uuid5(_NAMESPACE, f'garrison:{organisation}:{s.type}:{s.value}')}",
            name=f"{s.kind}: {s.value}"[:250], pattern=_pattern(s), pattern_type="stix", valid_from=_iso(s.first_seen),
            indicator_types=["malicious-activity"], confidence=s.confidence, created_by_ref=me.id,
            created=_iso(s.first_seen), modified=_iso(s.first_seen),  # the same ban is the same version: pushed once
            object_marking_refs=[marking.id], labels=[s.kind.replace(" ", "-")], **kw)
        objs.append(ind)
        if s.type in ("ip", "cidr", "domain", "email"):  # we saw it attack us: a sighting, by us, with no more detail
            objs.append(stix2.Sighting(
                id=f"sighting--{uuid.uuid5(_NAMESPACE, f'garrison:{organisation}:sighting:{s.type}:{s.value}')}",
                sighting_of_ref=ind.id, where_sighted_refs=[me.id], first_seen=_iso(s.first_seen),
                last_seen=_iso(s.first_seen + US), count=1, created_by_ref=me.id, object_marking_refs=[marking.id],
                created=_iso(s.first_seen), modified=_iso(s.first_seen)))
    return str(stix2.Bundle(objects=objs, allow_custom=False).serialize(pretty=False))


_VALUE_OF = re.compile(r"\[[\w-]+:(?:value|hashes\.'[^']+')\s*=\s*'((?:[^'\\]|\\.)*)'\]")

_MISP = {"ip": ("ip-src", "Network activity"), "cidr": ("ip-src", "Network activity"), "domain": ("domain", "Network activity"),
         "email": ("email-src", "Payload delivery"), "url": ("url", "Payload delivery"), "hash": ("sha256", "Payload delivery")}


def misp_feed(items: list[Shared], organisation: str, out: Path, tlp: str = "amber") -> str:
    """A MISP feed in ``out``: ``manifest.json``, one event (``<uuid>.json``) and ``hashes.csv``; returns the event's uuid."""
    now = int(time.time())
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    eid = str(uuid.uuid5(_NAMESPACE, f"garrison:{organisation}:{day}"))
    org = {"name": organisation, "uuid": str(uuid.uuid5(_NAMESPACE, "garrison-org:" + organisation))}
    attrs = []
    for s in items:
        typ, cat = _MISP[s.type]
        if s.type == "hash":
            typ = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(s.value), "sha256")
        attrs.append({"uuid": str(uuid.uuid5(_NAMESPACE, f"{eid}:{s.type}:{s.value}")), "type": typ, "category": cat,
                      "value": s.value, "to_ids": True, "comment": s.kind, "timestamp": str(s.first_seen // US),
                      "distribution": "5", "disable_correlation": False, "object_relation": None,
                      "first_seen": _iso(s.first_seen), "last_seen": _iso(min(s.valid_until or now * US, now * US))})
    tag = {"name": f"tlp:{tlp}", "colour": "#FFC000" if tlp.startswith("amber") else "#33FF00" if tlp == "green" else
           "#FFFFFF" if tlp == "clear" else "#FF2B2B"}
    event = {"uuid": eid, "info": f"{organisation}: attackers and phishing, {day}", "date": day, "threat_level_id": "2",
             "analysis": "2", "timestamp": str(now), "publish_timestamp": str(now), "published": True, "Orgc": org,
             "Tag": [tag], "Attribute": attrs}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{eid}.json").write_bytes(orjson.dumps({"Event": event}))
    manifest = {eid: {k: event[k] for k in ("info", "date", "threat_level_id", "analysis", "timestamp", "publish_timestamp", "Orgc")}
                | {"Tag": [tag]}}
    (out / "manifest.json").write_bytes(orjson.dumps(manifest))
    with open(out / "hashes.csv", "w", newline="") as f:
        w = csv.writer(f)
        for a in attrs:
            w.writerow([hashlib.md5(a["value"].encode(), usedforsecurity=False).hexdigest(), eid])
    return eid


def _read(src: str, name: str, client: httpx.Client | None) -> bytes:
    if client is None:
        p = Path(src) / name
        if p.stat().st_size > MAX_FEED_BYTES:
            raise GarrisonError(f"{p}: over {MAX_FEED_BYTES:,} bytes")
        return p.read_bytes()
    r = client.get(f"{src.rstrip('/')}/{name}")
    if r.status_code != 200:
        raise GarrisonError(f"{src}/{name}: HTTP {r.status_code}")
    if len(r.content) > MAX_FEED_BYTES:
        raise GarrisonError(f"{src}/{name}: over {MAX_FEED_BYTES:,} bytes")
    return r.content


def import_misp_feed(config: Config, src: str, name: str) -> dict[str, int]:
    """A MISP feed (a folder or its URL) copied event by event into ``data/intel/feeds/NAME/``, which the intel
    stage loads; events already held and unchanged are not fetched again."""
    dest = Path(config.data_dir) / "intel" / "feeds" / "".join(c for c in name if c.isalnum() or c in "-_")[:64]
    dest.mkdir(parents=True, exist_ok=True)
    client = httpx.Client(timeout=30, follow_redirects=False) if src.startswith(("http://", "https://")) else None
    try:
        manifest = orjson.loads(_read(src, "manifest.json", client))
        if not isinstance(manifest, dict):
            raise GarrisonError(f"{src}/manifest.json: not a MISP feed manifest (expected an object of events)")
        got = skipped = 0
        for eid, meta in list(manifest.items())[:MAX_EVENTS]:
            try:
                uuid.UUID(str(eid))
            except ValueError:
                continue  # never a path: a manifest key becomes a file name only when it is a uuid
            target = dest / f"{eid}.json"
            stamp = str((meta or {}).get("timestamp", ""))
            if target.exists() and stamp and orjson.loads(target.read_bytes()).get("Event", {}).get("timestamp") == stamp:
                skipped += 1
                continue
            doc = orjson.loads(_read(src, f"{eid}.json", client))
            if not isinstance(doc, dict) or not isinstance(doc.get("Event"), dict):
                raise GarrisonError(f"{src}/{eid}.json: not a MISP event")
            target.write_bytes(orjson.dumps(doc))
            got += 1
        return {"events": got, "unchanged": skipped}
    finally:
        if client is not None:
            client.close()


def _collection(hub_url: str, member: str, key: str, title: str) -> Any:
    from taxii2client.v21 import Server

    server = Server(hub_url.rstrip("/") + "/taxii2/", user=member, password=key)
    for root in server.api_roots:
        for c in root.collections:
            if c.title == title:
                return c
    raise GarrisonError(f"{hub_url}: no collection {title!r} on the hub (is cluster.role: hub set there?)")


def push(hub_url: str, member: str, key: str, bundle_json: str) -> dict[str, Any]:
    """Our shareable indicators to the hub's shared collection (TAXII 2.1, through taxii2-client); its status."""
    objects = orjson.loads(bundle_json)["objects"]
    col = _collection(hub_url, member, key, "Shared indicators and sightings")
    st = col.add_objects(orjson.dumps({"objects": objects}).decode(), wait_for_completion=False)
    return {"total": st.total_count, "success": st.success_count, "failure": st.failure_count}


def read_since(http: httpx.Client, url: str, mark: Path) -> list[dict[str, Any]]:
    """A TAXII collection's objects added since the hub time kept in ``mark`` (its own ``X-TAXII-Date-Added-Last``,
    so no clock but the hub's decides what is new), page by page through ``next``; ``mark`` moves with each page."""
    since = mark.read_text().strip() if mark.exists() else None
    out: list[dict[str, Any]] = []
    nxt = None
    for _ in range(10_000):  # pages; a bound, not a limit anyone reaches
        r = http.get(url, params={k: v for k, v in (("added_after", since), ("next", nxt)) if v})
        if r.status_code != 200:
            raise GarrisonError(f"{url}: HTTP {r.status_code}")
        env = r.json()
        out += [o for o in env.get("objects", []) if isinstance(o, dict)]
        if r.headers.get("X-TAXII-Date-Added-Last"):
            mark.write_text(r.headers["X-TAXII-Date-Added-Last"])
        nxt = env.get("next")
        if not env.get("more") or not nxt:
            break
    return out


def keep_bundle(dest: Path, objs: list[dict[str, Any]]) -> None:
    """Objects from the cluster kept as one STIX bundle in ``dest``, where the intel stage loads them."""
    if objs:
        (dest / f"{int(time.time() * US)}.json").write_bytes(
            orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objs}))


def poll(config: Config, hub_url: str, member: str, key: str) -> dict[str, int]:
    """New objects of the hub's shared collection since the last poll, into ``data/intel/feeds/cluster/``."""
    col = _collection(hub_url, member, key, "Shared indicators and sightings")
    dest = Path(config.data_dir) / "intel" / "feeds" / "cluster"
    dest.mkdir(parents=True, exist_ok=True)
    with httpx.Client(auth=(member, key), timeout=30, headers={"Accept": "application/taxii+json;version=2.1"}) as http:
        objs = read_since(http, col.url + "objects/", dest / ".added_after")
    keep_bundle(dest, objs)
    return {"objects": len(objs)}
