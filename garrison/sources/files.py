"""Files, folders, .gz, .zip and .tar(.gz) archives, EVTX and packet captures (``sources.pcap``): the source
behind ``garrison import`` and ``hunt``.

Yields ``RawRecord`` for each line (or EVTX record) and ``Reject`` for input
that can't be read: an over-long line, a truncated .gz, a corrupt EVTX chunk.
"""

from __future__ import annotations

import functools
import tarfile
import zipfile
import zlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from garrison.model import RawRecord, Reject
from garrison.sources._text import decode, json_values, too_long
from garrison.sources.pcap import is_capture, read_capture, read_capture_member

DEFAULT_MAX_LINE = 256 * 1024
_CHUNK = 1 << 20
_HEAD_KEPT = 64 * 1024  # of a line too long to keep: what the quarantine shows


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files under the given paths, folders recursively, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")))
        else:
            out.append(p)
    return out


def total_bytes(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files if f.exists())


class Truncated(Exception):
    pass


def _plain_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


@dataclass(frozen=True)
class Limits:
    """Bounds on what a file may expand to; each refusal is a Reject that names the setting."""

    max_line: int = DEFAULT_MAX_LINE
    max_decompressed: int = 16 * 1024**3  # ingest.max_decompressed_bytes
    max_ratio: int = 1000  # ingest.max_compression_ratio


class TooLarge(Exception):
    pass


def _bomb_check(out_total: int, in_total: int, limits: Limits) -> None:
    if out_total > limits.max_decompressed:
        raise TooLarge(f"decompressed size passed {limits.max_decompressed:,} bytes (ingest.max_decompressed_bytes)")
    if out_total > 64 * 1024 * 1024 and out_total > limits.max_ratio * max(in_total, 1):
        raise TooLarge(f"expands more than {limits.max_ratio}:1 (ingest.max_compression_ratio): a decompression bomb")


def _gunzip_chunks(stream: IO[bytes], limits: Limits = Limits()) -> Iterator[bytes]:
    """Decompress incrementally so that a truncated file still yields all it holds, then says so."""
    d = zlib.decompressobj(wbits=31)
    in_total = out_total = 0
    raw = b""
    while True:
        if not raw:
            raw = stream.read(_CHUNK)
            if not raw:
                break
            in_total += len(raw)
        try:
            out = d.decompress(raw, _CHUNK)
        except zlib.error as e:
            raise Truncated(f"corrupt gzip data: {e}") from e
        raw = d.unconsumed_tail
        if out:
            out_total += len(out)
            _bomb_check(out_total, in_total, limits)
            yield out
        if d.eof:
            # what follows the member: the next member of a multi-member gzip, or padding (tar writes zeros)
            raw = d.unused_data + raw
            if not raw:
                raw = stream.read(_CHUNK)
                in_total += len(raw)
            if not raw:
                return
            if not raw.startswith(b"\x1f\x8b"):
                extra, junk = len(raw), len(raw.strip(b"\0"))  # zero padding is not data
                while more := stream.read(_CHUNK):
                    extra, junk = extra + len(more), junk + len(more.strip(b"\0"))
                if junk:
                    raise Truncated(f"{extra:,} bytes after the end of the gzip data are not gzip data; not read")
                return
            d = zlib.decompressobj(wbits=31)
    tail = d.flush()
    if tail:
        yield tail
    if not d.eof:  # eof is set only after the gzip trailer; without it the file was cut short
        raise Truncated("compressed stream ended before the end-of-stream marker")


def _lines(chunks: Iterator[bytes], source: str, fmt: str | None, max_line: int) -> Iterator[RawRecord | Reject]:
    """Split a byte stream on newlines; decode UTF-8 (invalid bytes are escaped and flagged).

    An all-ASCII run of lines (the common case) is decoded in one call; others line by line.
    """
    offset = 0
    lineno = 0
    buf = b""
    skipping, head, skipped = False, b"", 0
    while True:
        try:
            chunk = next(chunks, b"")
        except TooLarge as e:
            yield Reject(source, f"stopped reading after byte {offset}: {e}", "", lineno + 1, offset, fmt)
            return
        except (Truncated, EOFError, OSError, zlib.error, zipfile.BadZipFile) as e:
            if buf:
                lineno += 1
                yield from _emit(buf, source, lineno, offset, fmt, max_line)
                offset += len(buf)
            yield Reject(source, f"stream ends early after byte {offset}: {e} (file truncated or corrupt)",
                         "", lineno + 1, offset, fmt)
            return
        if not chunk:
            break
        if skipping:  # inside an over-long line: drop bytes up to its end, keep its head for the quarantine
            nl = chunk.find(b"\n")
            skipped += len(chunk) if nl < 0 else nl + 1
            if nl < 0:
                continue
            lineno += 1
            yield Reject(source, too_long(skipped - 1, max_line), decode(head)[0], lineno, offset, fmt)
            offset += skipped
            skipping, chunk = False, chunk[nl + 1:]
        buf += chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > max_line:
                skipping, head, skipped = True, buf[:_HEAD_KEPT], len(buf)
                buf = b""
            continue
        block, buf = buf[:cut], buf[cut + 1 :]
        if block.isascii() and len(block) < max_line * 64:
            for text in block.decode("ascii").split("\n"):
                lineno += 1
                n = len(text)
                if text.endswith("\r"):
                    text = text[:-1]
                if len(text) > max_line:
                    yield from _emit(text.encode(), source, lineno, offset, fmt, max_line)
                elif text and not text.isspace():
                    yield RawRecord(text=text, source=source, position=lineno, offset=offset, format=fmt, meta={})
                offset += n + 1
        else:
            for raw in block.split(b"\n"):
                lineno += 1
                yield from _emit(raw, source, lineno, offset, fmt, max_line)
                offset += len(raw) + 1
    if skipping:
        yield Reject(source, too_long(skipped, max_line), decode(head)[0], lineno + 1, offset, fmt)
    elif buf:
        lineno += 1
        yield from _emit(buf, source, lineno, offset, fmt, max_line)


