"""Sign-in lockout under concurrency, and refusals that cost the same work whatever the reason."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from garrison.errors import AuthError
from garrison.store import open_state
from garrison.store import state as S
from garrison.web import auth

PW = "correct-horse-battery"


@pytest.fixture
def engine(tmp_path):
    e = open_state(tmp_path)
    auth.add_user(e, "alice", PW, "analyst")
    return e


def _counting(monkeypatch):
    calls = {"real": 0, "dummy": 0}
    verify = auth._verify

    def counted(hash_, password):
        calls["dummy" if hash_ == auth._DUMMY else "real"] += 1
        return verify(hash_, password)

    monkeypatch.setattr(auth, "_verify", counted)
    return calls


def test_forty_concurrent_guesses_check_at_most_five_passwords(engine, monkeypatch):
    calls = _counting(monkeypatch)

    def guess(i):
        try:
            auth.login(engine, "alice", f"wrong-guess-{i}", "203.0.113.9")
        except AuthError:
            return "refused"
        return "in"

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(guess, range(160)))
    assert results.count("in") == 0
    assert calls["real"] <= auth.MAX_FAILURES, calls  # was 70 of 160 before the counter was atomic
    assert calls["real"] + calls["dummy"] == 160  # every refusal did the same work
    with engine.connect() as c:
        row = c.execute(select(S.users).where(S.users.c.name == "alice")).mappings().one()
    assert row["failed_logins"] == auth.MAX_FAILURES and row["locked_until"]
    with pytest.raises(AuthError):  # locked: the right password is refused too, until the lock ends
        auth.login(engine, "alice", PW, None)


def test_every_refusal_verifies_one_hash(engine, monkeypatch):
    calls = _counting(monkeypatch)
    for name, pw in (("nobody", PW), ("alice", "wrong-password!")):
        with pytest.raises(AuthError, match="wrong user name or password, or the account is locked"):
            auth.login(engine, name, pw, None)
    assert calls == {"real": 1, "dummy": 1}
    assert auth.login(engine, "alice", PW, None).name == "alice"  # a success resets the count
    with engine.connect() as c:
        assert c.execute(select(S.users.c.failed_logins).where(S.users.c.name == "alice")).scalar() == 0


def test_lock_expires(engine, monkeypatch):
    for i in range(auth.MAX_FAILURES):
        with pytest.raises(AuthError):
            auth.login(engine, "alice", f"bad-{i}", None)
    monkeypatch.setattr(auth, "_now", lambda: 10**18)  # long after the lock
    assert auth.login(engine, "alice", PW, None).name == "alice"


def test_sign_in_form_needs_same_origin(tmp_path):
    from fastapi.testclient import TestClient

    from garrison.config import load_config
    from garrison.store import EventStore
    from garrison.web.app import create_app

    e = open_state(tmp_path)
    auth.add_user(e, "bob", PW, "viewer")
    client = TestClient(create_app(load_config(None, data_dir=str(tmp_path)), e, lambda r: 0, EventStore(tmp_path, e)))
    form = {"username": "bob", "password": PW}
    assert client.post("/console/login", data=form, follow_redirects=False).status_code == 403
    evil = client.post("/console/login", data=form, headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert evil.status_code == 403 and evil.json()["error"]["code"] == "csrf"
    ok = client.post("/console/login", data=form, headers={"Referer": "http://testserver/console/login"},
                     follow_redirects=False)
    assert ok.status_code == 303
