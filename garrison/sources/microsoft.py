"""Microsoft 365 and Entra ID, pulled from Microsoft's APIs: a supervised source like the syslog listeners.

Two APIs, one app registration (client credentials through MSAL, token cached and renewed before expiry):
- the Office 365 Management Activity API: one stream per content type; subscriptions started and kept;
  content listed by creation window (24 h at most per request, 7 days back at most), ``NextPageUri``
  followed, each content blob fetched;
- Microsoft Graph: sign-ins and directory audits (``$filter`` on their time, ``@odata.nextLink`` followed),
  security alerts (alerts_v2) and risky users.

Exactly once across restarts: each page goes to the write-ahead log durably, followed in the same append by
a checkpoint record; both are stored in one commit (``store.once``), and every record carries its id, so the
overlap window each round re-reads (late records are not lost) and a page fetched again after a crash are
dropped as duplicates by the pipeline's "once" stage.

Requests go through ``garrison.clients.microsoft`` (Retry-After, backoff with jitter, a request budget). A
refused or expired secret is an error on the stream's status (``garrison connectors status``, ``/healthz``),
not a silent stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson

from garrison.clients.microsoft import Api, ConnectorError, Counters, error_text, read_secret
from garrison.config import Config
from garrison.errors import ConfigError
from garrison.model import RawRecord
from garrison.model.event import CHECKPOINT
from garrison.sources import Sink, Sinks, Source, cancel, source

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the server's log

STATUS_FILE = "connectors.json"
HOLD = 50_000  # records of one round held to be sent oldest first (bounded memory)
WEEK_US = 7 * 24 * 3600 * 1_000_000
DAY_US = 24 * 3600 * 1_000_000

# Graph streams: path, the time field its $filter and checkpoint use, the parser.
GRAPH = {
    "signIns": ("/v1.0/auditLogs/signIns", "createdDateTime", "entra_signin"),
    "directoryAudits": ("/v1.0/auditLogs/directoryAudits", "activityDateTime", "entra_audit"),
    "alerts": ("/v1.0/security/alerts_v2", "lastUpdateDateTime", "graph_alert"),
    "riskyUsers": ("/v1.0/identityProtection/riskyUsers", "riskLastUpdatedDateTime", "graph_risky_user"),
}


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StreamStatus:
    stream: str
    checkpoint: int = 0
    last_success: int | None = None
    last_error: str | None = None
    last_error_at: int | None = None
    records: int = 0
    duplicates_skipped: int = 0
    per_minute: float = 0.0


@dataclass
class Stream:
    name: str  # office365/Audit.Exchange, graph/signIns
    kind: str  # office365 or graph
    key: str  # the content type or the Graph stream
    status: StreamStatus = field(init=False)
    recent: dict[str, int] = field(default_factory=dict)  # ids sent within the overlap window -> their time

    def __post_init__(self) -> None:
        self.status = StreamStatus(self.name)


class MicrosoftConnector:
    """Every configured stream of one tenant, read in rounds."""

    name = "microsoft"

    def __init__(self, config: Config, sink: Sink):
        self.cfg, self.m, self.sink = config, config.microsoft, sink
        unknown = set(self.m.graph) - set(GRAPH)
        if unknown:
            raise ConfigError(f"microsoft.graph: unknown stream(s) {', '.join(sorted(unknown))}; known: {', '.join(GRAPH)}")
        if not 1 <= self.m.first_hours <= 168:
            raise ConfigError("microsoft.first_hours: between 1 and 168 (the Management API keeps 7 days)")
        self.streams = [Stream(f"office365/{c}", "office365", c) for c in self.m.content_types] + \
                       [Stream(f"graph/{g}", "graph", g) for g in self.m.graph]
        self.api: Api | None = None
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0
        self.subscribed: set[str] = set()

    # -- the Source protocol -----------------------------------------------------------------------
    async def start(self) -> None:
        from garrison.store import open_state
        from garrison.store.once import checkpoints

        read_secret(self.m)  # a missing secret fails now, where the operator sees it
        saved = checkpoints(open_state(self.cfg.state_url or self.cfg.data_path))
        for s in self.streams:
            s.status.checkpoint = saved.get(s.name, 0)
        self.api = Api(self.m)
        self._task = asyncio.create_task(self._run(), name="microsoft-connector")

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def view(self) -> dict[str, Any]:
        c = self.api.counters if self.api else Counters()
        return {"rounds": self.rounds, **asdict(c),
                "problems": [f"{s.name} cannot be read: {s.status.last_error}" for s in self.streams if s.status.last_error],
                "streams": {s.name: {k: v for k, v in asdict(s.status).items() if k != "stream"} for s in self.streams}}

    async def close(self) -> None:
        await cancel(self._task)
        if self.api is not None:
            await self.api.close()

    # -- rounds ----------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            t0 = time.monotonic()
            for s in self.streams:
                await self.read_stream(s)
            self.rounds += 1
            self._save_status()
            await asyncio.sleep(max(0.0, self.m.poll_seconds - (time.monotonic() - t0)))

    async def read_stream(self, s: Stream) -> None:
        """One round of one stream; an error is kept on its status and the next round tries again."""
        start_round = _now_us()
        before = s.status.records
        try:
            if s.kind == "office365":
                await self._office365(s, start_round)
            else:
                await self._graph(s, start_round)
            s.status.last_success = _now_us()
            s.status.last_error = None
        except (ConnectorError, ConfigError, httpx.HTTPError) as e:
            s.status.last_error, s.status.last_error_at = str(e), _now_us()
            log.warning("microsoft connector, %s: %s", s.name, e)
        s.status.per_minute = (s.status.records - before) * 60 / max(self.m.poll_seconds, 1.0)

    def _window_start(self, s: Stream, now: int) -> int:
        cp = s.status.checkpoint
        start = cp - self.m.overlap_minutes * 60_000_000 if cp else now - self.m.first_hours * 3_600_000_000
        return max(start, now - WEEK_US + 60_000_000)

    async def _send(self, s: Stream, page: list[dict[str, Any]], fmt: str, checkpoint: int | None, id_of: Any) -> None:
        """A page and, when given, the stream's new checkpoint: one durable append."""
        recs = []
        now = _now_us()
        horizon = now - (self.m.overlap_minutes + 60) * 60_000_000  # ids sent before this are not re-read
        s.recent = {k: t for k, t in s.recent.items() if t >= horizon}
        for obj in page:
            if not isinstance(obj, dict):
                continue
            rid = id_of(obj)
            if rid is None:
                continue
            if rid in s.recent:
                s.status.duplicates_skipped += 1
                continue
            s.recent[rid] = now
            recs.append(RawRecord(text=None, obj=obj, source=f"microsoft:{s.name}", format=fmt,
                                  meta={"input": "microsoft", "org": self.cfg.organization, "record_id": rid,
                                        "stream": s.name}))
        if checkpoint is not None:
            recs.append(RawRecord(text=None, source=f"microsoft:{s.name}", format=CHECKPOINT,
                                  meta={"stream": s.name, "checkpoint": checkpoint}))
        if recs:
            await asyncio.to_thread(self.sink, recs)  # durable: on disk when it returns (or raises Unavailable)
        s.status.records += sum(1 for r in recs if r.format != CHECKPOINT)
        if checkpoint is not None:
            s.status.checkpoint = max(s.status.checkpoint, checkpoint)

    # -- Microsoft Graph -------------------------------------------------------------------------
    async def _graph(self, s: Stream, now: int) -> None:
        assert self.api is not None
        path, time_field, fmt = GRAPH[s.key]
        base = self.m.graph_url.rstrip("/")
        url: str | None = base + path
        params: dict[str, Any] | None = {"$filter": f"{time_field} ge {_iso(self._window_start(s, now))}",
                                         "$top": self.m.page_size}
        versioned = s.key in ("alerts", "riskyUsers")  # these change: each version is its own record

        def id_of(o: dict[str, Any]) -> str | None:
            if not o.get("id"):
                return None
            return f"{o['id']}@{o.get(time_field)}" if versioned else str(o["id"])
        # Graph answers newest first; the pipeline's sequences (MFA denied, then approved) need oldest first.
        held: list[Any] = []
        while url:
            body, _ = await self.api.json(url, self.m.graph_url, params)
            params = None  # the next link carries them
            page = body.get("value") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise ConnectorError(f"graph {s.key}: the answer has no 'value' list")
            nxt = body.get("@odata.nextLink")
            if nxt and not str(nxt).startswith(base):
                raise ConnectorError(f"graph {s.key}: a next link to another host ({httpx.URL(nxt).host}) is not followed")
            url = str(nxt) if nxt else None
            held.extend(page)
            if len(held) >= HOLD:  # a huge round: send in time order what is held so far
                await self._send(s, _in_time_order(held, time_field), fmt, None, id_of)
                held = []
        await self._send(s, _in_time_order(held, time_field), fmt, now, id_of)

    # -- Office 365 Management Activity API -----------------------------------------------------
    def _feed(self) -> str:
        return f"{self.m.manage_url.rstrip('/')}/api/v1.0/{self.m.tenant_id}/activity/feed"

    async def _subscribe(self, content_type: str) -> None:
        assert self.api is not None
        if content_type in self.subscribed:
            return
        resp = await self.api.request("POST", f"{self._feed()}/subscriptions/start", self.m.manage_url,
                                      params={"contentType": content_type})
        # already enabled (AF20024) is fine; anything else is the analyst's to fix (licence, permission)
        if resp.status_code >= 400 and "AF20024" not in resp.text:
            raise ConnectorError(f"subscription to {content_type} not started: HTTP {resp.status_code}: {error_text(resp)}")
        self.subscribed.add(content_type)

    async def _office365(self, s: Stream, now: int) -> None:
        assert self.api is not None
        await self._subscribe(s.key)
        now -= now % 1_000_000  # the API takes whole seconds: the checkpoint is the window's real end
        start = self._window_start(s, now)
        while start < now:
            end = min(now, start + DAY_US)  # at most 24 hours a request
            held: list[Any] = []
            async for blob in self._content(s.key, start, end):
                body, _ = await self.api.json(blob, self.m.manage_url)
                if not isinstance(body, list):
                    raise ConnectorError(f"office365 {s.key}: a content blob is not a list of records")
                held.extend(body)
                if len(held) >= HOLD:
                    await self._send(s, _in_time_order(held, "CreationTime"), "m365", None, _o365_id)
                    held = []
            await self._send(s, _in_time_order(held, "CreationTime"), "m365", end, _o365_id)
            start = end

    async def _content(self, content_type: str, start: int, end: int) -> AsyncIterator[str]:
        assert self.api is not None
        url: str | None = f"{self._feed()}/subscriptions/content"
        params: dict[str, Any] | None = {"contentType": content_type, "startTime": _iso(start), "endTime": _iso(end)}
        manage = self.m.manage_url.rstrip("/")
        while url:
            listing, resp = await self.api.json(url, self.m.manage_url, params)
            params = None
            if not isinstance(listing, list):
                raise ConnectorError(f"office365 {content_type}: the content listing is not a list")
            for item in listing:
                uri = item.get("contentUri") if isinstance(item, dict) else None
                if isinstance(uri, str) and uri.startswith(manage):
                    yield uri
            nxt = resp.headers.get("NextPageUri")
            if nxt and not nxt.startswith(manage):
                raise ConnectorError(f"office365 {content_type}: a NextPageUri to another host is not followed")
            url = nxt or None

    # -- status ---------------------------------------------------------------------------------
    def _save_status(self) -> None:
        path = self.cfg.data_path / STATUS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps({"at": _now_us(), "connector": self.name, **self.view()}))
        os.replace(tmp, path)


