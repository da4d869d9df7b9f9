"""HTTP ingest: NDJSON POST and a Splunk HEC-compatible endpoint.

A 2xx response means the records are fsynced in the WAL. Fluent Bit, Vector,
NXLog and Logstash can send with their Splunk HEC or HTTP outputs unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from garrison.errors import AuthError, Unavailable, error_body
from garrison.model import RawRecord
from garrison.sources._text import decode, json_values, too_long
from garrison.sources.tokens import verify_token

# Splunk sourcetype -> Garrison parser
SOURCETYPES = {
    "syslog": "syslog", "linux_secure": "syslog", "access_combined": "access", "access_common": "access",
    "nginx": "access", "iis": "iis", "cef": "cef", "suricata": "json", "zeek": "json", "_json": "json",
    "xmlwineventlog": "windows_xml", "wineventlog": "json",
}

Sink = Callable[[list[RawRecord]], int]


def _hec(text: str, code: int, status: int) -> JSONResponse:
    """HEC's own envelope, which forwarders read (code 9 means: busy, retry)."""
    return JSONResponse({"text": text, "code": code}, status_code=status)


def build_router(engine: Engine, sink: Sink, max_body: int, max_line: int, max_event: int | None = None,
                 max_depth: int = 32) -> APIRouter:
    router = APIRouter()
    max_event = max_event or max_line

    async def _auth(request: Request, scheme: str) -> tuple[str, str]:
        """Checked before a byte of the body is read."""
        auth = request.headers.get("authorization", "")
        token = None
        for s in (scheme, "Bearer"):
            if auth.lower().startswith(s.lower() + " "):
                token = auth[len(s) + 1 :].strip()
        return await run_in_threadpool(verify_token, engine, token)

    async def _body(request: Request) -> bytes | None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return None
        return bytes(body)

    async def _store(records: list[RawRecord]) -> None:
        await run_in_threadpool(sink, records)

    def _busy(e: Unavailable, hec: bool) -> JSONResponse:
        headers = {"Retry-After": str(e.retry_after)}
        if hec:
            return JSONResponse({"text": "Server is busy", "code": 9}, status_code=503, headers=headers)
        return JSONResponse(error_body("unavailable", f"cannot keep records now: {e.reason}; retry later"),
                            status_code=503, headers=headers)

    def _hec_auth_error(e: AuthError) -> JSONResponse:
        missing = "missing" in str(e)
        return _hec("Token is required" if missing else "Invalid token", 2 if missing else 4, 401 if missing else 403)

    @router.post("/api/v1/ingest")
    async def ingest_ndjson(request: Request, format: str | None = None, source: str | None = None) -> JSONResponse:
        """NDJSON (or any line format with ?format=): one record per line. ``source`` labels the stream
        (source health and the quarantine show it as http:TOKEN/LABEL)."""
        try:
            name, org = await _auth(request, "Bearer")
        except AuthError as e:
            return JSONResponse(error_body("unauthorized", str(e)), status_code=401)
        except Unavailable as e:
            return _busy(e, hec=False)
        body = await _body(request)
        if body is None:
            return JSONResponse(error_body("too_large", f"body exceeds {max_body} bytes (ingest.max_body_bytes)"),
                                status_code=413)
        label = "".join(ch for ch in (source or "")[:64] if ch.isalnum() or ch in "._-")
        records = _lines(body, f"http:{name}/{label}" if label else f"http:{name}", format, org, "http", max_line)
        try:
            await _store(records)
        except Unavailable as e:
            return _busy(e, hec=False)
        return JSONResponse({"accepted": len(records)})

    @router.get("/services/collector/health")
    @router.get("/services/collector/health/1.0")
    async def hec_health() -> JSONResponse:
        return _hec("HEC is healthy", 17, 200)

    @router.post("/services/collector/event")
    @router.post("/services/collector/event/1.0")
    @router.post("/services/collector")
    async def hec_event(request: Request) -> JSONResponse:
        try:
            name, org = await _auth(request, "Splunk")
        except AuthError as e:
            return _hec_auth_error(e)
        except Unavailable as e:
            return _busy(e, hec=True)
        body = await _body(request)
        if body is None:
            return _hec("Content too large", 27, 413)
        if not body.strip():
            return _hec("No data", 5, 400)
        try:
            records = _hec_events(body.decode("utf-8"), f"hec:{name}", org, max_event)
        except (ValueError, UnicodeDecodeError) as e:
            # HEC's answer (400, code 6: the forwarder must not retry); the refused body is kept in the quarantine
            kept = RawRecord(text=body[:65536].decode("utf-8", "backslashreplace"), source=f"hec:{name}", position=1,
                             meta={"org": org, "input": "hec", "reject": f"HEC body refused: {str(e)[:300]}"})
            try:
                await _store([kept])
            except Unavailable as busy:
                return _busy(busy, hec=True)
            return JSONResponse({"text": "Invalid data format", "code": 6, "invalid-event-number": getattr(e, "index", 0)},
                                status_code=400)
        try:
            await _store(records)
        except Unavailable as e:
            return _busy(e, hec=True)
        return _hec("Success", 0, 200)

    @router.post("/services/collector/raw")
    @router.post("/services/collector/raw/1.0")
    async def hec_raw(request: Request, sourcetype: str | None = None, host: str | None = None) -> JSONResponse:
        try:
            name, org = await _auth(request, "Splunk")
        except AuthError as e:
            return _hec_auth_error(e)
        except Unavailable as e:
            return _busy(e, hec=True)
        body = await _body(request)
        if body is None:
            return _hec("Content too large", 27, 413)
        if not body.strip():
            return _hec("No data", 5, 400)
        fmt = SOURCETYPES.get((sourcetype or "").lower())
        records = _lines(body, f"hec:{name}", fmt, org, "hec", max_line)
        if host:
            for r in records:
                r.meta["host"] = host[:255]
        try:
            await _store(records)
        except Unavailable as e:
            return _busy(e, hec=True)
        return _hec("Success", 0, 200)

    return router


