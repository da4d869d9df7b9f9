"""The analysts' console: server-rendered pages under /console, behind sign-in and roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import Engine

from garrison.config import Config
from garrison.store import EventStore
from garrison.web.console import awareness, bans, cluster, incidents, mail, overview, rules, search, sso
from garrison.web.console.base import Console, Refused, refused_response


def mount_console(app: FastAPI, config: Config, engine: Engine, store: EventStore, view: Any) -> None:
    con = Console(config, engine, store, view)
    router = APIRouter()
    for area in (overview, incidents, search, bans, rules, mail, awareness, cluster, sso):
        area.routes(router, con)
    app.include_router(router)

    @app.get("/")
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):  # type: ignore[no-untyped-def]
        return refused_response(request, exc)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        resp = await call_next(request)
        if request.url.path.startswith("/console"):
            resp.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                    # Vega compiles chart expressions with Function(), hence
                                    # 'unsafe-eval'; scripts come from this origin only, none inline.
                                    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-eval'; "
                                    "frame-ancestors 'none'; form-action 'self'")
            resp.headers.setdefault("X-Content-Type-Options", "nosniff")
            resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp
