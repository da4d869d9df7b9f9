"""Mail: an analyst uploads a suspicious message (.eml, .msg, or a report carrying one) and reads its verdict."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from garrison.pipeline.mail import analyze_bytes, summary
from garrison.web.console.base import Console, Refused, need, page


def routes(r: APIRouter, con: Console) -> None:
    limit = con.config.reporting.max_message_bytes

    @r.get("/console/mail")
    async def form(request: Request):
        user = await need(request, con, "analyst")
        return page(request, "mail.html", user, result=None, limit=limit)

    @r.post("/console/mail")
    async def upload(request: Request):
        if int(request.headers.get("content-length") or 0) > limit + 64 * 1024:
            raise Refused(413, "too_large", f"a message over {limit:,} bytes (reporting.max_message_bytes) is not analysed here")
        user = await need(request, con, "analyst", write=True)
        f = (await request.form()).get("message")
        if f is None or isinstance(f, str):
            raise Refused(400, "bad_request", "choose a message file (.eml or .msg) to analyse")
        raw = await f.read(limit + 1)
        if len(raw) > limit:
            raise Refused(413, "too_large", f"a message over {limit:,} bytes (reporting.max_message_bytes) is not analysed here")
        name = f.filename or "upload"
        if name.lower().endswith(".msg"):
            from garrison.sources.mail import msg_to_eml

            try:
                raw = await run_in_threadpool(msg_to_eml, raw)
            except Exception as e:  # extract-msg's own errors on a broken file
                return page(request, "mail.html", user, limit=limit, http_status=422,
                            result={"verdict": "unreadable", "reasons": [f"not a readable Outlook .msg file: {type(e).__name__}"]})
        result = summary(await run_in_threadpool(analyze_bytes, con.config, raw, f"upload:{name}",
                                                 bool(request.query_params.get("report"))))
        return page(request, "mail.html", user, result=result, limit=limit)