def _emit(raw: bytes, source: str, lineno: int, offset: int, fmt: str | None, max_line: int) -> Iterator[RawRecord | Reject]:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if not raw.strip():
        return
    if len(raw) > max_line:
        yield Reject(source, too_long(len(raw), max_line), decode(raw)[0], lineno, offset, fmt)
        return
    text, warning = decode(raw)
    yield RawRecord(text=text, source=source, position=lineno, offset=offset, format=fmt,
                    meta={"invalid_utf8": warning} if warning else {})


def _evtx(path: Path, source: str) -> Iterator[RawRecord | Reject]:
    import orjson
    from evtx import PyEvtxParser

    try:
        parser = PyEvtxParser(str(path))
    except (OSError, RuntimeError) as e:
        yield Reject(source, f"not a readable EVTX file: {e}", "", None, None, "evtx")
        return
    it = parser.records_json()
    n = 0
    while True:
        try:
            rec = next(it)
        except StopIteration:
            return
        except RuntimeError as e:  # the evtx crate reports a bad chunk or record and goes on
            yield Reject(source, f"EVTX: {e}", "", n + 1, None, "evtx")
            continue
        n += 1
        text = rec["data"]
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            yield Reject(source, f"EVTX record {rec.get('event_record_id')}: bad JSON from the decoder: {e}", text, n, None, "evtx")
            continue
        yield RawRecord(text=orjson.dumps(obj).decode(), obj=obj, source=source, position=int(rec["event_record_id"]),
                        format="evtx_json")


MAX_JSON_DOCUMENT = 256 * 1024 * 1024


def _is_json_document(head: bytes) -> bool:
    """Pretty-printed JSON (an array, or objects spread over lines) rather than JSON lines."""
    s = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if s.startswith(b"["):
        # An array opens with a value; '[Fri Oct 08 ...' (Apache's error log) or '[12345.678]' (a kernel
        # stamp) opens a text line.
        return s[1:].lstrip(b" \t\r\n")[:1] in (b"{", b"[", b"]", b'"')
    first = s.split(b"\n", 1)[0].strip()
    return first == b"{"


def _json_documents(data: bytes, source: str) -> Iterator[RawRecord | Reject]:
    """Every JSON value in a file of concatenated or arrayed documents (e.g. SigmaHQ's evtx JSON)."""
    import json

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        yield Reject(source, f"invalid UTF-8 at byte {e.start} in a JSON document", data[:4096].decode("utf-8", "replace"))
        return
    n = 0
    try:
        for value, _ in json_values(text, " \t\r\n,"):
            for v in value if isinstance(value, list) else [value]:
                n += 1
                if isinstance(v, dict):
                    yield RawRecord(text=json.dumps(v, separators=(",", ":")), obj=v, source=source, position=n)
                else:
                    yield Reject(source, f"JSON value #{n} is a {type(v).__name__}, expected an object", str(v)[:4096], n)
    except json.JSONDecodeError as e:
        yield Reject(source, f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}", text[e.pos: e.pos + 4096],
                     e.lineno, len(text[:e.pos].encode()))


def _chunks(f: IO[bytes], name: str, limits: Limits) -> Iterator[bytes]:
    return _gunzip_chunks(f, limits) if name.endswith(".gz") else _plain_chunks(f)


def _zip_member_chunks(raw: IO[bytes], info: zipfile.ZipInfo, limits: Limits) -> Iterator[bytes]:
    """A zip member's bytes, bounded like a .gz: the declared size is not trusted, the bytes read are counted."""
    total = 0
    while chunk := raw.read(_CHUNK):
        total += len(chunk)
        _bomb_check(total, info.compress_size, limits)
        yield chunk


