"""TAXII 2.1 on the cluster hub (``cluster.role: hub``): discovery, one API root, its collections, objects with
``added_after`` paging, pushes and their status. Members sign in with their key (HTTP Basic, the member's name
and key, as taxii2-client sends them; or a Bearer token).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine

from garrison.cluster import hub
from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.model.event import us_from_iso

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"


def _answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=TAXII, headers=headers)


def _error(status: int, title: str, description: str = "") -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="garrison cluster"'} if status == 401 else None
    return _answer({"title": title, "description": description, "http_status": str(status)}, status, headers)


def build_taxii_router(config: Config, engine: Engine) -> APIRouter:
    r = APIRouter()
    c = config.cluster

    def who(request: Request) -> str | None:
        h = request.headers.get("authorization", "")
        key = ""
        if h.lower().startswith("basic "):
            try:
                key = base64.b64decode(h[6:].strip(), validate=True).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return None
        elif h.lower().startswith("bearer "):
            key = h[7:].strip()
        return hub.member_of(engine, key) if key else None

    def collection_doc(cid: str) -> dict[str, Any]:
        title, description, writable = hub.COLLECTIONS[cid]
        return {"id": cid, "title": title, "description": description, "can_read": True, "can_write": writable,
                "media_types": [STIX]}

    @r.get("/taxii2/", include_in_schema=False)
    async def discovery(request: Request) -> Response:
        if await run_in_threadpool(who, request) is None:
            return _error(401, "sign in with your member key")
        root = str(request.base_url).rstrip("/") + "/taxii2/cluster/"
        return _answer({"title": c.title, "default": root, "api_roots": [root]})

    @r.get("/taxii2/cluster/", include_in_schema=False)
    async def api_root(request: Request) -> Response:
        if await run_in_threadpool(who, request) is None:
            return _error(401, "sign in with your member key")
        return _answer({"title": c.title, "versions": [TAXII], "max_content_length": c.max_content_bytes})

    @r.get("/taxii2/cluster/collections/", include_in_schema=False)
    async def collections(request: Request) -> Response:
        if await run_in_threadpool(who, request) is None:
            return _error(401, "sign in with your member key")
        return _answer({"collections": [collection_doc(x) for x in hub.COLLECTIONS]})

    @r.get("/taxii2/cluster/collections/{cid}/", include_in_schema=False)
    async def collection(cid: str, request: Request) -> Response:
        if await run_in_threadpool(who, request) is None:
            return _error(401, "sign in with your member key")
        return _answer(collection_doc(cid)) if cid in hub.COLLECTIONS else _error(404, "no such collection")

    @r.get("/taxii2/cluster/collections/{cid}/objects/", include_in_schema=False)
    async def get_objects(cid: str, request: Request, added_after: str | None = None, limit: int = 0,
                          next: str | None = None) -> Response:  # noqa: A002 - TAXII's parameter name
        member = await run_in_threadpool(who, request)
        if member is None:
            return _error(401, "sign in with your member key")
        if cid not in hub.COLLECTIONS:
            return _error(404, "no such collection")
        try:
            after = us_from_iso(added_after) if added_after else None
            after_id = int(next) if next else 0
        except ValueError:
            return _error(400, "bad added_after or next", "added_after is an RFC 3339 time; next is what a page gave")
        types = [t for t in request.query_params.get("match[type]", "").split(",") if t] or None
        size = min(limit, c.page_size) if limit > 0 else c.page_size
        objs, nxt, first, last = await run_in_threadpool(hub.objects, engine, cid, after, size, after_id, types)
        body: dict[str, Any] = {"more": nxt is not None, "objects": objs}
        if nxt is not None:
            body["next"] = str(nxt)
        headers = {"X-TAXII-Date-Added-First": hub.iso(first), "X-TAXII-Date-Added-Last": hub.iso(last)} if objs else {}
        if objs:
            await run_in_threadpool(hub.log_poll, engine, member, cid, len(objs))
        return _answer(body, headers=headers)

    @r.post("/taxii2/cluster/collections/{cid}/objects/", include_in_schema=False)
    async def add_objects(cid: str, request: Request) -> Response:
        member = await run_in_threadpool(who, request)
        if member is None:
            return _error(401, "sign in with your member key")
        if cid not in hub.COLLECTIONS:
            return _error(404, "no such collection")
        if int(request.headers.get("content-length") or 0) > c.max_content_bytes:
            return _error(413, "too large", f"at most {c.max_content_bytes:,} bytes a push")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > c.max_content_bytes:
                return _error(413, "too large", f"at most {c.max_content_bytes:,} bytes a push")
        try:
            envelope = orjson.loads(body)
            objects = envelope["objects"] if isinstance(envelope, dict) else None
            if not isinstance(objects, list):
                raise ValueError("an envelope holds a list of objects")
            st = await run_in_threadpool(hub.add_objects, engine, cid, objects, member,
                                        (c.chain_min, c.chain_similarity, c.chain_days))
        except (orjson.JSONDecodeError, KeyError, ValueError) as e:
            return _error(400, "not a TAXII envelope", str(e)[:200])
        except GarrisonError as e:
            return _error(403, "refused", str(e))
        return _answer(st, 202)

    @r.get("/taxii2/cluster/status/{sid}/", include_in_schema=False)
    async def get_status(sid: str, request: Request) -> Response:
        if await run_in_threadpool(who, request) is None:
            return _error(401, "sign in with your member key")
        st = await run_in_threadpool(hub.status, engine, sid)
        return _answer(st) if st else _error(404, "no such status")

    return r
