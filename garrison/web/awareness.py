"""The pages a simulation's recipients and trainees reach, keyed by their own unguessable tokens (no account):
the tracking pixel, the landing page and its teaching page, and the training modules with their quizzes.

A deployment exposes only ``/t/`` and ``/training/`` to staff's browsers (a reverse proxy in front of the
service); the console stays inside.
"""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy import Engine

from garrison.awareness import tracking, training
from garrison.awareness.library import modules, render, templates
from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.web.console.base import env

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
STATIC = Path(__file__).parent / "console" / "static"
_GONE = "<!doctype html><html lang='en'><title>Link expired</title><main><h1>This link is no longer valid.</h1></main></html>"
_HEADERS = {"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _visit(request: Request, trusted: frozenset[str], link: str = "1") -> tracking.Visit:
    """The visit as tracking sees it; behind a trusted reverse proxy the visitor is X-Forwarded-For's last hop."""
    ip = request.client.host if request.client else ""
    if ip in trusted and (fwd := request.headers.get("x-forwarded-for")):
        ip = fwd.split(",")[-1].strip()[:64]
    return tracking.Visit(request.method, ip, request.headers.get("user-agent", ""),
                          {k: request.headers.get(k, "") for k in ("purpose", "sec-purpose", "x-moz")}, link[:8])


def _template_of(engine: Engine, target: dict) -> dict:
    from sqlalchemy import select

    from garrison.store import state_awareness as A

    with engine.connect() as c:
        name = c.execute(select(A.aw_campaigns.c.template).where(A.aw_campaigns.c.id == target["campaign_id"])).scalar()
    return {"id": name, **templates()[str(name)]}


def build_awareness_router(config: Config, engine: Engine) -> APIRouter:
    r = APIRouter()
    org = config.awareness.organisation
    trusted = frozenset(config.awareness.trusted_proxies)

    @r.get("/t/o/{token}.gif", include_in_schema=False)
    async def pixel(token: str, request: Request) -> Response:
        await run_in_threadpool(tracking.record, engine, token, "open", _visit(request, trusted))
        return Response(PIXEL, media_type="image/gif", headers=_HEADERS)

    @r.api_route("/t/c/{token}", methods=["GET", "HEAD"], include_in_schema=False)
    async def click(token: str, request: Request, l: str = "1") -> Response:  # noqa: E741 - the link's short name in URLs
        target, _, _ = await run_in_threadpool(tracking.record, engine, token, "click", _visit(request, trusted, l))
        if target is None:
            return HTMLResponse(_GONE, status_code=404, headers=_HEADERS)
        t = await run_in_threadpool(_template_of, engine, target)
        html = env.get_template("landing.html").render(token=token, kind=t["landing"], org=org, title=t["title"])
        return HTMLResponse(html, headers=_HEADERS)

    @r.post("/t/b/{token}", include_in_schema=False)
    async def beacon(token: str, request: Request) -> Response:
        await run_in_threadpool(tracking.record, engine, token, "beacon", _visit(request, trusted))
        return Response(status_code=204, headers=_HEADERS)

    @r.post("/t/s/{token}", include_in_schema=False)
    async def submit(token: str, request: Request, js: str = "") -> Response:
        # The body is never read: whatever was typed (if a browser sent anything) is neither parsed nor stored.
        target, _, _ = await run_in_threadpool(tracking.record, engine, token, "submit_js" if js == "1" else "submit",
                                               _visit(request, trusted), config.awareness.submit_risk)
        if target is None:
            return HTMLResponse(_GONE, status_code=404, headers=_HEADERS)
        t = await run_in_threadpool(_template_of, engine, target)
        values = {"name": target["name"], "first_name": target["name"].split()[0] if target["name"] else "",
                  "department": target["department"], "org": org}
        html = env.get_template("teach.html").render(org=org, subject=render(t["subject"], values), red_flags=t["red_flags"],
                                                     sender=render(t["sender_name"], values))
        return HTMLResponse(html, headers=_HEADERS)

    @r.get("/t/static/landing.js", include_in_schema=False)
    async def script() -> Response:
        return FileResponse(STATIC / "landing.js", media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})

    @r.get("/training/{token}", include_in_schema=False)
    async def module(token: str) -> Response:
        a = await run_in_threadpool(training.assignment, engine, token)
        if a is None:
            return HTMLResponse(_GONE, status_code=404, headers=_HEADERS)
        html = env.get_template("training.html").render(a=a, m=modules()[a["module"]], org=org, result=None)
        return HTMLResponse(html, headers=_HEADERS)

    @r.post("/training/{token}", include_in_schema=False)
    async def quiz(token: str, request: Request) -> Response:
        a = await run_in_threadpool(training.assignment, engine, token)
        if a is None:
            return HTMLResponse(_GONE, status_code=404, headers=_HEADERS)
        form = await request.form()
        answers = {}
        for k, v in list(form.items())[:50]:
            if k.startswith("q") and k[1:].isdigit() and str(v).isdigit():
                answers[int(k[1:])] = int(str(v))
        try:
            result = await run_in_threadpool(training.complete, engine, config, token, answers)
        except GarrisonError:
            return HTMLResponse(_GONE, status_code=404, headers=_HEADERS)
        html = env.get_template("training.html").render(a=a, m=modules()[a["module"]], org=org, result=result)
        return HTMLResponse(html, headers=_HEADERS)

    return r
