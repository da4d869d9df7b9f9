"""What every console page shares: the signed-in user, CSRF checks, templates and the JSON error envelope.

Pages are rendered on the server (Jinja2, autoescaped); a little JavaScript of the project's own adds
the charts (Vega-Lite through vega-embed, bundled by vl-convert and served from here: nothing comes from
a CDN), click-to-filter in search, and live refresh of the overview.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine

from garrison.errors import error_body
from garrison.config import Config
from garrison.store import EventStore
from garrison.web.auth import User, csrf_ok, session_user

COOKIE = "garrison_session"
HERE = Path(__file__).parent
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
env.filters["us"] = lambda us: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(us / 1e6)) if us else "—"
env.filters["num"] = lambda n: f"{n:,}" if isinstance(n, int) else n


@dataclass
class Console:
    config: Config
    engine: Engine
    store: EventStore
    view: Any  # the decisions' ActiveView


class Refused(Exception):
    """A request the console refuses: not signed in, not allowed, or a bad CSRF token."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def user_of(request: Request, console: Console) -> User | None:
    return session_user(console.engine, request.cookies.get(COOKIE))


async def need(request: Request, console: Console, role: str = "viewer", write: bool = False) -> User:
    """The signed-in user with at least ``role``; state changes must carry the session's CSRF token."""
    user = await run_in_threadpool(user_of, request, console)
    if user is None:
        raise Refused(401, "unauthorized", "sign in first")
    if not user.can(role):
        raise Refused(403, "forbidden", f"this needs the {role} role; you are {user.role}")
    if write:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                                               "multipart/form-data")):
            sent = str((await request.form()).get("csrf") or "")
        if not csrf_ok(user, sent):
            raise Refused(403, "csrf", "the form is stale or forged (reload the page and try again)")
    return user


def page(request: Request, name: str, user: User | None, http_status: int = 200, **ctx: Any) -> HTMLResponse:
    html = env.get_template(name).render(request=request, user=user, path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=http_status, headers={"Cache-Control": "no-store"})


def refused_response(request: Request, exc: Refused) -> Response:
    if exc.status == 401 and request.method == "GET" and not request.url.path.startswith("/console/api/"):
        return RedirectResponse(f"/console/login?next={request.url.path}", status_code=303)
    if request.url.path.startswith("/console/api/") or request.method != "GET":
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status)
    return HTMLResponse(env.get_template("error.html").render(request=request, user=None, path=request.url.path,
                                                              status=exc.status, message=exc.message),
                        status_code=exc.status)


def back(url: str, message: str | None = None) -> RedirectResponse:
    """After a form: back to the page (Post/Redirect/Get), with a notice to show."""
    from urllib.parse import quote

    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}notice={quote(message)}" if message else url, status_code=303)


@functools.lru_cache(maxsize=1)
def vega_bundle() -> bytes:
    import vl_convert as vlc

    return str(vlc.javascript_bundle()).encode()
