"""Incidents over HTTP (token scope 'api'): the same operations as ``garrison incidents``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from garrison.errors import error_body
from garrison.errors import AuthError, GarrisonError
from garrison.sources.tokens import verify_token
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

    async def _who(request: Request) -> str | JSONResponse:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        try:
            name, _ = await run_in_threadpool(verify_token, engine, token, "api")
        except AuthError as e:
            return _err(401, "unauthorized", str(e))
        return f"api:{name}"

    async def _do(request: Request, fn: Any) -> Response:
        """Authenticate, then run ``fn(actor)`` in a thread; GarrisonError becomes the JSON error envelope."""
        who = await _who(request)
        if isinstance(who, JSONResponse):
            return who
        try:
            result = await run_in_threadpool(fn, who)
        except GarrisonError as e:
            return _err(404 if "no incident" in str(e) else 400, "invalid_request", str(e))
        return JSONResponse(result if result is not None else {"ok": True})

    @router.get("")
    async def index(request: Request, status: str | None = None, severity: str | None = None,
                    assignee: str | None = None) -> Response:
        who = await _who(request)
        if isinstance(who, JSONResponse):
            return who
        return JSONResponse(await run_in_threadpool(list_incidents, engine, status, severity, assignee))

    @router.get("/{iid}")
    async def show(request: Request, iid: int) -> Response:
        return await _do(request, lambda who: get_incident(engine, iid))

    @router.post("/{iid}/assign")
    async def do_assign(request: Request, iid: int, body: AssignBody) -> Response:
        return await _do(request, lambda who: assign(engine, iid, body.assignee, who))

    @router.post("/{iid}/comments")
    async def do_comment(request: Request, iid: int, body: CommentBody) -> Response:
        return await _do(request, lambda who: comment(engine, iid, who, body.text))

    @router.post("/{iid}/status")
    async def do_status(request: Request, iid: int, body: StatusBody) -> Response:
        return await _do(request, lambda who: set_status(engine, iid, body.status, who))

    @router.post("/{iid}/close")
    async def do_close(request: Request, iid: int, body: CloseBody) -> Response:
        return await _do(request, lambda who: close(engine, iid, body.outcome, who, body.note))

    return router
