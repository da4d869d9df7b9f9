"""Awareness: the simulations' results per campaign and department (people's clicks, with scanners apart), the
trend across campaigns, and training completion."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from garrison.awareness.results import campaign_results, trend
from garrison.awareness.training import status
from garrison.errors import GarrisonError
from garrison.web.console.base import Console, need, page


def routes(r: APIRouter, con: Console) -> None:
    @r.get("/console/awareness")
    async def awareness(request: Request, campaign: str | None = None):
        user = await need(request, con, "analyst")

        def load():  # type: ignore[no-untyped-def]
            rows = trend(con.engine)
            chosen = campaign or (rows[-1]["campaign"] if rows else None)
            try:
                detail = campaign_results(con.engine, chosen) if chosen else None
            except GarrisonError:
                detail = None
            return {"trend": rows, "detail": detail, "training": status(con.engine)}

        return page(request, "awareness.html", user, **await run_in_threadpool(load))
