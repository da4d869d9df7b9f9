"""Console sign-in: argon2 hashes, lockout, sessions, CSRF, roles, audit, and OpenID Connect single
sign-on against a real OIDC provider (oidc-provider-mock, an Authlib server run on loopback)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from garrison.config import load_config
from garrison.errors import AuthError, GarrisonError
from garrison.store import EventStore, open_state
from garrison.store import state as S
from garrison.web.app import create_app
from garrison.web.auth import MAX_FAILURES, add_user, login, set_user

PW = "correct horse battery staple"


@pytest.fixture
def env(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path), web={"secure_cookies": False})
    engine = open_state(tmp_path)
    add_user(engine, "alice", PW, "analyst")
    add_user(engine, "cllr.jones", PW, "viewer")
    client = TestClient(create_app(cfg, engine, lambda r: 0, EventStore(tmp_path, engine)))
    return cfg, engine, client


def _signin(client, name="alice", password=PW):
    return client.post("/console/login", data={"username": name, "password": password, "next": "/console/incidents"},
                       headers={"Origin": "http://testserver"}, follow_redirects=False)


def _csrf(client, url="/console/bans"):
    html = client.get(url).text
    return html.split('name="csrf" content="')[1].split('"')[0]


def test_passwords_are_argon2_and_short_ones_refused(env):
    _, engine, _ = env
    with engine.connect() as c:
        (h,) = c.execute(select(S.users.c.password_hash).where(S.users.c.name == "alice")).one()
    assert h.startswith("$argon2id$") and PW not in h
    with pytest.raises(GarrisonError, match="too short"):
        add_user(engine, "bob", "short", "analyst")
    with pytest.raises(GarrisonError, match="unknown role"):
        add_user(engine, "bob", PW, "root")


def test_sign_in_sets_a_safe_cookie_and_is_audited(env):
    _, engine, client = env
    assert client.get("/console/incidents", follow_redirects=False).headers["location"].startswith("/console/login")
    r = _signin(client)
    assert r.status_code == 303 and r.headers["location"] == "/console/incidents"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert client.get("/console/incidents").status_code == 200
    with engine.connect() as c:
        actions = [a for (a,) in c.execute(select(S.audit_log.c.action))]
    assert "login.success" in actions
    page = client.get("/console/")
    assert "Content-Security-Policy" in page.headers and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_lockout_after_repeated_failures(env):
    _, engine, client = env
    for _ in range(MAX_FAILURES):
        assert _signin(client, password="wrong password!").status_code == 401
    assert _signin(client).status_code == 401  # the right password, but locked
    with pytest.raises(AuthError):
        login(engine, "alice", PW, None)
    set_user(engine, "alice", "admin", unlock=True)
    assert _signin(client).status_code == 303
    with engine.connect() as c:
        assert c.execute(select(S.audit_log).where(S.audit_log.c.action == "login.lockout")).first()


def test_csrf_is_required_for_changes(env):
    _, _, client = env
    _signin(client)
    r = client.post("/console/bans", data={"value": "203.0.113.50", "duration": "1h"}, follow_redirects=False)
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf"
    r = client.post("/console/bans", data={"value": "203.0.113.50", "duration": "1h", "csrf": _csrf(client)},
                    follow_redirects=False)
    assert r.status_code == 303 and "banned" in r.headers["location"]
    assert "203.0.113.50" in client.get("/console/bans").text


def test_viewer_reads_overview_and_reports_only(env):
    _, _, client = env
    _signin(client, "cllr.jones")
    assert client.get("/console/").status_code == 200
    assert client.get("/console/reports").status_code == 200
    for url in ("/console/incidents", "/console/search", "/console/bans", "/console/rules"):
        assert client.get(url).status_code == 403, url
    nav = client.get("/console/").text
    assert "/console/incidents" not in nav.split("<main")[0]


def test_sign_out_ends_the_session(env):
    _, _, client = env
    _signin(client)
    token = client.cookies.get("garrison_session")
    client.post("/console/logout", data={"csrf": _csrf(client)})
    client.cookies.set("garrison_session", token)
    assert client.get("/console/incidents", follow_redirects=False).status_code == 303


def test_single_sign_on_with_openid_connect(tmp_path):
    import oidc_provider_mock

    with oidc_provider_mock.run_server_in_thread() as server:
        issuer = f"http://localhost:{server.server_port}"
        cfg = load_config(None, data_dir=str(tmp_path), web={
            "secure_cookies": False, "oidc_issuer": issuer, "oidc_client_id": "garrison",
            "oidc_client_secret": "s3cret", "oidc_redirect_url": "http://testserver/console/oidc/callback",
            "oidc_default_role": "viewer", "oidc_allowed_domains": ["council.example"]})
        engine = open_state(tmp_path)
        client = TestClient(create_app(cfg, engine, lambda r: 0, EventStore(tmp_path, engine)))
        assert "Sign in with your organisation" in client.get("/console/login").text
        r = client.get("/console/oidc/login", follow_redirects=False)
        auth_url = r.headers["location"]
        q = parse_qs(urlparse(auth_url).query)
        assert q["code_challenge_method"] == ["S256"] and q["nonce"] and q["state"]
        # The person signs in at the provider, which redirects back with a code.
        idp = httpx.post(auth_url, data={"sub": "ann.lee@council.example", "email": "ann.lee@council.example"},
                         follow_redirects=False)
        back_url = idp.headers["location"]
        assert back_url.startswith("http://testserver/console/oidc/callback")
        r = client.get(back_url.replace("http://testserver", ""), follow_redirects=False)
        assert r.status_code == 303, r.text
        assert client.get("/console/").status_code == 200
        assert client.get("/console/incidents").status_code == 403  # first sign-in: the default role
        # A replayed callback (same state) is refused: back to the sign-in page, no new session.
        client.cookies.clear()
        again = client.get(back_url.replace("http://testserver", ""), follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"].startswith("/console/login")
        assert "set-cookie" not in again.headers
        with engine.connect() as c:
            (name, sub) = c.execute(select(S.users.c.name, S.users.c.sso_subject)).one()
        assert sub.endswith("|ann.lee@council.example")
        cfg2 = replace(cfg, web=replace(cfg.web, oidc_allowed_domains=["other.example"]))
        client2 = TestClient(create_app(cfg2, engine, lambda r: 0, EventStore(tmp_path, engine)))
        auth_url = client2.get("/console/oidc/login", follow_redirects=False).headers["location"]
        back_url = httpx.post(auth_url, data={"sub": "eve@council.example"}, follow_redirects=False).headers["location"]
        assert client2.get(back_url.replace("http://testserver", ""), follow_redirects=False).status_code == 403
