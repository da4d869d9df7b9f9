"""Sign-in, the overview, sources and the report archive."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from garrison.web.deps import RowId
from garrison.errors import AuthError, GarrisonError, error_body
from garrison.web.auth import end_session, login, start_session
from garrison.web.console import data
from garrison.web.console.base import COOKIE, Console, Refused, back, need, page, vega_bundle


def same_origin(request: Request) -> bool:
    """The request's Origin (or, without one, its Referer) is this server; a browser always sends one of them."""
    from urllib.parse import urlsplit

    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent or sent == "null":
        return False
    host = request.headers.get("host", "")
    return urlsplit(sent).netloc.lower() == host.lower()


def _safe_next(url: str | None) -> str:
    return url if url and url.startswith("/console") and not url.startswith("//") else "/console/"


def routes(r: APIRouter, con: Console) -> None:
    secure = con.config.web.secure_cookies

    @r.get("/console/login")
    async def login_page(request: Request, next: str | None = None, error: str | None = None):  # noqa: A002
        return page(request, "login.html", None, next=_safe_next(next), error=error, sso=bool(con.config.web.oidc_issuer))

    @r.post("/console/login")
    async def login_post(request: Request):
        if not same_origin(request):  # no session yet to hold a CSRF token: the browser's Origin says who posts
            return JSONResponse(error_body("csrf", "sign-in must come from Garrison's own sign-in page"),
                                status_code=403)
        form = await request.form()
        name, password = str(form.get("username") or ""), str(form.get("password") or "")
        ip = request.client.host if request.client else None
        try:
            user = await run_in_threadpool(login, con.engine, name, password, ip)
        except AuthError as e:
            return page(request, "login.html", None, next=_safe_next(str(form.get("next") or "")), error=str(e),
                        sso=bool(con.config.web.oidc_issuer), http_status=401)
        token, _ = await run_in_threadpool(start_session, con.engine, user, ip)
        resp = RedirectResponse(_safe_next(str(form.get("next") or "")), status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, secure=secure, samesite="strict", path="/")
        return resp

    @r.post("/console/logout")
    async def logout(request: Request):
        user = await need(request, con, write=True)
        await run_in_threadpool(end_session, con.engine, request.cookies.get(COOKIE), user.name)
        resp = RedirectResponse("/console/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @r.get("/console/static/vega.js")
    async def vega_js() -> Response:
        body = await run_in_threadpool(vega_bundle)
        return Response(body, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})

    @r.get("/console/static/{name}")
    async def static(name: str) -> Response:
        from garrison.web.console.base import HERE

        path = HERE / "static" / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return Response(status_code=404)
        return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})

    @r.get("/console/")
    async def overview(request: Request, range: str = "24h"):  # noqa: A002
        user = await need(request, con)
        rng = range if range in data.RANGES else "24h"

        def load():  # type: ignore[no-untyped-def]
            return (data.funnel(con.engine, rng), data.attempts_series(con.engine, rng), data.top_origins(con.engine, rng),
                    data.source_health(con.engine)[:12])

        funnel, series, origins, health = await run_in_threadpool(load)
        return page(request, "overview.html", user, funnel=funnel, series=series, origins=origins, health=health,
                    range=rng, ranges=list(data.RANGES), categories=data.categories())

    @r.get("/console/api/overview")
    async def overview_json(request: Request, range: str = "24h"):  # noqa: A002
        await need(request, con)
        rng = range if range in data.RANGES else "24h"
        funnel, series = await run_in_threadpool(lambda: (data.funnel(con.engine, rng), data.attempts_series(con.engine, rng)))
        return JSONResponse({"funnel": funnel, "series": series})

    @r.get("/console/sources")
    async def sources(request: Request):
        user = await need(request, con, "analyst")
        from garrison.store.records import quarantine_rows

        def load():  # type: ignore[no-untyped-def]
            import time

            from garrison.sources.microsoft import connector_status, load_status

            st = load_status(con.config.data_path)
            conn = connector_status(con.config, con.engine, st, time.time()) if st else None
            return data.source_health(con.engine), quarantine_rows(con.engine, 50), conn

        health, rejects, connectors = await run_in_threadpool(load)
        return page(request, "sources.html", user, health=health, rejects=rejects, connectors=connectors)

    @r.get("/console/reports")
    async def reports(request: Request, notice: str | None = None):
        user = await need(request, con)
        from garrison.report import list_archive

        return page(request, "reports.html", user, reports=await run_in_threadpool(list_archive, con.engine),
                    notice=notice)

    @r.post("/console/reports")
    async def make_report(request: Request):
        user = await need(request, con, "viewer", write=True)
        form = await request.form()
        from garrison.report import archive, generate, parse_period

        try:
            period = parse_period(str(form.get("period") or "30d"))
            fmt = str(form.get("format") or "html")
            rep = await run_in_threadpool(generate, con.engine, period, con.config.report.organization_name, fmt,
                                          con.config.report.logo)
            rid = await run_in_threadpool(archive, con.engine, con.config.data_path, period, rep, user.name)
        except GarrisonError as e:
            return back("/console/reports", f"not generated: {e}")
        return back("/console/reports", f"report #{rid} generated")

    @r.get("/console/reports/{rid}")
    async def report_file(request: Request, rid: RowId):
        await need(request, con)
        from garrison.report import list_archive

        row = next((x for x in await run_in_threadpool(list_archive, con.engine, 10_000) if x["id"] == rid), None)
        if row is None:
            raise Refused(404, "not_found", f"no report #{rid}")
        path = con.config.data_path / row["path"]
        media = {"html": "text/html", "pdf": "application/pdf", "md": "text/markdown"}[row["format"]]
        return FileResponse(path, media_type=media, filename=path.name if row["format"] != "html" else None)

