"""Search: the query language over a time range, a histogram of hits, results, CSV and JSON export."""

from __future__ import annotations

import csv
import io
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from garrison.errors import error_body
from garrison.errors import GarrisonError
from garrison.store.search import histogram, search
from garrison.web.console.base import Console, need, page

RANGES = {"15m": 900, "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "1y": 365 * 86400}
COLUMNS = ["@timestamp", "event.dataset", "event.action", "event.outcome", "source.ip", "user.name", "host.name",
           "destination.ip", "url.path"]
EXPORT_LIMIT = 100_000


def _window(rng: str) -> tuple[int, int]:
    now = int(time.time() * 1e6)
    return now - RANGES.get(rng, 86400) * 1_000_000, now + 1


def _run(con: Console, q: str, rng: str, limit: int) -> dict[str, Any]:
    since, until = _window(rng)
    # The histogram (whose sum is the count) and the newest hits are two scans: run them side by side.
    with ThreadPoolExecutor(2) as pool:
        hist_f = pool.submit(histogram, con.store, q or "*", since, until, 60)
        res_f = pool.submit(search, con.store, q or "*", since, until, limit, False, -1)
        hist, res = hist_f.result(), res_f.result()
    return {"count": sum(n for _, n in hist), "events": res.events,
            "histogram": [{"t": t // 1000, "n": n} for t, n in hist]}


def routes(r: APIRouter, con: Console) -> None:
    @r.get("/console/search")
    async def search_page(request: Request, q: str = "", range: str = "24h", limit: int = 100):  # noqa: A002
        user = await need(request, con, "analyst")
        rng = range if range in RANGES else "24h"
        result, error = None, None
        if q:
            try:
                result = await run_in_threadpool(_run, con, q, rng, max(1, min(limit, 1000)))
            except GarrisonError as e:
                error = str(e)
        return page(request, "search.html", user, q=q, range=rng, ranges=list(RANGES), result=result, error=error,
                    columns=COLUMNS)

    @r.get("/console/search.{fmt}")
    async def export(request: Request, fmt: str, q: str = "", range: str = "24h"):  # noqa: A002
        await need(request, con, "analyst")
        if fmt not in ("csv", "json"):
            return Response(status_code=404)
        since, until = _window(range if range in RANGES else "24h")
        try:
            res = await run_in_threadpool(search, con.store, q or "*", since, until, EXPORT_LIMIT)
        except GarrisonError as e:
            return Response(orjson.dumps(error_body("bad_query", str(e))), status_code=400,
                            media_type="application/json")
        name = f"garrison-search-{time.strftime('%Y%m%dT%H%M%S')}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "json":
            body = b"".join(orjson.dumps(e, default=str) + b"\n" for e in res.events)
            return Response(body, media_type="application/x-ndjson", headers=headers)
        fields = COLUMNS + ["event.original"]
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(fields)
        for e in res.events:
            # Cells that a spreadsheet would run as a formula are quoted with a leading apostrophe.
            w.writerow(["'" + v if (v := str(e.get(f, ""))) and v[0] in "=+-@\t\r" else v for f in fields])
        return Response(buf.getvalue(), media_type="text/csv", headers=headers)
