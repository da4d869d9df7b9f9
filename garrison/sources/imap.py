"""The reporting mailbox, read over IMAP: each message staff forward there becomes a record of format
``email_report`` (the parser unwraps the suspect message it carries), supervised like the other sources.

Exactly once: the folder is opened read-only (Garrison never changes the mailbox), messages are fetched by
UID above the stream's checkpoint, and each page goes to the write-ahead log durably with a checkpoint record
(the highest UID) in the same append; record ids are ``UIDVALIDITY:UID``, so the pipeline's "once" stage drops
a message fetched again after a crash. A message over ``max_message_bytes`` is quarantined with the reason
(its size is read first with ``RFC822.SIZE``, the body is never fetched).
"""

from __future__ import annotations

import asyncio
import imaplib
import logging
import re
import ssl
import time
from typing import Any

from garrison.config import Config, ReportingConfig, read_secret_from
from garrison.errors import ConfigError
from garrison.model import RawRecord
from garrison.model.event import CHECKPOINT
from garrison.sources import Sink, Sinks, Source, cancel, source
from garrison.sources.mail import record

log = logging.getLogger(__name__)
PAGE = 50
_SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")


def password(r: ReportingConfig) -> str:
    secret = read_secret_from(r.password_file, r.password_env, "reporting.password")
    if secret is None:
        raise ConfigError("reporting: give password_file or password_env for the reporting mailbox")
    return secret


def connect(r: ReportingConfig) -> imaplib.IMAP4:
    """Log in and open the folder read-only; errors name the server and what to check."""
    if r.security not in ("tls", "starttls", "none"):
        raise ConfigError(f"reporting.security: {r.security!r}; one of tls, starttls, none")
    if r.security == "none" and r.host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError("reporting.security: none is allowed only on loopback; the password would cross the network in clear")
    ctx = ssl.create_default_context(cafile=r.ca_file) if r.security != "none" else None
    try:
        if r.security == "tls":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(r.host, r.port, ssl_context=ctx, timeout=r.timeout_seconds)
        else:
            conn = imaplib.IMAP4(r.host, r.port, timeout=r.timeout_seconds)
            if r.security == "starttls":
                conn.starttls(ssl_context=ctx)
        conn.login(r.username, password(r))
        typ, _ = conn.select(_quoted(r.folder), readonly=True)
        if typ != "OK":
            raise ConfigError(f"reporting.folder: {r.folder!r} cannot be opened on {r.host}")
        return conn
    except imaplib.IMAP4.error as e:
        raise ConfigError(f"reporting mailbox {r.username}@{r.host}: {e} (check the user name and password)") from e


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ReportingMailbox:
    name = "reporting-mailbox"

    def __init__(self, config: Config, sink: Sink):
        self.cfg, self.r, self.sink = config, config.reporting, sink
        self.stream = f"imap/{self.r.username}@{self.r.host}/{self.r.folder}"
        self.checkpoint = 0
        self.uidvalidity = ""
        self._task: asyncio.Task[None] | None = None
        self.counters = {"rounds": 0, "messages": 0, "too_large": 0, "errors": 0}
        self.last_error: str | None = None
        self.last_success: float | None = None

    async def start(self) -> None:
        from garrison.store import open_state
        from garrison.store.once import checkpoints

        password(self.r)  # a missing password fails now, where the operator sees it
        self.checkpoint = checkpoints(open_state(self.cfg.state_url or self.cfg.data_path)).get(self.stream, 0)
        self._task = asyncio.create_task(self._run(), name="reporting-mailbox")

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def view(self) -> dict[str, Any]:
        return {**self.counters, "checkpoint_uid": self.checkpoint, "last_success": self.last_success,
                "problems": [f"reporting mailbox {self.stream} cannot be read: {self.last_error}"] if self.last_error else []}

    async def close(self) -> None:
        await cancel(self._task)

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.read_once)
                self.last_error, self.last_success = None, time.time()
            except (OSError, imaplib.IMAP4.error, ConfigError, ssl.SSLError) as e:
                self.counters["errors"] += 1
                self.last_error = str(e)[:300]
                log.warning("reporting mailbox %s: %s", self.stream, e)
            self.counters["rounds"] += 1
            await asyncio.sleep(self.r.poll_seconds)

    def read_once(self) -> int:
        """One round: every message above the checkpoint, in pages, each page durably with its checkpoint."""
        conn = connect(self.r)
        try:
            _, validity = conn.response("UIDVALIDITY")
            self.uidvalidity = validity[0].decode() if validity and isinstance(validity[0], bytes) else "0"
            typ, data = conn.uid("SEARCH", f"UID {self.checkpoint + 1}:*")
            uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > self.checkpoint) if typ == "OK" else []
            n = 0
            for i in range(0, len(uids), PAGE):
                n += self._page(conn, uids[i:i + PAGE])
            return n
        finally:
            try:
                conn.logout()
            except (OSError, imaplib.IMAP4.error):
                pass

    def _page(self, conn: imaplib.IMAP4, uids: list[int]) -> int:
        typ, data = conn.uid("FETCH", ",".join(map(str, uids)), "(RFC822.SIZE)")
        sizes: dict[int, int] = {}
        for item in data if typ == "OK" else []:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes) and (m := _SIZE.search(line)):
                uid, size = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
                sizes[int(uid)] = int(size)
        recs: list[RawRecord] = []
        for uid in uids:
            rid = f"{self.uidvalidity}:{uid}"
            where = f"{self.stream}#{uid}"
            if sizes.get(uid, 0) > self.r.max_message_bytes:
                self.counters["too_large"] += 1
                recs.append(RawRecord("", where, uid, format="email_report", meta={
                    "reject": f"reported message of {sizes[uid]:,} bytes is over reporting.max_message_bytes",
                    "record_id": rid, "stream": self.stream, "input": "imap"}))
                continue
            typ, got = conn.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next((part[1] for part in got if isinstance(part, tuple) and isinstance(part[1], bytes)), b"") if typ == "OK" else b""
            rec = record(raw, where, uid, report=True, record_id=rid, stream=self.stream, input="imap")
            recs.append(rec if isinstance(rec, RawRecord) else RawRecord(
                "", where, uid, format="email_report", meta={"reject": rec.reason, "record_id": rid, "stream": self.stream}))
        recs.append(RawRecord(None, self.stream, format=CHECKPOINT, meta={"stream": self.stream, "checkpoint": max(uids)}))
        self.sink(recs)  # durable: returns once on disk, so the checkpoint never runs ahead of the messages
        self.checkpoint = max(uids)
        self.counters["messages"] += len(uids)
        return len(uids)


@source("imap")
def imap_sources(config: Config, sinks: Sinks) -> list[Source]:
    return [ReportingMailbox(config, sinks.durable)] if config.reporting.host else []
