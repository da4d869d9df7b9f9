"""Console accounts and sessions.

- Passwords: argon2id (argon2-cffi's defaults), at least 12 characters; never logged.
- Lockout: ``MAX_FAILURES`` wrong passwords in a row lock the account for ``LOCK_MINUTES``; the failure
  counter is claimed atomically before the password is checked and resets on success. A locked or
  unknown account answers the same as a wrong password, in the same time.
- Sessions: a 256-bit random cookie value; only its SHA-256 is stored. Sliding expiry (``SESSION_HOURS``
  of inactivity), absolute limit ``MAX_SESSION_DAYS``. Each session has its own CSRF token, which every
  state-changing request must send back (form field ``csrf`` or header ``X-CSRF-Token``).
- Roles: ``viewer`` < ``analyst`` < ``admin``.
Every sign-in, failure, lockout and sign-out is in the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, case, delete, insert, or_, select, update

from garrison.errors import AuthError, GarrisonError
from garrison.store import state as S
from garrison.store.records import audit

ROLES = ("viewer", "analyst", "admin")
MAX_FAILURES = 5
LOCK_MINUTES = 15
SESSION_HOURS = 12
MAX_SESSION_DAYS = 7
MIN_PASSWORD = 12
_ph = PasswordHasher()
_DUMMY = _ph.hash("garrison-timing-equaliser")  # verify something even for unknown users


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    csrf: str = ""

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _now() -> int:
    return int(time.time() * 1_000_000)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(engine: Engine, name: str, password: str | None, role: str, actor: str = "cli",
             sso_subject: str | None = None) -> int:
    name = name.strip()
    if role not in ROLES:
        raise GarrisonError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not name or len(name) > 128:
        raise GarrisonError("a user name needs 1 to 128 characters")
    if password is not None and len(password) < MIN_PASSWORD:
        raise GarrisonError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    with engine.begin() as c:
        if c.execute(select(S.users.c.id).where(S.users.c.name == name)).first():
            raise GarrisonError(f"user {name!r} exists (garrison users passwd {name} to change the password)")
        uid = c.execute(insert(S.users).values(name=name, password_hash=_ph.hash(password) if password else None,
                                               role=role, created_at=_now(), disabled=0, failed_logins=0,
                                               sso_subject=sso_subject)).inserted_primary_key[0]
        audit(c, actor, "user.add", f"user:{name}", {"role": role})
    return int(uid)


def set_password(engine: Engine, name: str, password: str, actor: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise GarrisonError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    with engine.begin() as c:
        n = c.execute(update(S.users).where(S.users.c.name == name).values(
            password_hash=_ph.hash(password), failed_logins=0, locked_until=None)).rowcount
        if not n:
            raise GarrisonError(f"no user {name!r} (garrison users list)")
        audit(c, actor, "user.password", f"user:{name}", None)
        uid = c.execute(select(S.users.c.id).where(S.users.c.name == name)).scalar()
        c.execute(delete(S.sessions).where(S.sessions.c.user_id == uid))  # a new password ends old sessions


def set_user(engine: Engine, name: str, actor: str, role: str | None = None, disabled: bool | None = None,
             unlock: bool = False) -> None:
    values: dict[str, Any] = {}
    if role is not None:
        if role not in ROLES:
            raise GarrisonError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        values["role"] = role
    if disabled is not None:
        values["disabled"] = int(disabled)
    if unlock:
        values.update(failed_logins=0, locked_until=None)
    with engine.begin() as c:
        if not c.execute(update(S.users).where(S.users.c.name == name).values(**values)).rowcount:
            raise GarrisonError(f"no user {name!r} (garrison users list)")
        audit(c, actor, "user.change", f"user:{name}", {k: v for k, v in values.items()})
        if disabled:
            uid = c.execute(select(S.users.c.id).where(S.users.c.name == name)).scalar()
            c.execute(delete(S.sessions).where(S.sessions.c.user_id == uid))


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [dict(r) for r in c.execute(select(S.users.c.name, S.users.c.role, S.users.c.disabled,
                                                  S.users.c.locked_until, S.users.c.last_login,
                                                  S.users.c.sso_subject).order_by(S.users.c.name)).mappings()]


def login(engine: Engine, name: str, password: str, ip: str | None) -> User:
    """Check a password; raises AuthError with one message for every kind of refusal.

    Each try first claims one of the ``MAX_FAILURES`` attempts in a single UPDATE … RETURNING (the
    database serialises it), so concurrent guesses can't all be checked before the lock holds: at most
    ``MAX_FAILURES`` reach the real hash. Unknown, disabled and locked accounts verify a dummy hash, so
    every refusal takes as long as a wrong password."""
    refused = AuthError("wrong user name or password, or the account is locked")
    now = _now()
    u = S.users.c
    with engine.begin() as c:
        claim = c.execute(
            update(S.users)
            .where(u.name == name, u.disabled == 0, u.password_hash.is_not(None),
                   or_(u.locked_until.is_(None), u.locked_until <= now))
            .values(failed_logins=case((u.locked_until.is_not(None), 1), else_=u.failed_logins + 1),
                    locked_until=case((case((u.locked_until.is_not(None), 1), else_=u.failed_logins + 1) >= MAX_FAILURES,
                                       now + LOCK_MINUTES * 60_000_000), else_=None))
            .returning(u.id, u.password_hash, u.failed_logins, u.role, u.name)).mappings().first()
    ok = False
    if claim is None:
        why = "unknown, disabled or locked account"
        _verify(_DUMMY, password)
    else:
        ok = _verify(claim["password_hash"], password)
        why = "" if ok else ("lockout" if claim["failed_logins"] >= MAX_FAILURES
                             else f"wrong password ({claim['failed_logins']} in a row)")
    with engine.begin() as c:
        if ok:
            assert claim is not None
            values: dict[str, Any] = {"failed_logins": 0, "locked_until": None, "last_login": now}
            if _ph.check_needs_rehash(claim["password_hash"]):
                values["password_hash"] = _ph.hash(password)
            c.execute(update(S.users).where(u.id == claim["id"]).values(**values))
            audit(c, name, "login.success", f"ip:{ip}", None)
        else:
            audit(c, name[:128] or "-", "login.lockout" if why == "lockout" else "login.failure", f"ip:{ip}",
                  {"reason": why})
    if not ok or claim is None:
        raise refused
    return User(int(claim["id"]), claim["name"], claim["role"])


def _verify(hash_: str, password: str) -> bool:
    try:
        return bool(_ph.verify(hash_, password))
    except (VerificationError, InvalidHashError):
        return False


def sso_user(engine: Engine, subject: str, name: str, default_role: str, ip: str | None) -> User:
    """The account of an OpenID Connect subject, created on first sign-in with ``default_role``."""
    with engine.begin() as c:
        row = c.execute(select(S.users).where(S.users.c.sso_subject == subject)).mappings().first()
    if row is None:
        add_user(engine, name if not _exists(engine, name) else f"{name}-{secrets.token_hex(3)}", None, default_role,
                 "sso", sso_subject=subject)
        with engine.connect() as c:
            row = c.execute(select(S.users).where(S.users.c.sso_subject == subject)).mappings().first()
    assert row is not None
    if row["disabled"]:
        raise AuthError("this account is disabled")
    with engine.begin() as c:
        c.execute(update(S.users).where(S.users.c.id == row["id"]).values(last_login=_now()))
        audit(c, row["name"], "login.success", f"ip:{ip}", {"via": "oidc"})
    return User(int(row["id"]), row["name"], row["role"])


def _exists(engine: Engine, name: str) -> bool:
    with engine.connect() as c:
        return c.execute(select(S.users.c.id).where(S.users.c.name == name)).first() is not None


def start_session(engine: Engine, user: User, ip: str | None) -> tuple[str, str]:
    """A new session: (cookie value, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = _now()
    with engine.begin() as c:
        c.execute(insert(S.sessions).values(token_hash=_digest(token), user_id=user.id, created_at=now,
                                            expires_at=now + SESSION_HOURS * 3_600_000_000, csrf=csrf, ip=ip))
        c.execute(delete(S.sessions).where(S.sessions.c.expires_at < now))
    return token, csrf


def session_user(engine: Engine, token: str | None) -> User | None:
    if not token or len(token) > 128:
        return None
    now = _now()
    with engine.connect() as c:
        row = c.execute(select(S.sessions, S.users.c.name, S.users.c.role, S.users.c.disabled)
                        .join(S.users, S.users.c.id == S.sessions.c.user_id)
                        .where(S.sessions.c.token_hash == _digest(token))).mappings().first()
    if row is None or row["expires_at"] < now or row["disabled"] or \
            now - row["created_at"] > MAX_SESSION_DAYS * 86_400_000_000:
        return None
    if row["expires_at"] - now < (SESSION_HOURS - 1) * 3_600_000_000:  # slide, at most once an hour
        with engine.begin() as c:
            c.execute(update(S.sessions).where(S.sessions.c.token_hash == row["token_hash"])
                      .values(expires_at=now + SESSION_HOURS * 3_600_000_000))
    return User(int(row["user_id"]), row["name"], row["role"], row["csrf"])


def end_session(engine: Engine, token: str | None, actor: str) -> None:
    if token:
        with engine.begin() as c:
            c.execute(delete(S.sessions).where(S.sessions.c.token_hash == _digest(token)))
            audit(c, actor, "logout", None, None)


def csrf_ok(user: User, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(user.csrf, sent or "")
