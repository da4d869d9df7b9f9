"""Bans: the decisions in force (add, lift), their history, and the bouncers with their last pull."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from garrison.web.deps import RowId
from garrison.errors import GarrisonError
from garrison.model.decision import SCOPES
from garrison.respond.bouncers import list_bouncers
from garrison.respond.decisions import delete_decisions, list_decisions
from garrison.respond.manual import manual_ban
from garrison.web.console.base import Console, back, need, page


def routes(r: APIRouter, con: Console) -> None:
    @r.get("/console/bans")
    async def bans(request: Request, notice: str | None = None):
        user = await need(request, con, "analyst")

        def load():  # type: ignore[no-untyped-def]
            return (list_decisions(con.engine, True, 500), list_decisions(con.engine, False, 200),
                    list_bouncers(con.engine))

        active, history, bouncers = await run_in_threadpool(load)
        return page(request, "bans.html", user, active=active, history=history, bouncers=bouncers, scopes=SCOPES,
                    notice=notice)

    @r.post("/console/bans")
    async def add(request: Request):
        user = await need(request, con, "analyst", write=True)
        f = {k: str(v) for k, v in (await request.form()).items()}
        try:
            d = await run_in_threadpool(lambda: manual_ban(con.config, con.engine, f.get("value", "").strip(),
                                                           f.get("scope") or "ip", "ban", f.get("duration") or "4h",
                                                           f.get("reason") or "banned from the console", user.name))
        except GarrisonError as e:
            return back("/console/bans", f"not banned: {e}")
        con.view.refresh()
        return back("/console/bans", f"{d.value} banned until {d.until_iso()}" if hasattr(d, "until_iso")
                    else f"{d.value} banned")

    @r.post("/console/bans/{did}/delete")
    async def lift(request: Request, did: RowId):
        user = await need(request, con, "analyst", write=True)
        n = await run_in_threadpool(lambda: delete_decisions(con.engine, decision_id=did, actor=user.name))
        con.view.refresh()
        return back("/console/bans", f"decision #{did} lifted" if n else f"decision #{did} was not in force")
