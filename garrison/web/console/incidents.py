"""The incident queue and one incident with all its evidence and actions."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from garrison.web.deps import RowId
from garrison.errors import GarrisonError
from garrison.store import state as S
from garrison.store.search import events_by_id
from garrison.model.inventory import load_inventory
from garrison.respond.safety import protected_reason
from garrison.triage.cases import OUTCOMES, STATUSES, assign, close, comment, get_incident, list_incidents, set_status
from garrison.web.console.base import Console, Refused, back, need, page

SEVERITIES = ("critical", "high", "medium", "low")


def _other_incidents(con: Console, iid: RowId, entities: list[dict[str, Any]]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    with con.engine.connect() as c:
        for e in entities:
            ids = [r[0] for r in c.execute(select(S.incident_entities.c.incident_id).where(
                S.incident_entities.c.kind == e["kind"], S.incident_entities.c.value == e["value"],
                S.incident_entities.c.incident_id != iid).order_by(S.incident_entities.c.incident_id.desc()).limit(10))]
            out[(e["kind"], e["value"])] = ids
    return out


def _load(con: Console, iid: RowId) -> dict[str, Any]:
    inc = get_incident(con.engine, iid)
    dets = inc["detections"][:500]  # the timeline's first 500; the count says how many more
    ids = [d["event_id"] for d in dets if d["event_id"] is not None]
    span = (min((d["timestamp"] for d in dets), default=0) - 60_000_000, max((d["timestamp"] for d in dets), default=0) + 60_000_000)
    events = events_by_id(con.store, ids, *span) if ids else {}
    inventory = load_inventory(con.config.enrich.inventory)
    # ban is offered only for what can be banned: never the estate's own addresses, partners or special ranges
    bannable = [e["value"] for e in inc["entities"] if e["kind"] == "ip" and not protected_reason("ip", e["value"], inventory)]
    return {"inc": inc, "events": events, "others": _other_incidents(con, iid, inc["entities"]),
            "shown": len(dets), "bannable": bannable, "groups": timeline_groups(dets),
            "identity": _identity(con, inc), "mail": _mail(con, inc)}


def _mail(con: Console, inc: dict[str, Any]) -> dict[str, Any] | None:
    """A reported phish's campaign, when the incident is one (its detections include an analysed message)."""
    from garrison.pipeline.mail import MAIL_RULES, incident_campaign

    if not any(d["rule_id"] in MAIL_RULES for d in inc["detections"]):
        return None
    from garrison.awareness.results import failed_recently, resembles

    try:
        camp = incident_campaign(con.config, con.store, con.engine, inc["id"])
    except GarrisonError:
        return None
    # who among the recipients fell for a simulation in the last six months: the first to check on
    camp["resembles"] = resembles(camp["subject"], camp["text"])
    camp["failed_simulations"] = failed_recently(con.engine, camp["recipients"], int(time.time() * 1e6) - 183 * 86400 * 10**6)
    return camp


def _accounts(inc: dict[str, Any]) -> list[str]:
    """The incident's Entra ID accounts as their full names: its user entities are kept without the domain,
    its detections' events name the account in full."""
    names = {e["value"].lower() for e in inc["entities"] if e["kind"] == "user"}
    full = {str(d["user_name"]) for d in inc["detections"] if d.get("user_name") and "@" in str(d["user_name"])}
    return sorted(u for u in full if u.lower() in names or u.split("@")[0].lower() in names)


def _identity(con: Console, inc: dict[str, Any]) -> dict[str, Any]:
    """The Entra ID actions this incident's accounts can have (when Microsoft's connector is configured), the
    ones a policy asks for, and those done."""
    from garrison.respond.identity import ACTIONS, list_actions, protected

    if not con.config.microsoft.tenant_id:
        return {"users": [], "asked": [], "done": [], "names": ACTIONS}
    users = _accounts(inc)
    rows = [a for u in users for a in list_actions(con.engine, user=u, limit=50)]
    return {"users": [u for u in users if not protected(con.config, u)], "names": ACTIONS,
            "asked": [a for a in rows if a["status"] == "asked"], "done": [a for a in rows if a["status"] != "asked"]}


