"""Decisions over HTTP for people and automation (token scope 'api'), and the blocklist exports."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from garrison.web.deps import RowId
from garrison.errors import error_body
from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.respond.decisions import ActiveView, delete_decisions, list_decisions
from garrison.respond.export import render
from garrison.respond.manual import manual_ban
from garrison.web.deps import token_auth


class BanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str
    scope: str = "ip"
    type: str = "ban"
    duration: str = "4h"
    reason: str = "manual ban"


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


def _decision_json(d: Any) -> dict[str, Any]:
    return {"id": d.id, "type": d.type, "scope": d.scope, "value": d.value, "origin": d.origin, "reason": d.reason,
            "created_at": d.created_at, "until": d.until, "deleted_at": d.deleted_at, "simulated": d.simulated,
            "offence": d.offence}


def build_decisions_router(config: Config, engine: Engine, view: ActiveView) -> APIRouter:
    router = APIRouter()

    api = Depends(token_auth(engine, "api", config.respond.export_token))

    @router.get("/api/v1/decisions")
    async def list_active(history: bool = False, who: str = api) -> Response:
        rows = await run_in_threadpool(list_decisions, engine, not history)
        return JSONResponse([_decision_json(d) for d in rows])

    @router.post("/api/v1/decisions")
    async def ban(body: BanRequest, who: str = api) -> Response:
        try:
            d = await run_in_threadpool(manual_ban, config, engine, body.value, body.scope, body.type, body.duration,
                                        body.reason, f"api:{who}")
        except GarrisonError as e:
            return _err(400, "invalid_decision", str(e))
        return JSONResponse(_decision_json(d), status_code=201)

    @router.delete("/api/v1/decisions/{decision_id}")
    async def unban(decision_id: RowId, who: str = api) -> Response:
        n = await run_in_threadpool(lambda: delete_decisions(engine, decision_id=decision_id, actor=f"api:{who}"))
        return JSONResponse({"deleted": n}, status_code=200 if n else 404)

    for suffix, fmt, media in (("txt", "plain", "text/plain"), ("nft", "nftables", "text/plain"),
                               ("nginx", "nginx", "text/plain")):
        def make(fmt: str = fmt, media: str = media):  # type: ignore[no-untyped-def]
            async def export(who: str = api) -> Response:
                await run_in_threadpool(view.refresh)
                return PlainTextResponse(render(view.active(int(time.time() * 1e6)), fmt), media_type=media)
            return export
        router.add_api_route(f"/api/v1/blocklist.{suffix}", make(), methods=["GET"])
    return router
