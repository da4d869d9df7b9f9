"""Response actions on Entra ID accounts through Microsoft Graph, kept like decisions.

- revoke_sessions: every refresh token and session cookie of the user is invalidated (revokeSignInSessions);
- block_signin / unblock_signin: accountEnabled false / true; a block may carry an expiry, lifted by the
  service's maintenance round;
- confirm_compromised: Identity Protection marks the user compromised (risk high; its policies then apply);
- remove_inbox_rule: an inbox rule (a forwarding rule Garrison found) is deleted;
- purge_message: a message (by its Internet message id, from a reported phish) is deleted from the mailbox.

Every action is a row in ``identity_actions`` and an entry in the audit log, with who asked and who did it.
Policies that act on identities ask by default: the action waits on the incident for an analyst's click.
Protected accounts (``microsoft.protected_accounts``: break-glass, service accounts) are never acted on;
``respond.dry_run`` records what would have been done; with ``microsoft.actions`` off nothing is sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Engine, insert, select, update

from garrison.clients.microsoft import Api, ConnectorError, error_text
from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.store import state as S
from garrison.store.records import audit

ACTIONS = {
    "revoke_sessions": "Revoke the user's sign-in sessions",
    "block_signin": "Block sign-in",
    "unblock_signin": "Unblock sign-in",
    "confirm_compromised": "Confirm the user compromised (Identity Protection)",
    "remove_inbox_rule": "Remove the inbox rule",
    "purge_message": "Delete the message from the mailbox",
}


def now_us() -> int:
    return int(time.time() * 1_000_000)


def protected(config: Config, user: str) -> bool:
    return user.strip().lower() in {a.strip().lower() for a in config.microsoft.protected_accounts}


def ask(conn: Any, action: str, user: str, reason: str, incident_id: int | None = None,
        detail: dict[str, Any] | None = None, until: int | None = None) -> None:
    """Inside a transaction: a policy asks for an action; it waits for an analyst (never for a protected user)."""
    conn.execute(insert(S.identity_actions).values(
        action=action, user=user, status="asked", reason=reason[:512], origin="policy", incident_id=incident_id,
        detail=orjson.dumps(detail or {}).decode(), asked_at=now_us(), until=until))
    audit(conn, "policy", f"identity.{action}.asked", user, {"reason": reason, "incident": incident_id})


def recently(conn_or_engine: Any, action: str, user: str, within_us: int = 86_400_000_000) -> bool:
    """An action of this kind for this user asked or done within the last day (a policy asks once)."""
    q = select(S.identity_actions.c.id).where(S.identity_actions.c.action == action, S.identity_actions.c.user == user,
                                             S.identity_actions.c.asked_at >= now_us() - within_us).limit(1)
    if isinstance(conn_or_engine, Engine):
        with conn_or_engine.connect() as c:
            return c.execute(q).first() is not None
    return conn_or_engine.execute(q).first() is not None


def list_actions(engine: Engine, incident_id: int | None = None, user: str | None = None,
                 limit: int = 200) -> list[dict[str, Any]]:
    q = select(S.identity_actions).order_by(S.identity_actions.c.id.desc()).limit(limit)
    if incident_id is not None:
        q = q.where(S.identity_actions.c.incident_id == incident_id)
    if user:
        q = q.where(S.identity_actions.c.user == user)
    with engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]


async def _call(api: Api, graph: str, action: str, user: str, detail: dict[str, Any]) -> None:
    u = quote(user, safe="@.")
    if action == "revoke_sessions":
        resp = await api.request("POST", f"{graph}/v1.0/users/{u}/revokeSignInSessions", graph)
    elif action in ("block_signin", "unblock_signin"):
        resp = await api.request("PATCH", f"{graph}/v1.0/users/{u}", graph,
                                 json={"accountEnabled": action == "unblock_signin"})
    elif action == "confirm_compromised":
        found = await api.request("GET", f"{graph}/v1.0/users/{u}", graph, params={"$select": "id"})
        if found.status_code >= 400:
            raise ConnectorError(f"user {user} not found in Entra ID: HTTP {found.status_code}: {error_text(found)}")
        oid = orjson.loads(found.content).get("id")
        resp = await api.request("POST", f"{graph}/v1.0/identityProtection/riskyUsers/confirmCompromised", graph,
                                 json={"userIds": [oid]})
    elif action == "remove_inbox_rule":
        rule = str(detail.get("rule_id") or "")
        if not rule:
            raise GarrisonError("remove_inbox_rule needs the rule's id (--rule-id)")
        resp = await api.request("DELETE", f"{graph}/v1.0/users/{u}/mailFolders/inbox/messageRules/{quote(rule, safe='')}",
                                 graph)
    elif action == "purge_message":
        resp = await _purge(api, graph, u, detail)
    else:
        raise GarrisonError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if resp.status_code >= 400:
        raise ConnectorError(f"{ACTIONS[action]} for {user}: HTTP {resp.status_code}: {error_text(resp)}")


async def _purge(api: Api, graph: str, u: str, detail: dict[str, Any]) -> Any:
    """Find the message by its Internet message id ($filter, quotes doubled as OData wants) and delete each copy;
    ``detail["deleted"]`` says how many were."""
    internet_id = str(detail.get("internet_message_id") or "")
    detail["deleted"] = 0
    if not internet_id:
        raise GarrisonError("purge_message needs the message's Internet message id")
    literal = internet_id.replace("'", "''")
    found = await api.request("GET", f"{graph}/v1.0/users/{u}/messages", graph,
                              params={"$filter": f"internetMessageId eq '{literal}'", "$select": "id"})
    if found.status_code >= 400:
        return found
    resp = found
    for m in orjson.loads(found.content).get("value", [])[:50]:
        resp = await api.request("DELETE", f"{graph}/v1.0/users/{u}/messages/{quote(str(m['id']), safe='')}", graph)
        if resp.status_code >= 400 and resp.status_code != 404:  # already gone is what we wanted
            return resp
        detail["deleted"] += resp.status_code < 300
    return resp


def perform(engine: Engine, config: Config, action: str, user: str, actor: str, reason: str,
            incident_id: int | None = None, detail: dict[str, Any] | None = None, until: int | None = None,
            asked_id: int | None = None) -> dict[str, Any]:
    """Do an action now (an analyst's command or click, or an automatic policy); the stored row."""
    if action not in ACTIONS:
        raise GarrisonError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    m = config.microsoft
    detail = detail or {}
    status, error = "done", None
    if protected(config, user):
        status, error = "refused", "a protected account (microsoft.protected_accounts): never acted on"
    elif config.respond.dry_run:
        status = "simulated"
    elif not m.actions:
        raise GarrisonError("response actions through Graph are off: set microsoft.actions: true and grant the app "
                            "the write permissions listed in the README")
    else:
        async def run() -> None:
            api = Api(m)
            try:
                await _call(api, m.graph_url.rstrip("/"), action, user, detail)
            finally:
                await api.close()
        try:
            asyncio.run(run())
        except (ConnectorError, GarrisonError) as e:
            status, error = "failed", str(e)[:512]
    row = {"action": action, "user": user, "status": status, "reason": reason[:512], "origin": "analyst"
           if actor != "policy" else "policy", "incident_id": incident_id, "detail": orjson.dumps(detail).decode(),
           "done_at": now_us(), "done_by": actor, "until": until, "error": error}
    with engine.begin() as c:
        if asked_id is not None:
            c.execute(update(S.identity_actions).where(S.identity_actions.c.id == asked_id).values(**row))
            row["id"] = asked_id
        else:
            row["id"] = c.execute(insert(S.identity_actions).values(asked_at=now_us(), **row)).inserted_primary_key[0]
        audit(c, actor, f"identity.{action}.{status}", user, {"reason": reason, "incident": incident_id,
                                                              "error": error, **detail})
    if status == "failed":
        raise GarrisonError(f"{ACTIONS[action]} for {user} failed: {error}")
    return row


def do_asked(engine: Engine, config: Config, action_id: int, actor: str) -> dict[str, Any]:
    """An analyst approves an action a policy asked for (the incident page's button)."""
    with engine.connect() as c:
        row = c.execute(select(S.identity_actions).where(S.identity_actions.c.id == action_id)).mappings().first()
    if row is None:
        raise GarrisonError(f"no identity action #{action_id}")
    if row["status"] != "asked":
        raise GarrisonError(f"identity action #{action_id} is {row['status']}, not waiting")
    return perform(engine, config, row["action"], row["user"], actor, row["reason"], row["incident_id"],
                   orjson.loads(row["detail"] or "{}"), row["until"], asked_id=action_id)


def lift_expired_blocks(engine: Engine, config: Config, now: int | None = None) -> int:
    """Maintenance: sign-in blocks past their expiry are lifted (unblocked through Graph)."""
    now = now or now_us()
    with engine.connect() as c:
        due = c.execute(select(S.identity_actions).where(S.identity_actions.c.action == "block_signin",
                                                         S.identity_actions.c.status == "done",
                                                         S.identity_actions.c.until.is_not(None),
                                                         S.identity_actions.c.until <= now)).mappings().all()
    n = 0
    for row in due:
        perform(engine, config, "unblock_signin", row["user"], "expiry", f"block #{row['id']} expired",
                row["incident_id"])
        with engine.begin() as c:
            c.execute(update(S.identity_actions).where(S.identity_actions.c.id == row["id"]).values(status="lifted"))
        n += 1
    return n
