"""Rows that several stages write: decisions and audit entries (inside the caller's transaction)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import insert

from garrison.errors import GarrisonError
from garrison.model.decision import TYPES, Decision
from garrison.store import state as S


def now_us() -> int:
    return int(time.time() * 1_000_000)


def decision_values(d: Decision) -> dict[str, Any]:
    return dict(type=d.type, scope=d.scope, value=d.value, origin=d.origin, reason=d.reason[:512],
                created_at=d.created_at, until=d.until, deleted_at=d.deleted_at, updated_at=now_us(),
                simulated=int(d.simulated), organization_id=d.organization_id, author=d.author, rule_id=d.rule_id,
                event_id=d.event_id, offence=d.offence)


def insert_decisions(conn: Any, decisions: Iterable[Decision]) -> None:
    """Insert within the caller's transaction; sets each decision's id."""
    for d in decisions:
        if d.type not in TYPES:
            raise GarrisonError(f"unknown decision type {d.type!r}; use one of {', '.join(TYPES)}")
        d.id = conn.execute(insert(S.decisions).values(**decision_values(d))).inserted_primary_key[0]


def audit(conn: Any, actor: str, action: str, target: str | None, detail: dict[str, Any] | None = None) -> None:
    conn.execute(insert(S.audit_log).values(at=now_us(), actor=actor, action=action, target=target,
                                            detail=orjson.dumps(detail or {}, default=str).decode()))


def quarantine_rows(engine: Any, limit: int = 100, source: str | None = None) -> list[dict[str, Any]]:
    """The newest quarantined records: source, position, reason and the raw text."""
    from sqlalchemy import select

    from garrison.store import state as S

    q = select(S.quarantine).order_by(S.quarantine.c.id.desc()).limit(limit)
    if source:
        q = q.where(S.quarantine.c.source == source)
    with engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]
