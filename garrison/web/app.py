"""The FastAPI application and its route table."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from garrison.config import Config
from garrison.sources.http import Sink, build_router


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The one JSON error envelope of Garrison's own API."""
    return {"error": {"code": code, "message": message}}


def create_app(config: Config, engine: Engine, sink: Sink, store: Any = None) -> FastAPI:
    from garrison.respond.decisions import ActiveView
    from garrison.respond.lapi import build_lapi
    from garrison.web.routers.decisions import build_decisions_router

    app = FastAPI(title="Garrison", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(build_router(engine, sink, config.ingest.max_body_bytes, config.ingest.max_line_bytes))
    view = ActiveView(engine)
    app.state.decisions = view
    app.include_router(build_lapi(engine, view))
    app.include_router(build_decisions_router(config, engine, view))
    from garrison.web.routers.incidents import build_incidents_router

    app.include_router(build_incidents_router(engine))
    if store is not None:
        from garrison.web.console import mount_console

        mount_console(app, config, engine, store, view)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", str(exc.errors())[:500]), status_code=422)

    return app
