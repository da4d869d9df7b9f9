"""Syslog listeners: UDP, TCP (newline or RFC 6587 octet-counting framing) and TLS.

Each message becomes a RawRecord handed to ``sink``, which appends it to the
WAL; the WAL is fsynced at least every 200 ms, so a message read from TCP is
durable within one second.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

from garrison.model import RawRecord
from garrison.sources._text import decode, too_long

log = logging.getLogger("garrison.syslog")
Sink = Callable[[list[RawRecord]], object]
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


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, sink: Sink, org: str, max_line: int):
        self.sink, self.org, self.max_line, self.n = sink, org, max_line, 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        data = data.rstrip(b"\r\n\x00")
        if data:
            self.n += 1
            self.sink([_record(data, "udp", addr[0], self.n, self.org, self.max_line)])


def split_frames(buf: bytearray) -> tuple[list[bytes], str | None]:
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
            if n > MAX_FRAME:
                return frames, f"octet count {n} exceeds {MAX_FRAME}"
            if len(buf) < i + 1 + n:
                break
            frames.append(bytes(buf[i + 1 : i + 1 + n]))
            del buf[: i + 1 + n]
            continue
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > MAX_FRAME:
                frames.append(bytes(buf))
                buf.clear()
            break
        frame = bytes(buf[:nl])
        del buf[: nl + 1]
        if frame.strip(b"\r\x00 "):
            frames.append(frame)
    return frames, None


async def _handle_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sink: Sink, transport: str,
                         org: str, max_line: int) -> None:
    peer = (writer.get_extra_info("peername") or ("unknown",))[0]
    buf = bytearray()
    n = 0
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            buf += chunk
            frames, err = split_frames(buf)
            if frames:
                recs = []
                for f in frames:
                    n += 1
                    recs.append(_record(f, transport, peer, n, org, max_line))
                sink(recs)
            if err:
                log.warning("syslog/%s from %s: %s; closing the connection", transport, peer, err)
                break
        if buf.strip():
            n += 1
            sink([_record(bytes(buf), transport, peer, n, org, max_line)])
    except (ConnectionError, ssl.SSLError) as e:
        log.info("syslog/%s connection from %s ended: %s", transport, peer, e)
    finally:
        writer.close()


def _hostport(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


async def start_listeners(sink: Sink, org: str, max_line: int, udp: str | None, tcp: str | None, tls: str | None,
                          cert: str | None, key: str | None) -> list[object]:
    loop = asyncio.get_running_loop()
    servers: list[object] = []
    if udp:
        h, p = _hostport(udp)
        t, _ = await loop.create_datagram_endpoint(lambda: _Udp(sink, org, max_line), local_addr=(h, p))
        servers.append(t)
        log.info("syslog UDP listening on %s", udp)
    if tcp:
        h, p = _hostport(tcp)
        servers.append(await asyncio.start_server(
            lambda r, w: _handle_stream(r, w, sink, "tcp", org, max_line), h, p, limit=MAX_FRAME))
        log.info("syslog TCP listening on %s", tcp)
    if tls:
        if not (cert and key):
            from garrison.errors import ConfigError

            raise ConfigError("ingest.syslog_tls needs ingest.tls_cert and ingest.tls_key")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        h, p = _hostport(tls)
        servers.append(await asyncio.start_server(
            lambda r, w: _handle_stream(r, w, sink, "tls", org, max_line), h, p, ssl=ctx, limit=MAX_FRAME))
        log.info("syslog TLS listening on %s", tls)
    return servers
