"""Ingest tokens: random 256-bit secrets, stored only as SHA-256 digests.

A digest is enough for a high-entropy token (unlike a password, it can't be
guessed), and it lets each request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from sqlalchemy import Engine, delete, insert, select

from garrison.errors import AuthError, GarrisonError
from garrison.store import state as S


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, name: str, organization: str, scopes: str = "ingest") -> str:
    token = "gar_" + secrets.token_urlsafe(32)
    with engine.begin() as c:
        if c.execute(select(S.ingest_tokens.c.id).where(S.ingest_tokens.c.name == name)).first():
            raise GarrisonError(f"a token named {name!r} exists; delete it first or choose another name")
        c.execute(insert(S.ingest_tokens).values(name=name, token_hash=_digest(token), organization_id=organization,
                                                 created_at=int(time.time() * 1_000_000), scopes=scopes))
    return token


def delete_token(engine: Engine, name: str) -> bool:
    with engine.begin() as c:
        return c.execute(delete(S.ingest_tokens).where(S.ingest_tokens.c.name == name)).rowcount > 0


def list_tokens(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as c:
        return [dict(r) for r in c.execute(select(S.ingest_tokens.c.name, S.ingest_tokens.c.organization_id,
                                                  S.ingest_tokens.c.created_at, S.ingest_tokens.c.scopes)).mappings()]


def verify_token(engine: Engine, token: str | None, scope: str = "ingest") -> tuple[str, str]:
    """Return (token name, organization id) for a token holding ``scope``, or raise AuthError."""
    if not token:
        raise AuthError("missing token")
    d = _digest(token)
    with engine.connect() as c:
        row = c.execute(select(S.ingest_tokens.c.name, S.ingest_tokens.c.organization_id, S.ingest_tokens.c.token_hash,
                               S.ingest_tokens.c.scopes).where(S.ingest_tokens.c.token_hash == d)).first()
    if row is None or not hmac.compare_digest(row[2], d):
        raise AuthError("invalid token")
    if scope not in (row[3] or "ingest").split(","):
        raise AuthError(f"token {row[0]!r} may not be used for {scope}")
    return row[0], row[1]
