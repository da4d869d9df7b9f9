"""The FastAPI application and its route table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from garrison.config import Config
from garrison.errors import error_body
from garrison.sources.http import Sink, build_router

__all__ = ["create_app", "error_body"]
Health = Callable[[], tuple[int, dict[str, Any]]]


class BodyTimeout:
    """ASGI middleware: a client that takes longer than ``seconds`` to send a request body is cut off (408).

    Slow-header clients are bounded by uvicorn's header size limit and keep-alive timeout."""

    def __init__(self, app: Any, seconds: float):
        self.app, self.seconds = app, seconds
        self.timeouts = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds

        async def bounded() -> Any:
            left = deadline - loop.time()
            try:
                return await asyncio.wait_for(receive(), max(0.001, left))
            except TimeoutError:
                self.timeouts += 1
                raise _SlowClient() from None

        try:
            await self.app(scope, bounded, send)
        except Exception as e:  # noqa: BLE001 - anyio may wrap it in an exception group
            if not _is_slow(e):
                raise
            body = b'{"error":{"code":"timeout","message":"request body not received in time (ingest.body_timeout)"}}'
            try:
                await send({"type": "http.response.start", "status": 408,
                            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
            except Exception:  # noqa: BLE001 - the response had started, or the client left
                pass


class _SlowClient(Exception):
    pass


def _is_slow(e: BaseException, seen: set[int] | None = None) -> bool:
    """Whether a slow client is behind this error; exception chains can loop (a template error re-raised while
    handling itself), so each is visited once."""
    seen = set() if seen is None else seen
    if id(e) in seen or len(seen) > 200:
        return False
    seen.add(id(e))
    if isinstance(e, _SlowClient):
        return True
    if isinstance(e, BaseExceptionGroup):
        return any(_is_slow(x, seen) for x in e.exceptions)
    return any(x is not None and _is_slow(x, seen) for x in (e.__cause__, e.__context__))


def create_app(config: Config, engine: Engine, sink: Sink, store: Any = None, health: Health | None = None) -> FastAPI:
    from garrison.respond.decisions import ActiveView
    from garrison.respond.lapi import build_lapi
    from garrison.web.routers.decisions import build_decisions_router
    from garrison.web.routers.incidents import build_incidents_router

    app = FastAPI(title="Garrison", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    i = config.ingest
    app.include_router(build_router(engine, sink, i.max_body_bytes, i.max_line_bytes, i.max_event_bytes, i.max_depth))
    view = ActiveView(engine)
    app.state.decisions = view
    app.include_router(build_lapi(engine, view))
    app.include_router(build_decisions_router(config, engine, view))
    app.include_router(build_incidents_router(engine))
    from garrison.web.awareness import build_awareness_router

    app.include_router(build_awareness_router(config, engine))
    if config.cluster.role == "hub":
        from garrison.web.taxii import build_taxii_router

        app.include_router(build_taxii_router(config, engine))
    if store is not None:
        from garrison.web.console import mount_console

        mount_console(app, config, engine, store, view)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """Each component's state, the processor's lag, the last errors and disk free; 503 when not ok."""
        if health is None:  # an app without a service behind it (tests of the routes alone)
            return JSONResponse({"status": "ok", "components": {}})
        status, body = await asyncio.to_thread(health)
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", str(exc.errors())[:500]), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if request.url.path.startswith("/console") and exc.status_code in (401, 403, 404, 405):
            from fastapi.exception_handlers import http_exception_handler

            return await http_exception_handler(request, exc)
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                413: "too_large"}.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    app.add_middleware(BodyTimeout, seconds=i.body_timeout)
    return app