def timeline_groups(dets: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Repeats of one rule on the same source, user and host, one after another, become one row of the
    timeline ("Ransom note written ×30, 13:39:37–13:40:10") that opens to show each."""
    groups: list[list[dict[str, Any]]] = []
    key = None
    for d in dets:
        k = (d["rule_id"], d["source_ip"], d["user_name"], d["host_name"])
        if groups and k == key:
            groups[-1].append(d)
        else:
            groups.append([d])
            key = k
    return groups


def routes(r: APIRouter, con: Console) -> None:
    @r.get("/console/incidents")
    async def queue(request: Request, status: str | None = None, severity: str | None = None,
                    assignee: str | None = None, notice: str | None = None):
        user = await need(request, con, "analyst")
        status = status if status in STATUSES or status == "open" else None
        severity = severity if severity in SEVERITIES else None

        def load():  # type: ignore[no-untyped-def]
            rows = list_incidents(con.engine, None if status == "open" else status, severity, assignee or None, limit=500)
            return [i for i in rows if status != "open" or i["status"] in ("new", "investigating", "contained")]

        rows = await run_in_threadpool(load)
        return page(request, "incidents.html", user, incidents=rows, status=status, severity=severity,
                    assignee=assignee or "", statuses=STATUSES, severities=SEVERITIES, notice=notice)

    @r.get("/console/incidents/{iid}")
    async def one(request: Request, iid: RowId, notice: str | None = None):
        user = await need(request, con, "analyst")
        try:
            ctx = await run_in_threadpool(_load, con, iid)
        except GarrisonError as e:
            raise Refused(404, "not_found", str(e)) from e
        return page(request, "incident.html", user, statuses=STATUSES, outcomes=OUTCOMES, notice=notice, **ctx)

    @r.post("/console/incidents/{iid}/{action}")
    async def act(request: Request, iid: RowId, action: str):
        user = await need(request, con, "analyst", write=True)
        form = await request.form()
        f = {k: str(v) for k, v in form.items()}
        url = f"/console/incidents/{iid}"
        try:
            if action == "assign":
                await run_in_threadpool(assign, con.engine, iid, f.get("assignee") or user.name, user.name)
                msg = f"assigned to {f.get('assignee') or user.name}"
            elif action == "comment":
                await run_in_threadpool(comment, con.engine, iid, user.name, f.get("text", ""))
                msg = "comment added"
            elif action == "status":
                await run_in_threadpool(set_status, con.engine, iid, f.get("status", ""), user.name)
                msg = f"status set to {f.get('status')}"
            elif action == "close":
                await run_in_threadpool(close, con.engine, iid, f.get("outcome", ""), user.name, f.get("note") or None)
                msg = f"closed as {OUTCOMES.get(f.get('outcome', ''), f.get('outcome'))}"
            elif action == "ban":
                from garrison.respond.manual import manual_ban

                await run_in_threadpool(lambda: manual_ban(con.config, con.engine, f.get("value", ""), "ip", "ban",
                                                           f.get("duration") or "24h",
                                                           f"incident #{iid}: {f.get('reason') or 'banned from the console'}",
                                                           user.name))
                con.view.refresh()
                msg = f"{f.get('value')} banned for {f.get('duration') or '24h'}"
            elif action == "identity":
                from garrison.respond.identity import ACTIONS, do_asked, perform

                if f.get("asked_id"):
                    row = await run_in_threadpool(do_asked, con.engine, con.config, int(f["asked_id"]), user.name)
                else:
                    inc = await run_in_threadpool(get_incident, con.engine, iid)
                    if f.get("user", "") not in _identity(con, inc)["users"]:
                        raise GarrisonError(f"{f.get('user')!r} is not an account of this incident that can be acted on")
                    row = await run_in_threadpool(perform, con.engine, con.config, f.get("identity_action", ""),
                                                  f.get("user", ""), user.name, f"incident #{iid}", iid)
                msg = f"{ACTIONS[row['action']]} for {row['user']}: {row['status']}"
            elif action == "mail":
                from garrison.pipeline.mail import act_on_incident

                r = await run_in_threadpool(act_on_incident, con.config, con.store, con.engine, iid, user.name,
                                            f.get("block") == "1", f.get("purge") == "1", f.get("answer") == "1")
                con.view.refresh()
                msg = "mail response: " + ", ".join(k for k in ("blocked", "purged", "answered") if k in r) or "nothing chosen"
            elif action == "suppress":
                from garrison.triage.suppress import from_incident

                await run_in_threadpool(from_incident, con.engine, iid, f.get("kind", "rule"), f.get("reason") or "",
                                        f.get("duration") or "30d", user.name)
                msg = "suppression created"
            else:
                raise Refused(404, "not_found", f"no action {action!r}")
        except GarrisonError as e:
            return back(url, f"not done: {e}")
        return back(url, msg)
