"""The CrowdSec Local API as bouncers use it, so existing bouncers enforce Garrison's decisions unchanged.

GET/HEAD /v1/decisions/stream (startup, scopes, origins, scenarios_containing, scenarios_not_containing),
GET/HEAD /v1/decisions (ip, range, scope, value, type), POST /v1/usage-metrics; X-Api-Key auth.
Unknown query parameters are ignored. Empty lists are sent as null, as CrowdSec does.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from garrison.errors import AuthError
from garrison.model.decision import LAPI_SCOPE, Decision, go_duration
from garrison.respond.bouncers import authenticate, record_pull
from garrison.respond.decisions import ActiveView
from garrison.store.records import now_us

# Garrison's origins as CrowdSec names them, so bouncers' 'origins' filters keep working
LAPI_ORIGIN = {"rule": "crowdsec", "incident": "crowdsec", "analyst": "cscli", "feed": "lists"}


def to_lapi(d: Decision, now: int) -> dict[str, Any]:
    return {"id": d.id, "origin": LAPI_ORIGIN.get(d.origin, d.origin), "type": d.type,
            "scope": LAPI_SCOPE.get(d.scope, d.scope), "value": d.value, "duration": go_duration(d.until - now),
            "scenario": d.reason, "simulated": d.simulated}


def _split(v: str | None) -> list[str]:
    return [x.strip().lower() for x in (v or "").split(",") if x.strip()]


def _filter(decisions: list[Decision], params: Any) -> list[Decision]:
    scopes = _split(params.get("scopes")) or ["ip", "range"]
    origins = _split(params.get("origins"))
    contains = _split(params.get("scenarios_containing"))
    not_contains = _split(params.get("scenarios_not_containing"))
    out = []
    for d in decisions:
        if LAPI_SCOPE.get(d.scope, d.scope).lower() not in scopes:
            continue
        if origins and LAPI_ORIGIN.get(d.origin, d.origin).lower() not in origins and d.origin not in origins:
            continue
        reason = d.reason.lower()
        if contains and not any(c in reason for c in contains):
            continue
        if not_contains and any(c in reason for c in not_contains):
            continue
        out.append(d)
    return out


KEY_CACHE_SECONDS = 10.0  # a deleted bouncer key stops working within this


def build_lapi(engine: Engine, view: ActiveView) -> APIRouter:
    router = APIRouter()
    keys: dict[str, tuple[float, int, str]] = {}  # api key -> (checked at, bouncer id, name)

    async def _auth(request: Request) -> tuple[int, str, int | None] | JSONResponse:
        key = request.headers.get("x-api-key") or ""
        hit = keys.get(key)
        if hit is not None and time.monotonic() - hit[0] < KEY_CACHE_SECONDS:
            return hit[1], hit[2], None
        try:
            who = await run_in_threadpool(authenticate, engine, key)
        except AuthError as e:
            keys.pop(key, None)
            return JSONResponse({"message": str(e)}, status_code=401 if not key else 403)
        if len(keys) > 10_000:
            keys.clear()
        keys[key] = (time.monotonic(), who[0], who[1])
        return who

    async def _last_pull(bouncer_id: int) -> int | None:
        from sqlalchemy import select

        from garrison.store import state as S

        def q() -> int | None:
            with engine.connect() as c:
                return c.execute(select(S.bouncers.c.last_pull).where(S.bouncers.c.id == bouncer_id)).scalar()
        return await run_in_threadpool(q)

    async def _refresh(interval: float) -> None:
        if time.monotonic() - view._last >= interval:  # only hop to a thread when a refresh is due
            await run_in_threadpool(view.refresh, interval)

    @router.api_route("/v1/decisions/stream", methods=["GET", "HEAD"])
    async def stream(request: Request) -> Response:
        who = await _auth(request)
        if isinstance(who, JSONResponse):
            return who
        bouncer_id = who[0]
        last_pull = await _last_pull(bouncer_id)
        await _refresh(0.0)
        now = now_us()
        startup = request.query_params.get("startup", "false").lower() == "true"
        if startup or last_pull is None:
            new, gone = view.active(now), []
        else:
            new, gone = view.changed_between(last_pull, now)
        new, gone = _filter(new, request.query_params), _filter(gone, request.query_params)
        await run_in_threadpool(record_pull, engine, bouncer_id, now, request.client.host if request.client else None,
                                request.headers.get("user-agent"))
        if request.method == "HEAD":
            return Response(status_code=200)
        return JSONResponse({"new": [to_lapi(d, now) for d in new] or None,
                             "deleted": [to_lapi(d, now) for d in gone] or None})

    @router.api_route("/v1/decisions", methods=["GET", "HEAD"])
    async def decisions(request: Request) -> Response:
        who = await _auth(request)
        if isinstance(who, JSONResponse):
            return who
        await _refresh(view.lookup_interval)
        now = now_us()
        q = request.query_params
        found: list[Decision]
        if q.get("ip"):
            found = view.for_ip(q["ip"], now)
        elif q.get("range"):
            try:
                net = ipaddress.ip_network(q["range"], strict=False)
            except ValueError:
                return JSONResponse({"message": f"invalid range {q['range']!r}"}, status_code=400)
            found = [d for d in view.active(now) if _within(d, net)]
        elif q.get("value"):
            scope = (q.get("scope") or "ip").lower()
            inv = {v.lower(): k for k, v in LAPI_SCOPE.items()}
            found = view.for_value(inv.get(scope, scope), q["value"], now)
        else:
            found = view.active(now)
            if q.get("scope"):
                found = [d for d in found if LAPI_SCOPE.get(d.scope, d.scope).lower() == q["scope"].lower()]
        if q.get("type"):
            found = [d for d in found if d.type == q["type"]]
        if request.method == "HEAD":
            return Response(status_code=200)
        return JSONResponse([to_lapi(d, now) for d in found] or None)

    @router.post("/v1/usage-metrics")
    async def usage_metrics(request: Request) -> Response:
        who = await _auth(request)
        if isinstance(who, JSONResponse):
            return who
        return Response(status_code=201)

    return router


def _within(d: Decision, net: Any) -> bool:
    try:
        if d.scope == "ip":
            a = ipaddress.ip_address(d.value)
            return a.version == net.version and a in net
        if d.scope == "range":
            n = ipaddress.ip_network(d.value)
            return n.version == net.version and (n.subnet_of(net) or net.subnet_of(n))
    except ValueError:
        return False
    return False