def _evtx_member(chunks: Iterator[bytes], member: str) -> Iterator[RawRecord | Reject]:
    """An .evtx inside an archive: the parser needs a file, so it is copied (bounded) into a private temp folder."""
    with tempfile.TemporaryDirectory(prefix="garrison-evtx-") as d:  # mode 0700, a fresh name: no symlink to follow
        tmp = Path(d) / "member.evtx"
        try:
            with open(tmp, "xb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except (TooLarge, Truncated, tarfile.TarError) as e:
            yield Reject(member, f"not read: {e}", "", None, None, "evtx")
            return
        for r in _evtx(tmp, member):
            r.source = member
            yield r


def _tar(path: Path, source: str, fmt: str | None, limits: Limits) -> Iterator[RawRecord | Reject]:
    """A tar archive, plain or gzipped, read as a stream: each regular member like a file, bounded like a .gz."""
    with open(path, "rb") as f:
        stream: IO[bytes] = _ChunkReader(_gunzip_chunks(f, limits)) if path.name.lower().endswith(("gz", ".tgz")) \
            else f  # type: ignore[assignment]
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tf:
                for m in tf:
                    if not m.isfile() or Path(m.name).name.startswith("._"):
                        continue
                    member, low = f"{source}!{m.name}", m.name.lower()
                    fh = tf.extractfile(m)
                    if fh is None:
                        continue
                    chunks = _bounded(iter(functools.partial(fh.read, _CHUNK), b""), limits)
                    if low.endswith(".evtx"):
                        yield from _evtx_member(chunks, member)
                        continue
                    if low.endswith(".gz"):
                        chunks = _gunzip_chunks(_ChunkReader(chunks), limits)
                    yield from _lines(chunks, member, fmt, limits.max_line)
        except (tarfile.TarError, Truncated, TooLarge, zlib.error, EOFError) as e:
            yield Reject(source, f"tar archive not readable past this point: {e}", "", None, None, fmt)


def _bounded(chunks: Iterator[bytes], limits: Limits) -> Iterator[bytes]:
    total = 0
    for c in chunks:
        total += len(c)
        if total > limits.max_decompressed:
            raise TooLarge(f"archive member passed {limits.max_decompressed:,} bytes (ingest.max_decompressed_bytes)")
        yield c


def read_file(path: Path, fmt: str | None = None, max_line: int = DEFAULT_MAX_LINE,
              limits: Limits | None = None) -> Iterator[RawRecord | Reject]:
    limits = limits or Limits(max_line=max_line)
    source = str(path)
    name = path.name.lower()
    try:
        if name.endswith(".evtx") or fmt == "evtx":
            yield from _evtx(path, source)
        elif is_capture(name) or fmt == "pcap":
            yield from read_capture(path, source)
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            yield from _tar(path, source, fmt, limits)
        elif name.endswith(".zip"):
            try:
                zf = zipfile.ZipFile(path)
            except zipfile.BadZipFile as e:
                yield Reject(source, f"not a readable zip archive: {e}", "", None, None, fmt)
                return
            with zf:
                for info in zf.infolist():
                    # macOS resource forks ride along in archives made on a Mac; they hold no logs
                    if info.is_dir() or info.filename.startswith("__MACOSX/") or Path(info.filename).name.startswith("._"):
                        continue
                    member = f"{source}!{info.filename}"
                    if info.filename.lower().endswith(".evtx"):
                        yield from _evtx_member(_zip_member_chunks(zf.open(info), info, limits), member)
                        continue
                    if is_capture(info.filename):
                        yield from read_capture_member(_zip_member_chunks(zf.open(info), info, limits), member)
                        continue
                    try:
                        with zf.open(info) as raw:
                            chunks = _zip_member_chunks(raw, info, limits)
                            if info.filename.lower().endswith(".gz"):
                                chunks = _gunzip_chunks(_ChunkReader(chunks), limits)
                            yield from _lines(chunks, member, fmt, max_line)
                    except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as e:  # encrypted, unsupported
                        yield Reject(member, f"zip member not readable: {e}", "", None, None, fmt)
        else:
            with open(path, "rb") as f:
                if not name.endswith(".gz") and fmt in (None, "json", "evtx_json") and path.stat().st_size < MAX_JSON_DOCUMENT \
                        and _is_json_document(f.read(4096)):
                    f.seek(0)
                    yield from _json_documents(f.read(), source)
                    return
                f.seek(0)
                yield from _lines(_chunks(f, name, limits), source, fmt, max_line)
    except OSError as e:
        yield Reject(source, f"cannot read: {e.strerror or e}", "", None, None, fmt)


class _ChunkReader:
    """A file-like ``read`` over an iterator of chunks (a .gz inside a zip)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._it, self._buf = chunks, b""

    def read(self, n: int) -> bytes:
        while len(self._buf) < n:
            nxt = next(self._it, b"")
            if not nxt:
                break
            self._buf += nxt
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def read_paths(paths: Iterable[str | Path], fmt: str | None = None, max_line: int = DEFAULT_MAX_LINE) -> Iterator[RawRecord | Reject]:
    for f in expand(paths):
        yield from read_file(f, fmt, max_line)