def _lines(body: bytes, source: str, fmt: str | None, org: str, inp: str, max_line: int) -> list[RawRecord]:
    out = []
    for i, raw in enumerate(body.split(b"\n"), start=1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        meta: dict[str, Any] = {"org": org, "input": inp}
        if len(raw) > max_line:
            meta["too_long"] = too_long(len(raw), max_line)
            raw = raw[: 1024 * 1024]
        text, warning = decode(raw)
        if warning:
            meta["invalid_utf8"] = warning
        out.append(RawRecord(text=text, source=source, position=i, format=fmt, meta=meta))
    return out


class _HecError(ValueError):
    def __init__(self, msg: str, index: int):
        super().__init__(msg)
        self.index = index


def _hec_events(text: str, source: str, org: str, max_event: int = 1024 * 1024) -> list[RawRecord]:
    """HEC's body: JSON objects one after another, each with an 'event' (string or object).

    A malformed body is refused whole (400, code 6) so that the forwarder does not retry it; an event
    over ``max_event`` bytes is kept as a too-long record for the quarantine."""
    out: list[RawRecord] = []
    n = 0
    values = json_values(text)
    while True:
        try:
            obj, start = next(values)
        except StopIteration:
            break
        except (json.JSONDecodeError, RecursionError) as e:
            raise _HecError(f"event {n}: {str(e)[:200]}", n) from e
        if not isinstance(obj, dict) or "event" not in obj:
            raise _HecError(f"event {n}: missing 'event'", n)
        ev = obj["event"]
        meta: dict[str, Any] = {"org": org, "input": "hec"}
        for k in ("time", "host", "source", "sourcetype", "index"):
            v = obj.get(k)
            if v is not None:
                meta[k] = v if isinstance(v, (str, int, float)) and not isinstance(v, bool) else str(v)[:256]
        if isinstance(obj.get("fields"), dict):
            meta["fields"] = obj["fields"]
        fmt = SOURCETYPES.get(str(obj.get("sourcetype", "")).lower())
        n += 1
        try:
            ev_text = json.dumps(ev, separators=(",", ":")) if isinstance(ev, dict) else str(ev)
        except (RecursionError, ValueError) as e:
            raise _HecError(f"event {n - 1}: {str(e)[:200]}", n - 1) from e
        if len(ev_text) > max_event:
            meta["too_long"] = too_long(len(ev_text), max_event, "HEC event") + " (ingest.max_event_bytes)"
            out.append(RawRecord(text=ev_text[:65536], source=source, position=n, format=fmt, meta=meta))
        elif isinstance(ev, dict):
            out.append(RawRecord(text=ev_text, obj=ev, source=source, position=n,
                                 format=fmt if fmt != "json" else None, meta=meta))
        else:
            out.append(RawRecord(text=ev_text, source=source, position=n, format=fmt, meta=meta))
    return out