def _in_time_order(records: list[Any], time_field: str) -> list[Any]:
    """Oldest first (ISO times sort as text; a record without one goes last)."""
    return sorted(records, key=lambda o: str(o.get(time_field) or o.get(time_field.lower()) or "~")
                  if isinstance(o, dict) else "~")


def _o365_id(o: dict[str, Any]) -> str | None:
    rid = o.get("Id") or o.get("id")
    return str(rid) if rid else None


def load_status(data_path: Path) -> dict[str, Any] | None:
    """What ``garrison serve`` last wrote about its connectors (None when it runs none)."""
    try:
        return dict(orjson.loads((data_path / STATUS_FILE).read_bytes()))
    except (OSError, orjson.JSONDecodeError):
        return None


def connector_status(config: Config, engine: Any, st: dict[str, Any], now: float) -> dict[str, Any]:
    """What ``connectors status`` and the console's Sources page show: per stream its lag (from the committed
    checkpoint), last success and error, records and rate; ``stale`` when serve stopped writing it."""
    from garrison.store.once import checkpoints

    saved = checkpoints(engine)
    rows: list[dict[str, Any]] = []
    for name, s in sorted(st.get("streams", {}).items()):
        cp = saved.get(name) or s.get("checkpoint") or 0
        rows.append({"stream": name, "checkpoint": cp, "lag_seconds": round(now - cp / 1e6, 1) if cp else None,
                     "last_success": s.get("last_success"), "last_error": s.get("last_error"),
                     "last_error_at": s.get("last_error_at"), "records": s.get("records", 0),
                     "per_minute": round(s.get("per_minute", 0.0), 1)})
    return {"connector": st.get("connector"), "at": st.get("at"), "rounds": st.get("rounds"),
            "stale": now - st.get("at", 0) / 1e6 > max(3 * config.microsoft.poll_seconds, 300),
            "requests": st.get("requests"), "throttled": st.get("throttled"), "retries": st.get("retries"),
            "token_requests": st.get("token_requests"), "streams": rows}


@source("microsoft")
def microsoft_sources(config: Config, sinks: Sinks) -> list[Source]:
    m = config.microsoft
    if not (m.tenant_id and m.client_id) or not (m.content_types or m.graph):
        return []
    return [MicrosoftConnector(config, sinks.durable)]
