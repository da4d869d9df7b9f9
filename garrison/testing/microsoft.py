"""A local stand-in for Microsoft's identity platform, the Office 365 Management Activity API and Graph.

It follows Microsoft's published shapes closely enough for Garrison's connectors and response actions to run
against it unchanged (only the base URLs differ, as they do for a sovereign cloud): the v2.0 token endpoint
(client credentials, a secret that can be wrong or expired), Management API subscriptions, content listing by
``startTime``/``endTime`` (24 hours at most, 7 days back at most) with ``NextPageUri`` paging and content
blobs; Graph's ``$filter`` on time, ``$top`` and ``@odata.nextLink`` paging; 429 throttling with
``Retry-After``; tokens that expire; and the response actions, recorded as asked.

Feed it real record shapes: ``add_signins`` takes Entra ID sign-in records in the Azure Monitor export shape
(the simulator's and Panther's) and serves their ``properties``, which is Graph's signIn resource.
Control endpoints under ``/_standin`` (feed, actions, knobs) are for tests only. Run it with ``serve``
(TLS with a throwaway certificate: MSAL accepts only https authorities).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, Response

from garrison.testing.microsoft_directory import directory_routes
from garrison.testing.tls import make_tls  # noqa: F401 - where the tests and benches have always imported it

TIME_FIELDS = {"signIns": "createdDateTime", "directoryAudits": "activityDateTime", "alerts_v2": "lastUpdateDateTime",
               "riskyUsers": "riskLastUpdatedDateTime"}
WINDOW_ERROR = ("Start time and end time must both be specified (or both omitted) and must be less than or equal to "
                "24 hours apart, with the start time no more than 7 days in the past.")
PATHS = {"signIns": "/v1.0/auditLogs/signIns", "directoryAudits": "/v1.0/auditLogs/directoryAudits",
         "alerts_v2": "/v1.0/security/alerts_v2", "riskyUsers": "/v1.0/identityProtection/riskyUsers"}


def _us(value: str) -> int:
    v = value.replace("Z", "+00:00")
    t = dt.datetime.fromisoformat(v)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp() * 1_000_000)


def _iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us / 1e6, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Blob:
    content_id: str
    content_type: str
    created: int  # when the blob became available (what the content listing filters on)
    records: list[dict[str, Any]]


@dataclass
class StandIn:
    tenant: str = "contoso-tenant"
    client_id: str = "garrison-app"
    secret: str = "s3cret-value"
    secret_expired: bool = False
    certificate: str | None = None  # PEM: client assertions signed by its key are accepted instead of the secret
    token_seconds: int = 3600
    throttle_every: int = 0  # every Nth data request answers 429
    retry_after: int = 1
    page_size: int = 100  # Graph pages are at most this, whatever $top asks
    listing_page: int = 20  # content listing entries per page
    base: str = ""
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (audience, expiry)
    graph: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in PATHS})
    blobs: list[Blob] = field(default_factory=list)
    subscriptions: set[str] = field(default_factory=set)
    actions: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    mailboxes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # user -> messages (Graph's message resource)
    groups: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # group id -> members (Graph's user resource)
    requests: int = 0
    data_requests: int = 0
    throttled: int = 0
    token_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- feeding ---------------------------------------------------------------------------------
    def add_signins(self, records: list[dict[str, Any]]) -> None:
        """Sign-ins in the Azure Monitor export shape or Graph's; served as Graph's signIn resource."""
        with self.lock:
            for r in records:
                self.graph["signIns"].append(dict(r["properties"]) if isinstance(r.get("properties"), dict) else dict(r))

    def add_graph(self, stream: str, records: list[dict[str, Any]]) -> None:
        with self.lock:
            self.graph[stream].extend(records)

    def add_content(self, content_type: str, records: list[dict[str, Any]], created_us: int | None = None) -> None:
        with self.lock:
            self.blobs.append(Blob(secrets.token_hex(8), content_type, created_us or int(time.time() * 1e6), records))

    def add_unified_audit(self, records: list[dict[str, Any]], per_blob: int = 50, created_us: int | None = None) -> None:
        """Unified audit records, each to the content type of its workload, in blobs of ``per_blob``."""
        kinds = {"Exchange": "Audit.Exchange", "SharePoint": "Audit.SharePoint", "OneDrive": "Audit.SharePoint",
                 "AzureActiveDirectory": "Audit.AzureActiveDirectory"}
        by: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by.setdefault(kinds.get(str(r.get("Workload")), "Audit.General"), []).append(r)
        for ct, recs in by.items():
            for i in range(0, len(recs), per_blob):
                self.add_content(ct, recs[i:i + per_blob], created_us)

    def add_message(self, user: str, internet_message_id: str, subject: str = "", sender: str = "") -> str:
        """A message delivered to a mailbox, as Graph lists it; returns its Graph id."""
        mid = secrets.token_urlsafe(24)
        with self.lock:
            self.mailboxes.setdefault(user.lower(), []).append({
                "id": mid, "internetMessageId": internet_message_id, "subject": subject,
                "from": {"emailAddress": {"address": sender}}})
        return mid

    def connector_config(self, secret_file: Path, ca_file: Path, **extra: Any) -> dict[str, Any]:
        """The ``microsoft:`` section of a garrison.yaml that points Garrison at this stand-in."""
        secret_file.write_text(self.secret)
        return {"tenant_id": self.tenant, "client_id": self.client_id, "client_secret_file": str(secret_file),
                "ca_file": str(ca_file), "login_url": self.base, "manage_url": self.base, "graph_url": self.base, **extra}

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = {t: (aud, 0.0) for t, (aud, _) in self.tokens.items()}


def build_app(s: StandIn) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def auth(request: Request, audience: str) -> Response | None:
        s.requests += 1
        hdr = request.headers.get("authorization", "")
        tok = hdr[7:] if hdr.lower().startswith("bearer ") else ""
        known = s.tokens.get(tok)
        if known is None or known[1] < time.time():
            return JSONResponse({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}, 401)
        if not audience.startswith(known[0]) and not known[0].startswith(audience):
            return JSONResponse({"error": {"code": "InvalidAuthenticationToken", "message": "Invalid audience."}}, 401)
        return None

    def throttle() -> Response | None:
        s.data_requests += 1
        if s.throttle_every and s.data_requests % s.throttle_every == 0:
            s.throttled += 1
            return JSONResponse({"error": {"code": "TooManyRequests", "message": "Too many requests"}}, 429,
                                headers={"Retry-After": str(s.retry_after)})
        return None

    # -- identity platform -------------------------------------------------------------------------
    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def oidc(tenant: str) -> dict[str, Any]:
        return {"token_endpoint": f"{s.base}/{tenant}/oauth2/v2.0/token",
                "authorization_endpoint": f"{s.base}/{tenant}/oauth2/v2.0/authorize",
                "issuer": f"{s.base}/{tenant}/v2.0"}

    @app.post("/{tenant}/oauth2/v2.0/token")
    def token(tenant: str, grant_type: str = Form(...), client_id: str = Form(...), scope: str = Form(""),
              client_secret: str | None = Form(None), client_assertion: str | None = Form(None)) -> Response:
        s.token_requests += 1
        if tenant != s.tenant:
            return JSONResponse({"error": "invalid_request", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}, 400)
        if grant_type != "client_credentials" or client_id != s.client_id:
            return JSONResponse({"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found."}, 400)
        if client_assertion is not None:
            if not assertion_ok(s, client_assertion, tenant):
                return JSONResponse({"error": "invalid_client", "error_description": "AADSTS700027: Client assertion failed signature validation."}, 401)
        elif client_secret != s.secret:
            return JSONResponse({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}, 401)
        if s.secret_expired:
            return JSONResponse({"error": "invalid_client", "error_description": "AADSTS7000222: The provided client secret keys for app are expired."}, 401)
        audience = scope.split(" ")[0].removesuffix("/.default")
        tok = secrets.token_urlsafe(24)
        with s.lock:
            s.tokens[tok] = (audience, time.time() + s.token_seconds)
        return JSONResponse({"token_type": "Bearer", "expires_in": s.token_seconds, "ext_expires_in": s.token_seconds,
                             "access_token": tok})

    # -- Office 365 Management Activity API ----------------------------------------------------------
    @app.post("/api/v1.0/{tenant}/activity/feed/subscriptions/start")
    def start(tenant: str, contentType: str, request: Request) -> Response:  # noqa: N803 - the API's name
        if (bad := auth(request, s.base)) is not None:
            return bad
        if contentType in s.subscriptions:
            return JSONResponse({"error": {"code": "AF20024", "message": "The subscription is already enabled."}}, 400)
        s.subscriptions.add(contentType)
        return JSONResponse({"contentType": contentType, "status": "enabled", "webhook": None})

    @app.get("/api/v1.0/{tenant}/activity/feed/subscriptions/list")
    def subs(tenant: str, request: Request) -> Response:
        if (bad := auth(request, s.base)) is not None:
            return bad
        return JSONResponse([{"contentType": c, "status": "enabled", "webhook": None} for c in sorted(s.subscriptions)])

    @app.get("/api/v1.0/{tenant}/activity/feed/subscriptions/content")
    def content(tenant: str, contentType: str, request: Request, startTime: str | None = None,  # noqa: N803
                endTime: str | None = None, nextPage: int = 0) -> Response:  # noqa: N803
        if (bad := auth(request, s.base)) is not None or (bad := throttle()) is not None:
            return bad
        if contentType not in s.subscriptions:
            return JSONResponse({"error": {"code": "AF20022", "message": "No subscription found for the specified content type"}}, 400)
        now = int(time.time() * 1e6)
        lo, hi = (_us(startTime) if startTime else now - 86_400_000_000), (_us(endTime) if endTime else now)
        if hi - lo > 86_400_000_000 or lo < now - 7 * 86_400_000_000 or hi < lo:
            return JSONResponse({"error": {"code": "AF20055", "message": WINDOW_ERROR}}, 400)
        with s.lock:
            found = [b for b in s.blobs if b.content_type == contentType and lo <= b.created < hi]
        page = found[nextPage * s.listing_page:(nextPage + 1) * s.listing_page]
        body = [{"contentType": b.content_type, "contentId": b.content_id, "contentCreated": _iso(b.created),
                 "contentExpiration": _iso(b.created + 7 * 86_400_000_000),
                 "contentUri": f"{s.base}/api/v1.0/{tenant}/activity/feed/audit/{b.content_id}"} for b in page]
        headers = {}
        if (nextPage + 1) * s.listing_page < len(found):
            headers["NextPageUri"] = (f"{s.base}/api/v1.0/{tenant}/activity/feed/subscriptions/content?contentType={contentType}"
                                      f"&startTime={startTime}&endTime={endTime}&nextPage={nextPage + 1}")
        return JSONResponse(body, headers=headers)

    @app.get("/api/v1.0/{tenant}/activity/feed/audit/{content_id}")
    def blob(tenant: str, content_id: str, request: Request) -> Response:
        if (bad := auth(request, s.base)) is not None or (bad := throttle()) is not None:
            return bad
        b = next((b for b in s.blobs if b.content_id == content_id), None)
        if b is None:
            return JSONResponse({"error": {"code": "AF20051", "message": "Content requested with the key does not exist."}}, 404)
        return JSONResponse(b.records)

    # -- Microsoft Graph -------------------------------------------------------------------------
    def listing(stream: str, request: Request) -> Response:
        if (bad := auth(request, s.base)) is not None or (bad := throttle()) is not None:
            return bad
        q = request.query_params
        skip = int(q.get("$skiptoken") or 0)
        top = min(int(q.get("$top") or s.page_size), s.page_size)
        flt = q.get("$filter") or ""
        field_, lo = TIME_FIELDS[stream], None
        if flt:
            parts = flt.split()
            if len(parts) != 3 or parts[0] != field_ or parts[1] != "ge":
                return JSONResponse({"error": {"code": "BadRequest", "message": f"Invalid filter clause: {flt}"}}, 400)
            lo = _us(parts[2])
        with s.lock:
            rows = [r for r in s.graph[stream] if lo is None or _us(str(r.get(field_))) >= lo]
        rows.sort(key=lambda r: str(r.get(field_)), reverse=True)  # Graph's default: newest first
        page = rows[skip:skip + top]
        body: dict[str, Any] = {"@odata.context": f"{s.base}/v1.0/$metadata#{stream}", "value": page}
        if skip + top < len(rows):
            body["@odata.nextLink"] = f"{s.base}{PATHS[stream]}?$filter={flt}&$top={top}&$skiptoken={skip + top}"
        return JSONResponse(body)

    def route(stream: str) -> Any:
        def handler(request: Request) -> Response:
            return listing(stream, request)
        return handler

    for name, path in PATHS.items():
        app.add_api_route(path, route(name), methods=["GET"])

    # -- response actions -----------------------------------------------------------------------
    def act(kind: str, request: Request, **details: Any) -> Response | None:
        if (bad := auth(request, s.base)) is not None:
            return bad
        with s.lock:
            s.actions.append({"action": kind, "at": time.time(), **details})
        return None

    @app.post("/v1.0/users/{user}/revokeSignInSessions")
    def revoke(user: str, request: Request) -> Response:
        return act("revokeSignInSessions", request, user=user) or JSONResponse({"value": True})

    @app.get("/v1.0/users/{user}")
    def get_user(user: str, request: Request) -> Response:
        if (bad := auth(request, s.base)) is not None:
            return bad
        return JSONResponse({"id": s.users.setdefault(user, {}).setdefault("id", secrets.token_hex(16)),
                             "userPrincipalName": user})

    @app.patch("/v1.0/users/{user}")
    async def patch_user(user: str, request: Request) -> Response:
        body = await request.json()
        bad = act("updateUser", request, user=user, body=body)
        if bad is None:
            s.users.setdefault(user, {}).update(body)
        return bad or Response(status_code=204)

    @app.post("/v1.0/identityProtection/riskyUsers/confirmCompromised")
    async def confirm(request: Request) -> Response:
        body = await request.json()
        return act("confirmCompromised", request, body=body) or Response(status_code=204)

    @app.delete("/v1.0/users/{user}/mailFolders/inbox/messageRules/{rule}")
    def delete_rule(user: str, rule: str, request: Request) -> Response:
        return act("deleteMessageRule", request, user=user, rule=rule) or Response(status_code=204)

    @app.patch("/v1.0/users/{user}/mailboxSettings")
    async def mailbox(user: str, request: Request) -> Response:
        body = await request.json()
        return act("updateMailboxSettings", request, user=user, body=body) or Response(status_code=204)

    directory_routes(app, s, auth, act)

    # -- test controls ----------------------------------------------------------------------------
    @app.get("/_standin/state")
    def state() -> dict[str, Any]:
        return {"actions": s.actions, "mailboxes": s.mailboxes, "requests": s.requests, "data_requests": s.data_requests,
                "throttled": s.throttled, "token_requests": s.token_requests, "subscriptions": sorted(s.subscriptions)}

    @app.post("/_standin/feed")
    async def feed(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("signins"):
            s.add_signins(body["signins"])
        for stream in PATHS:
            if body.get(stream):
                s.add_graph(stream, body[stream])
        for user, msgs in (body.get("messages") or {}).items():
            for msg in msgs:
                s.add_message(user, msg["internetMessageId"], msg.get("subject", ""), msg.get("from", ""))
        for ct, recs in (body.get("content") or {}).items():
            s.add_content(ct, recs)
        if body.get("unified_audit"):
            s.add_unified_audit(body["unified_audit"], created_us=int((time.time() - 5) * 1e6))
        return {"ok": True}

    @app.post("/_standin/knobs")
    async def knobs(request: Request) -> dict[str, Any]:
        body = await request.json()
        for k in ("throttle_every", "retry_after", "secret_expired", "token_seconds"):
            if k in body:
                setattr(s, k, body[k])
        if body.get("expire_tokens"):
            s.expire_tokens()
        return {"ok": True}

    return app


def assertion_ok(s: StandIn, assertion: str, tenant: str) -> bool:
    """A client assertion (a JWT the app signs with its certificate's key) checked as Entra ID does: the
    registered certificate's signature, issuer and subject the client id, audience the token endpoint."""
    import jwt
    from cryptography import x509

    if not s.certificate:
        return False
    key = x509.load_pem_x509_certificate(s.certificate.encode()).public_key()
    try:
        claims = jwt.decode(assertion, key, algorithms=["RS256", "PS256"],  # type: ignore[arg-type]
                            audience=f"{s.base}/{tenant}/oauth2/v2.0/token")
    except jwt.PyJWTError:
        return False
    return claims.get("iss") == claims.get("sub") == s.client_id


def serve(standin: StandIn, folder: Path, port: int = 0) -> tuple[Any, Path]:
    """Run the stand-in over TLS in a thread; returns (server, CA file). ``standin.base`` is set."""
    import socket

    import uvicorn

    cert, key = make_tls(folder)
    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    standin.base = f"https://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(build_app(standin), host="127.0.0.1", port=port, log_level="warning",
                                           ssl_certfile=str(cert), ssl_keyfile=str(key)))
    threading.Thread(target=server.run, daemon=True).start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    return server, cert
