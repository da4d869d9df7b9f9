"""Syslog listeners: UDP, TCP (newline or RFC 6587 octet-counting framing) and TLS.

Each message becomes a RawRecord handed to ``sink``, which appends it to the
WAL; the WAL is fsynced at least every 200 ms, so a message read from TCP is
durable within one second.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from garrison.config import Config
from garrison.errors import Unavailable
from garrison.model import RawRecord
from garrison.sources import Sink, Sinks, Source, source
from garrison.sources._text import decode, too_long

log = logging.getLogger("garrison.syslog")
MAX_FRAME = 1024 * 1024


def _record(data: bytes, transport: str, peer: str, n: int, org: str, max_line: int) -> RawRecord:
    meta: dict[str, object] = {"input": f"syslog-{transport}", "org": org, "peer": peer}
    if len(data) > max_line:
        meta["too_long"] = too_long(len(data), max_line, "message")
        data = data[:MAX_FRAME]
    text, warning = decode(data, "message")
    if warning:
        meta["invalid_utf8"] = warning
    return RawRecord(text=text.rstrip("\r\n\x00"), source=f"syslog/{transport}/{peer}", position=n, format="syslog", meta=meta)


@dataclass
class ListenerStats:
    """Counters of one listener, read by the health page."""

    connections: int = 0  # open now
    refused_connections: int = 0  # over ingest.max_syslog_connections
    records: int = 0
    dropped: int = 0  # UDP datagrams that arrived while the WAL could not take them (UDP can't be told to wait)
    paused: int = 0  # times a TCP stream was held back while the WAL could not take it
    last_error: str | None = None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, sink: Sink, org: str, max_line: int, stats: ListenerStats):
        self.sink, self.org, self.max_line, self.n, self.stats = sink, org, max_line, 0, stats

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        data = data.rstrip(b"\r\n\x00")
        if data:
            self.n += 1
            try:
                self.sink([_record(data, "udp", addr[0], self.n, self.org, self.max_line)])
                self.stats.records += 1
            except Unavailable as e:
                self.stats.dropped += 1
                self.stats.last_error = e.reason


def split_frames(buf: bytearray, max_frame: int = MAX_FRAME) -> tuple[list[bytes], str | None]:
    """Take complete frames off the front of ``buf``; return them and an error, if the stream is corrupt.

    A frame starting with digits and a space is octet-counted (RFC 6587 3.4.1);
    otherwise it ends at LF (3.4.2).
    """
    frames: list[bytes] = []
    while buf:
        i = 0
        while i < len(buf) and i < 10 and 48 <= buf[i] <= 57:
            i += 1
        if 0 < i < len(buf) and buf[i] == 32 and buf[0] != 48:
            n = int(buf[:i])
            if n > max_frame:
                return frames, f"octet count {n} exceeds {max_frame}"
            if len(buf) < i + 1 + n:
                break
            frames.append(bytes(buf[i + 1 : i + 1 + n]))
            del buf[: i + 1 + n]
            continue
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > max_frame:
                frames.append(bytes(buf))
                buf.clear()
            break
        frame = bytes(buf[:nl])
        del buf[: nl + 1]
        if frame.strip(b"\r\x00 "):
            frames.append(frame)
    return frames, None


async def _handle_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sink: Sink, transport: str,
                         org: str, max_line: int, stats: ListenerStats, max_connections: int) -> None:
    peer = (writer.get_extra_info("peername") or ("unknown",))[0]
    if stats.connections >= max_connections:
        stats.refused_connections += 1
        writer.close()
        return
    stats.connections += 1
    buf = bytearray()
    n = 0
    cap = max_line + 8  # a frame longer than a line may be is cut and quarantined, never buffered whole
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            buf += chunk
            frames, err = split_frames(buf, cap)
            if frames:
                recs = []
                for f in frames:
                    n += 1
                    recs.append(_record(f, transport, peer, n, org, max_line))
                await _keep(sink, recs, stats)
            if err:
                log.warning("syslog/%s from %s: %s; closing the connection", transport, peer, err)
                break
        if buf.strip():
            n += 1
            await _keep(sink, [_record(bytes(buf), transport, peer, n, org, max_line)], stats)
    except (ConnectionError, ssl.SSLError) as e:
        log.info("syslog/%s connection from %s ended: %s", transport, peer, e)
    finally:
        stats.connections -= 1
        writer.close()


async def _keep(sink: Sink, recs: list[RawRecord], stats: ListenerStats) -> None:
    """Hand records to the sink; while it can't take them, hold the stream (TCP backpressure), never drop."""
    while True:
        try:
            sink(recs)
            stats.records += len(recs)
            return
        except Unavailable as e:
            stats.paused += 1
            stats.last_error = e.reason
            await asyncio.sleep(min(e.retry_after, 2))


def _hostport(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


async def start_listener(kind: str, addr: str, sink: Sink, org: str, max_line: int, stats: ListenerStats,
                         max_connections: int = 512, cert: str | None = None, key: str | None = None) -> Any:
    """One listener: ``kind`` is udp, tcp or tls. Returns the asyncio server or transport."""
    loop = asyncio.get_running_loop()
    h, p = _hostport(addr)
    if kind == "udp":
        t, _ = await loop.create_datagram_endpoint(lambda: _Udp(sink, org, max_line, stats), local_addr=(h, p))
        log.info("syslog UDP listening on %s", addr)
        return t
    ctx = None
    if kind == "tls":
        if not (cert and key):
            from garrison.errors import ConfigError

            raise ConfigError("ingest.syslog_tls needs ingest.tls_cert and ingest.tls_key")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(
        lambda r, w: _handle_stream(r, w, sink, kind, org, max_line, stats, max_connections), h, p, ssl=ctx,
        limit=max_line + 65536)
    log.info("syslog %s listening on %s", kind.upper(), addr)
    return server


def serving(server: Any) -> bool:
    """Whether a listener from ``start_listener`` still takes input."""
    if hasattr(server, "is_serving"):
        return bool(server.is_serving())
    return not server.is_closing()


class SyslogListener:
    """One syslog listener as a supervised source."""

    def __init__(self, kind: str, addr: str, config: Config, sink: Sink):
        self.name, self.kind, self.addr = f"syslog-{kind}", kind, addr
        self.cfg, self.sink = config, sink
        self.stats = ListenerStats()
        self._server: Any = None

    async def start(self) -> None:
        i = self.cfg.ingest
        self._server = await start_listener(self.kind, self.addr, self.sink, self.cfg.organization, i.max_line_bytes,
                                            self.stats, i.max_syslog_connections, i.tls_cert, i.tls_key)

    def running(self) -> bool:
        return self._server is not None and serving(self._server)

    def view(self) -> dict[str, Any]:
        st = self.stats
        return {"address": self.addr, "connections": st.connections, "refused_connections": st.refused_connections,
                "records": st.records, "dropped": st.dropped, "paused": st.paused}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()


@source("syslog")
def syslog_sources(config: Config, sinks: Sinks) -> list[Source]:
    i = config.ingest
    return [SyslogListener(kind, addr, config, sinks.stream)
            for kind, addr in (("udp", i.syslog_udp), ("tcp", i.syslog_tcp), ("tls", i.syslog_tls)) if addr]
