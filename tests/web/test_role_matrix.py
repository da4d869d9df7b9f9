"""Every route × every kind of caller → allowed or refused, generated from the app's route table.

A route added without an entry in ``ACCESS`` fails this test, so no route ships without a decision on
who may call it. Refused means 401 for a caller with no credentials (303 to the sign-in page for a
console page), 401 or 403 for one with the wrong ones; allowed means anything but those (and never a 5xx).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from garrison.config import load_config
from garrison.respond.bouncers import add_bouncer
from garrison.sources.tokens import create_token
from garrison.store import EventStore, open_state
from garrison.web.app import create_app
from garrison.web.auth import add_user, login, start_session
from garrison.web.console.base import COOKIE

PRINCIPALS = ("anonymous", "viewer", "analyst", "admin", "ingest", "api", "bouncer")
PUBLIC = set(PRINCIPALS)
VIEWER = {"viewer", "analyst", "admin"}
ANALYST = {"analyst", "admin"}
# (method, path) -> who may call it
ACCESS: dict[tuple[str, str], set[str]] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("POST", "/api/v1/ingest"): {"ingest"},
    ("GET", "/services/collector/health"): PUBLIC,
    ("GET", "/services/collector/health/1.0"): PUBLIC,
    ("POST", "/services/collector"): {"ingest"},
    ("POST", "/services/collector/event"): {"ingest"},
    ("POST", "/services/collector/event/1.0"): {"ingest"},
    ("POST", "/services/collector/raw"): {"ingest"},
    ("POST", "/services/collector/raw/1.0"): {"ingest"},
    ("GET", "/v1/decisions/stream"): {"bouncer"},
    ("GET", "/v1/decisions"): {"bouncer"},
    ("POST", "/v1/usage-metrics"): {"bouncer"},
    ("GET", "/api/v1/decisions"): {"api"},
    ("POST", "/api/v1/decisions"): {"api"},
    ("DELETE", "/api/v1/decisions/{decision_id}"): {"api"},
    ("GET", "/api/v1/blocklist.txt"): {"api"},
    ("GET", "/api/v1/blocklist.nft"): {"api"},
    ("GET", "/api/v1/blocklist.nginx"): {"api"},
    ("GET", "/api/v1/incidents"): {"api"},
    ("GET", "/api/v1/incidents/{iid}"): {"api"},
    ("POST", "/api/v1/incidents/{iid}/assign"): {"api"},
    ("POST", "/api/v1/incidents/{iid}/comments"): {"api"},
    ("POST", "/api/v1/incidents/{iid}/status"): {"api"},
    ("POST", "/api/v1/incidents/{iid}/close"): {"api"},
    ("GET", "/console/login"): PUBLIC,
    ("POST", "/console/login"): PUBLIC,  # the sign-in itself: same-origin checked, then the password
    ("POST", "/console/logout"): VIEWER,
    ("GET", "/console/static/vega.js"): PUBLIC,
    ("GET", "/console/static/{name}"): PUBLIC,
    ("GET", "/console/"): VIEWER,
    ("GET", "/console/api/overview"): VIEWER,
    ("GET", "/console/sources"): ANALYST,
    ("GET", "/console/reports"): VIEWER,
    ("POST", "/console/reports"): VIEWER,
    ("GET", "/console/reports/{rid}"): VIEWER,
    ("GET", "/console/incidents"): ANALYST,
    ("GET", "/console/incidents/{iid}"): ANALYST,
    ("POST", "/console/incidents/{iid}/{action}"): ANALYST,
    ("GET", "/console/search"): ANALYST,
    ("GET", "/console/search.{fmt}"): ANALYST,
    ("GET", "/console/bans"): ANALYST,
    ("POST", "/console/bans"): ANALYST,
    ("POST", "/console/bans/{did}/delete"): ANALYST,
    ("GET", "/console/rules"): ANALYST,
    ("POST", "/console/rules/toggle"): ANALYST,
    ("POST", "/console/rules/test"): ANALYST,
    ("POST", "/console/suppressions/{sid}/delete"): ANALYST,
    ("GET", "/console/mail"): ANALYST,
    ("POST", "/console/mail"): ANALYST,
    ("GET", "/console/awareness"): ANALYST,
    ("GET", "/console/cluster"): ANALYST,
    # a simulation's recipients and trainees: keyed by their own unguessable tokens, no account (an unknown one: 404)
    ("GET", "/t/o/{token}.gif"): PUBLIC,
    ("GET", "/t/c/{token}"): PUBLIC,
    ("POST", "/t/b/{token}"): PUBLIC,
    ("POST", "/t/s/{token}"): PUBLIC,
    ("GET", "/t/static/landing.js"): PUBLIC,
    ("GET", "/training/{token}"): PUBLIC,
    ("POST", "/training/{token}"): PUBLIC,
    ("GET", "/console/oidc/login"): PUBLIC,
    ("GET", "/console/oidc/callback"): PUBLIC,
}
FILL = {"{decision_id}": "1", "{iid}": "1", "{name}": "app.css", "{rid}": "1", "{action}": "comment", "{fmt}": "csv",
        "{did}": "1", "{sid}": "1", "{token}": "no-such-token"}


def routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route, through included routers."""
    def walk(rs):
        for r in rs:
            if hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)
            elif hasattr(r, "routes") and not hasattr(r, "methods"):
                yield from walk(r.routes)
            elif hasattr(r, "methods"):
                for m in sorted(set(r.methods or ()) - {"HEAD"}):
                    yield m, r.path
    return sorted(set(walk(app.routes)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("matrix")
    cfg = load_config(None, data_dir=str(d))
    engine = open_state(d)
    app = create_app(cfg, engine, lambda recs: len(recs), EventStore(d, engine))
    creds: dict[str, dict[str, str]] = {"anonymous": {}}
    for role in ("viewer", "analyst", "admin"):
        add_user(engine, role, "a-long-password-1", role)
        token, csrf = start_session(engine, login(engine, role, "a-long-password-1", None), None)
        creds[role] = {"cookie": f"{COOKIE}={token}", "x-csrf-token": csrf}
    creds["ingest"] = {"authorization": f"Bearer {create_token(engine, 'ing', 'default')}"}
    creds["api"] = {"authorization": f"Bearer {create_token(engine, 'api', 'default', scopes='api')}"}
    creds["bouncer"] = {"x-api-key": add_bouncer(engine, "fw")}
    return app, creds


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]):
    url = path
    for k, v in FILL.items():
        url = url.replace(k, v)
    h = dict(headers)
    if "authorization" in h and "/services/collector" in path:
        h["authorization"] = "Splunk " + h["authorization"].split(" ", 1)[1]
    h["origin"] = "http://testserver"
    return client.request(method, url, headers=h, content=b'{"event": "x"}' if method != "GET" else None,
                          follow_redirects=False)


