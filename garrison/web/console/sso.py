"""Single sign-on with OpenID Connect (Entra ID, Okta, Keycloak, ...): the authorization code flow with
PKCE, state and nonce. The ID token's signature is checked against the issuer's published keys (JWKS),
with its issuer, audience, expiry and nonce. The first sign-in of a subject creates an account with
``web.oidc_default_role``; an admin raises it afterwards. Set ``web.oidc_*`` in the config to enable it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse

from garrison.errors import AuthError
from garrison.web.auth import sso_user, start_session
from garrison.web.console.base import COOKIE, Console, Refused

PENDING_SECONDS = 600
_pending: dict[str, tuple[float, str, str, str]] = {}  # state -> (started, nonce, verifier, next)


def _discover(issuer: str) -> dict[str, Any]:
    r = httpx.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10)
    r.raise_for_status()
    doc: dict[str, Any] = r.json()
    return doc


def _claims(con: Console, code: str, verifier: str, nonce: str) -> dict[str, Any]:
    w = con.config.web
    meta = _discover(w.oidc_issuer or "")
    r = httpx.post(meta["token_endpoint"], timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": w.oidc_redirect_url, "code_verifier": verifier,
        "client_id": w.oidc_client_id, "client_secret": w.oidc_client_secret or ""})
    if r.status_code != 200:
        raise AuthError(f"the identity provider refused the code (HTTP {r.status_code})")
    token = r.json().get("id_token")
    if not token:
        raise AuthError("the identity provider sent no ID token")
    claims: dict[str, Any] = jwt.decode(token, _signing_key(meta["jwks_uri"], token), algorithms=["RS256", "RS384", "RS512", "ES256", "ES384"],
                                        audience=w.oidc_client_id, issuer=meta.get("issuer", w.oidc_issuer),
                                        options={"require": ["exp", "iat", "sub"]})
    if claims.get("nonce") != nonce:
        raise AuthError("the ID token's nonce does not match this sign-in")
    return claims


def _signing_key(jwks_uri: str, token: str) -> Any:
    """The issuer's key for this token: by its 'kid', or the only signing key when the token names none."""
    r = httpx.get(jwks_uri, timeout=10)
    r.raise_for_status()
    keys = [k for k in jwt.PyJWKSet.from_dict(r.json()).keys if k.public_key_use in (None, "sig")]
    kid = jwt.get_unverified_header(token).get("kid")
    found = [k for k in keys if k.key_id == kid] if kid else keys
    if len(found) != 1:
        raise AuthError(f"no single signing key for this ID token (kid {kid!r}) at {jwks_uri}")
    return found[0].key


def routes(r: APIRouter, con: Console) -> None:
    w = con.config.web

    @r.get("/console/oidc/login")
    async def start(next: str = "/console/"):  # noqa: A002
        if not (w.oidc_issuer and w.oidc_client_id and w.oidc_redirect_url):
            raise Refused(404, "not_configured", "single sign-on is not configured (web.oidc_* in the config)")
        meta = await run_in_threadpool(_discover, w.oidc_issuer)
        now = time.time()
        for k in [k for k, v in _pending.items() if now - v[0] > PENDING_SECONDS]:
            del _pending[k]
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        _pending[state] = (now, nonce, verifier, next if next.startswith("/console") else "/console/")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        q = urlencode({"response_type": "code", "client_id": w.oidc_client_id, "redirect_uri": w.oidc_redirect_url,
                       "scope": "openid email profile", "state": state, "nonce": nonce, "code_challenge": challenge,
                       "code_challenge_method": "S256"})
        return RedirectResponse(f"{meta['authorization_endpoint']}?{q}", status_code=303)

    @r.get("/console/oidc/callback")
    async def callback(request: Request, state: str = "", code: str = "", error: str = ""):
        pending = _pending.pop(state, None)
        if error or pending is None or time.time() - pending[0] > PENDING_SECONDS:
            raise Refused(401, "sso_failed", f"single sign-on failed: {error or 'unknown or expired sign-in'}; try again")
        _, nonce, verifier, nxt = pending
        try:
            claims = await run_in_threadpool(_claims, con, code, verifier, nonce)
        except (AuthError, httpx.HTTPError, jwt.PyJWTError) as e:
            raise Refused(401, "sso_failed", f"single sign-on failed: {e}") from e
        email = str(claims.get("email") or claims.get("preferred_username") or claims["sub"])
        if w.oidc_allowed_domains and email.rpartition("@")[2].lower() not in [d.lower() for d in w.oidc_allowed_domains]:
            raise Refused(403, "forbidden", f"{email} is not in a domain allowed to sign in")
        ip = request.client.host if request.client else None
        try:
            user = await run_in_threadpool(sso_user, con.engine, f"{claims.get('iss')}|{claims['sub']}",
                                           email, w.oidc_default_role, ip)
        except AuthError as e:
            raise Refused(403, "forbidden", str(e)) from e
        token, _ = await run_in_threadpool(start_session, con.engine, user, ip)
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, secure=w.secure_cookies, samesite="lax", path="/")
        return resp
