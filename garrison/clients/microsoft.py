"""Microsoft's APIs for Garrison: app-only tokens through MSAL, throttling, retries and a request budget.

Shared by the pulled sources (``garrison.sources.microsoft``) and the response actions
(``garrison.respond.graph``). Tokens are cached by MSAL and renewed before they expire; a token refused
before its expiry is dropped and asked for again; a secret Microsoft refuses is a ``ConnectorError`` saying
what to renew. 429 and 503 honour ``Retry-After``; other failures back off exponentially with full jitter;
a token bucket holds requests to the configured rate. Secrets are read from a file or an environment
variable and never logged; URLs are logged without their query.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from garrison.config import MicrosoftConfig, read_secret_from
from garrison.errors import ConfigError, GarrisonError

MAX_ATTEMPTS = 6
MAX_BACKOFF = 60.0
MAX_BODY = 64 * 1024 * 1024  # one page or content blob


class ConnectorError(GarrisonError):
    """A request that failed for good (after retries), or a credential Microsoft refuses."""


def read_secret(cfg: MicrosoftConfig) -> str | None:
    """The client secret from its file or environment variable (never from the YAML itself)."""
    return read_secret_from(cfg.client_secret_file, cfg.client_secret_env, "microsoft.client_secret")


class Budget:
    """A token bucket: at most ``per_minute`` requests a minute, in bursts of a tenth of that."""

    def __init__(self, per_minute: int):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, per_minute / 10.0)
        self.tokens = self.capacity
        self.at = time.monotonic()
        self.waited = 0.0

    async def take(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            wait = (1 - self.tokens) / self.rate
            self.waited += wait
            await asyncio.sleep(wait)


def retry_after(resp: httpx.Response, attempt: int) -> float:
    """Seconds to wait before trying again: the server's Retry-After, else exponential backoff with jitter."""
    value = resp.headers.get("Retry-After")
    if value:
        try:
            return min(MAX_BACKOFF * 5, max(0.0, float(value)))
        except ValueError:
            try:
                return min(MAX_BACKOFF * 5, max(0.0, parsedate_to_datetime(value).timestamp() - time.time()))
            except (TypeError, ValueError):
                pass
    return backoff(attempt)


def backoff(attempt: int) -> float:
    return random.uniform(0, min(MAX_BACKOFF, 0.5 * 2 ** attempt))  # full jitter


@dataclass
class Counters:
    requests: int = 0
    throttled: int = 0
    retries: int = 0
    token_requests: int = 0


class Api:
    """Authenticated, throttled, retried requests to the Management API and Graph."""

    def __init__(self, cfg: MicrosoftConfig):
        self.cfg = cfg
        self.budget = Budget(cfg.requests_per_minute)
        self.counters = Counters()
        self._msal: Any = None
        verify: Any = ssl.create_default_context(cafile=cfg.ca_file) if cfg.ca_file else True
        self.http = httpx.AsyncClient(verify=verify, timeout=cfg.timeout_seconds,
                                      follow_redirects=False, trust_env=not cfg.ca_file)

    def _app(self) -> Any:
        if self._msal is None:
            import msal
            import requests

            session = requests.Session()
            if self.cfg.ca_file:  # the environment's CA bundle would otherwise win over the session's
                session.verify, session.trust_env = self.cfg.ca_file, False
            credential: Any = read_secret(self.cfg)
            if self.cfg.certificate_file:
                credential = _certificate(self.cfg.certificate_file)
            if not credential:
                raise ConfigError("microsoft: give client_secret_file, client_secret_env or certificate_file")
            self._msal = msal.ConfidentialClientApplication(
                self.cfg.client_id, client_credential=credential, http_client=session, instance_discovery=False,
                authority=f"{self.cfg.login_url.rstrip('/')}/{self.cfg.tenant_id}")
        return self._msal

    async def token(self, resource: str, fresh: bool = False) -> str:
        if fresh:
            self._msal = None  # a token refused before its expiry (revoked): start again from the secret
        scope = f"{resource.rstrip('/')}/.default"
        result = await asyncio.to_thread(self._app().acquire_token_for_client, scopes=[scope])
        if result.get("token_source") == "identity_provider":
            self.counters.token_requests += 1
        if "access_token" not in result:
            # e.g. AADSTS7000222 (the secret expired) or AADSTS7000215 (a wrong secret): the analyst must act
            desc = str(result.get("error_description") or result.get("error") or "no token")
            raise ConnectorError(f"Microsoft refused the app's credentials: {desc.splitlines()[0][:300]} "
                                 "(renew the client secret or certificate of the app registration)")
        return str(result["access_token"])

    async def request(self, method: str, url: str, resource: str, **kw: Any) -> httpx.Response:
        fresh = False
        for attempt in range(MAX_ATTEMPTS):
            await self.budget.take()
            headers = {"Authorization": f"Bearer {await self.token(resource, fresh)}"}
            fresh = False
            self.counters.requests += 1
            try:
                resp = await self.http.request(method, url, headers=headers, **kw)
            except httpx.HTTPError as e:
                self.counters.retries += 1
                if attempt == MAX_ATTEMPTS - 1:
                    raise ConnectorError(f"{method} {_path(url)}: {type(e).__name__}: {e}") from e
                await asyncio.sleep(backoff(attempt))
                continue
            if resp.status_code in (429, 503) or resp.status_code >= 500:
                self.counters.throttled += resp.status_code in (429, 503)
                self.counters.retries += 1
                if attempt < MAX_ATTEMPTS - 1:
                    await asyncio.sleep(retry_after(resp, attempt))
                    continue
            if resp.status_code == 401 and attempt < MAX_ATTEMPTS - 1:
                fresh = True
                continue
            if len(resp.content) > MAX_BODY:
                raise ConnectorError(f"{method} {_path(url)}: answer larger than {MAX_BODY:,} bytes")
            return resp
        raise ConnectorError(f"{method} {_path(url)}: gave up after {MAX_ATTEMPTS} attempts")

    async def json(self, url: str, resource: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        resp = await self.request("GET", url, resource, params=params)
        if resp.status_code >= 400:
            raise ConnectorError(f"GET {_path(url)}: HTTP {resp.status_code}: {error_text(resp)}")
        try:
            return orjson.loads(resp.content), resp
        except orjson.JSONDecodeError as e:
            raise ConnectorError(f"GET {_path(url)}: not JSON: {e}") from e

    async def close(self) -> None:
        await self.http.aclose()


def _path(url: str) -> str:
    return httpx.URL(url).path  # no query: it may hold a signed content token


def error_text(resp: httpx.Response) -> str:
    try:
        body = orjson.loads(resp.content)
        err = body.get("error", body) if isinstance(body, dict) else body
        return str(err.get("message") if isinstance(err, dict) else err)[:300]
    except (orjson.JSONDecodeError, AttributeError):
        return resp.text[:300]


def _certificate(path: str) -> dict[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    pem = Path(path).read_text(encoding="utf-8")
    cert = x509.load_pem_x509_certificate(pem.encode())
    return {"private_key": pem, "thumbprint": cert.fingerprint(hashes.SHA1()).hex()}  # noqa: S303 - Entra's key id
