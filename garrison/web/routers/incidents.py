"""Incidents over HTTP (token scope 'api'): the same operations as ``garrison incidents``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from garrison.web.deps import RowId
from garrison.errors import error_body
from garrison.errors import GarrisonError
from garrison.web.deps import token_auth
from garrison.triage.cases import assign, close, comment, get_incident, list_incidents, set_status


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignBody(_Body):
    assignee: str


class CommentBody(_Body):
    text: str


class StatusBody(_Body):
    status: str


class CloseBody(_Body):
    outcome: str
    note: str | None = None


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status)


def build_incidents_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api/v1/incidents")

    api = Depends(token_auth(engine, "api"))

    async def _do(who: str, fn: Any) -> Response:
        """Run ``fn(actor)`` in a thread; GarrisonError becomes the JSON error envelope."""
        try:
            result = await run_in_threadpool(fn, f"api:{who}")
        except GarrisonError as e:
            return _err(404 if "no incident" in str(e) else 400, "invalid_request", str(e))
        return JSONResponse(result if result is not None else {"ok": True})

    @router.get("")
    async def index(status: str | None = None, severity: str | None = None, assignee: str | None = None,
                    who: str = api) -> Response:
        return JSONResponse(await run_in_threadpool(list_incidents, engine, status, severity, assignee))

    @router.get("/{iid}")
    async def show(iid: RowId, who: str = api) -> Response:
        return await _do(who, lambda who: get_incident(engine, iid))

    @router.post("/{iid}/assign")
    async def do_assign(iid: RowId, body: AssignBody, who: str = api) -> Response:
        return await _do(who, lambda who: assign(engine, iid, body.assignee, who))

    @router.post("/{iid}/comments")
    async def do_comment(iid: RowId, body: CommentBody, who: str = api) -> Response:
        return await _do(who, lambda who: comment(engine, iid, who, body.text))

    @router.post("/{iid}/status")
    async def do_status(iid: RowId, body: StatusBody, who: str = api) -> Response:
        return await _do(who, lambda who: set_status(engine, iid, body.status, who))

    @router.post("/{iid}/close")
    async def do_close(iid: RowId, body: CloseBody, who: str = api) -> Response:
        return await _do(who, lambda who: close(engine, iid, body.outcome, who, body.note))

    return router