def test_every_route_has_an_access_entry(world):
    app, _ = world
    have = set(routes(app))
    assert not have - set(ACCESS), f"routes with no access decision: {sorted(have - set(ACCESS))}"
    assert not set(ACCESS) - have, f"entries for routes that no longer exist: {sorted(set(ACCESS) - have)}"


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_role_matrix(world, principal):
    app, creds = world
    client = TestClient(app, raise_server_exceptions=False)
    wrong = []
    signout = ("POST", "/console/logout")  # last: it ends the session the other calls use
    for method, path in [rt for rt in routes(app) if rt != signout] + [signout]:
        r = _call(client, method, path, creds[principal])
        if (method, path) == signout and r.status_code == 303:
            r.status_code = 200 if principal in ACCESS[signout] else 401  # signed out: back to the sign-in page
        who = ACCESS[(method, path)]
        allowed = principal in who
        refused = r.status_code in (401, 403) or (r.status_code == 303 and "/console/login" in r.headers.get(
            "location", ""))
        if who is PUBLIC:  # anyone may call it; a sign-in or SSO answer may still say no to these credentials
            refused = r.status_code == 403
        if r.status_code >= 500 or allowed == refused:
            wrong.append((method, path, r.status_code))
        elif principal == "anonymous" and not allowed and r.status_code == 403:
            wrong.append((method, path, "403 where a missing credential must be 401"))
    assert not wrong, f"{principal}: {wrong}"
