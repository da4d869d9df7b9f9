"""Ingest tokens: random 256-bit secrets, stored only as SHA-256 digests.

A digest is enough for a high-entropy token (unlike a password, it can't be
guessed), and it lets each request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import OperationalError

from garrison.errors import AuthError, GarrisonError, Unavailable
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
    with _cache_lock:
        for k in [k for k, v in _cache.items() if v[1] == name]:
            _cache.pop(k, None)
    with engine.begin() as c:
        return c.execute(delete(S.ingest_tokens).where(S.ingest_tokens.c.name == name)).rowcount > 0


def list_tokens(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as c:
        return [dict(r) for r in c.execute(select(S.ingest_tokens.c.name, S.ingest_tokens.c.organization_id,
                                                  S.ingest_tokens.c.created_at, S.ingest_tokens.c.scopes)).mappings()]


_CACHE_SECONDS = 30.0  # a deleted token stops working within this time
_cache: dict[str, tuple[float, str, str, str]] = {}  # digest -> (checked at, name, organization, scopes)
_cache_lock = threading.Lock()


def verify_token(engine: Engine, token: str | None, scope: str = "ingest") -> tuple[str, str]:
    """Return (token name, organization id) for a token holding ``scope``, or raise AuthError.

    Checked tokens are remembered for ``_CACHE_SECONDS``, so ingest keeps authenticating while the state
    database can't be opened (a full disk); a token not seen before then gets ``Unavailable`` (503)."""
    if not token:
        raise AuthError("missing token")
    if len(token) > 512:
        raise AuthError("invalid token")
    d = _digest(token)
    now = time.monotonic()
    hit = _cache.get(d)
    if hit is None or now - hit[0] > _CACHE_SECONDS:
        checked = now
        try:
            with engine.connect() as c:
                row = c.execute(select(S.ingest_tokens.c.name, S.ingest_tokens.c.organization_id,
                                       S.ingest_tokens.c.token_hash, S.ingest_tokens.c.scopes)
                                .where(S.ingest_tokens.c.token_hash == d)).first()
        except OperationalError as e:
            if hit is None:
                raise Unavailable("cannot check the token: the state database is unavailable") from e
            row, checked = (hit[1], hit[2], d, hit[3]), hit[0]  # known a moment ago: keep taking its records
        if row is None or not hmac.compare_digest(row[2], d):
            with _cache_lock:
                _cache.pop(d, None)
            raise AuthError("invalid token")
        with _cache_lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[d] = hit = (checked, row[0], row[1], row[3] or "ingest")
    if scope not in hit[3].split(","):
        raise AuthError(f"token {hit[1]!r} may not be used for {scope}")
    return hit[1], hit[2]
