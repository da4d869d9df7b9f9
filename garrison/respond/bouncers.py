"""Bouncer API keys: random 256-bit secrets stored as SHA-256 digests (like ingest tokens)."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import Engine, delete, insert, select, update

from garrison.errors import AuthError, GarrisonError
from garrison.store import state as S
from garrison.store.records import audit, now_us


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def add_bouncer(engine: Engine, name: str) -> str:
    key = secrets.token_hex(32)
    with engine.begin() as c:
        if c.execute(select(S.bouncers.c.id).where(S.bouncers.c.name == name)).first():
            raise GarrisonError(f"a bouncer named {name!r} exists; delete it first or choose another name")
        c.execute(insert(S.bouncers).values(name=name, key_hash=_digest(key), created_at=now_us()))
        audit(c, "cli", "bouncer.add", name)
    return key


def delete_bouncer(engine: Engine, name: str) -> bool:
    with engine.begin() as c:
        n = c.execute(delete(S.bouncers).where(S.bouncers.c.name == name)).rowcount
        audit(c, "cli", "bouncer.delete", name)
    return n > 0


def list_bouncers(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as c:
        return [dict(r) for r in c.execute(select(S.bouncers.c.name, S.bouncers.c.created_at, S.bouncers.c.last_pull,
                                                  S.bouncers.c.ip_address, S.bouncers.c.user_agent)).mappings()]


def authenticate(engine: Engine, key: str | None) -> tuple[int, str, int | None]:
    """(bouncer id, name, last pull) for an API key, or AuthError."""
    if not key:
        raise AuthError("missing X-Api-Key")
    with engine.connect() as c:
        row = c.execute(select(S.bouncers.c.id, S.bouncers.c.name, S.bouncers.c.last_pull)
                        .where(S.bouncers.c.key_hash == _digest(key))).first()
    if row is None:
        raise AuthError("invalid API key")
    return row[0], row[1], row[2]


def record_pull(engine: Engine, bouncer_id: int, at: int, ip: str | None, agent: str | None) -> None:
    with engine.begin() as c:
        c.execute(update(S.bouncers).where(S.bouncers.c.id == bouncer_id).values(last_pull=at, ip_address=ip,
                                                                                  user_agent=(agent or "")[:256]))
