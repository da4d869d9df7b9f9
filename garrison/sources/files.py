"""Files, folders, .gz and .zip archives, and EVTX: the source behind ``garrison import`` and ``hunt``.

Yields ``RawRecord`` for each line (or EVTX record) and ``Reject`` for input
that can't be read: an over-long line, a truncated .gz, a corrupt EVTX chunk.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from garrison.model import RawRecord, Reject
from garrison.sources._text import decode, json_values, too_long

DEFAULT_MAX_LINE = 256 * 1024
_CHUNK = 1 << 20


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


def _gunzip_chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """Decompress incrementally so that a truncated file still yields all it holds, then says so."""
    d = zlib.decompressobj(wbits=31)
    while raw := stream.read(_CHUNK):
        while raw:
            try:
                out = d.decompress(raw)
            except zlib.error as e:
                raise Truncated(f"corrupt gzip data: {e}") from e
            if out:
                yield out
            if d.eof and d.unused_data:  # next member of a multi-member gzip
                raw = d.unused_data
                d = zlib.decompressobj(wbits=31)
            else:
                raw = b""
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
    while True:
        try:
            chunk = next(chunks, b"")
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
        buf += chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
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
    if buf:
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


def _chunks(f: IO[bytes], name: str) -> Iterator[bytes]:
    return _gunzip_chunks(f) if name.endswith(".gz") else _plain_chunks(f)


def read_file(path: Path, fmt: str | None = None, max_line: int = DEFAULT_MAX_LINE) -> Iterator[RawRecord | Reject]:
    source = str(path)
    name = path.name.lower()
    try:
        if name.endswith(".evtx") or fmt == "evtx":
            yield from _evtx(path, source)
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
                        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"garrison-{os.getpid()}-{Path(info.filename).name}"
                        tmp.write_bytes(zf.read(info))
                        try:
                            for r in _evtx(tmp, member):
                                r.source = member
                                yield r
                        finally:
                            tmp.unlink(missing_ok=True)
                        continue
                    with zf.open(info) as raw:
                        yield from _lines(_chunks(raw, info.filename.lower()), member, fmt, max_line)
        else:
            with open(path, "rb") as f:
                if not name.endswith(".gz") and fmt in (None, "json", "evtx_json") and path.stat().st_size < MAX_JSON_DOCUMENT \
                        and _is_json_document(f.read(4096)):
                    f.seek(0)
                    yield from _json_documents(f.read(), source)
                    return
                f.seek(0)
                yield from _lines(_chunks(f, name), source, fmt, max_line)
    except OSError as e:
        yield Reject(source, f"cannot read: {e.strerror or e}", "", None, None, fmt)


def read_paths(paths: Iterable[str | Path], fmt: str | None = None, max_line: int = DEFAULT_MAX_LINE) -> Iterator[RawRecord | Reject]:
    for f in expand(paths):
        yield from read_file(f, fmt, max_line)
