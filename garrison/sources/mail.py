"""Email messages as records: ``.eml`` files, Outlook ``.msg`` (extract-msg), ``.mbox`` mailboxes, and folders or
``.tar(.gz)``/``.zip`` archives of them. Each message is one ``RawRecord`` of format ``eml`` (or
``email_report`` for a reporting mailbox's mail) whose text is the message's bytes as Latin-1, a lossless view
that the parser turns back into bytes.

Every message is bounded by ``MAX_MESSAGE``; a larger one, an unreadable ``.msg`` or a broken archive becomes
a ``Reject`` naming the file and the reason, and the rest goes on.
"""

from __future__ import annotations

import functools
import io
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from garrison.model import RawRecord, Reject
from garrison.sources.files import Limits, TooLarge, Truncated, _bounded, _ChunkReader, _gunzip_chunks, expand

MAX_MESSAGE = 50 * 1024 * 1024
MAIL_SUFFIXES = (".eml", ".msg", ".mbox", ".mbx", ".txt", "")


def record(raw: bytes, source: str, position: int | None = None, report: bool = False, **meta: object) -> RawRecord | Reject:
    fmt = "email_report" if report else "eml"
    if len(raw) > MAX_MESSAGE:
        return Reject(source, f"message of {len(raw):,} bytes is over the {MAX_MESSAGE:,}-byte limit", raw[:4096].decode("latin-1"),
                      position, None, fmt)
    return RawRecord(raw.decode("latin-1"), source, position, None, fmt, meta=dict(meta))


def msg_to_eml(data: bytes) -> bytes:
    """An Outlook .msg file as RFC 822 bytes: its transport headers when it kept them, its bodies and attachments."""
    import extract_msg

    m = extract_msg.openMsg(io.BytesIO(data))
    try:
        eml = m.asEmailMessage()
        return bytes(eml.as_bytes())
    finally:
        m.close()


def _one(data: bytes, name: str, source: str, position: int | None, report: bool) -> Iterator[RawRecord | Reject]:
    low = name.lower()
    if low.endswith(".msg") or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        try:
            data = msg_to_eml(data)
        except Exception as e:  # extract-msg raises its own and olefile's types on broken files
            yield Reject(source, f"not a readable Outlook .msg file: {type(e).__name__}: {e}"[:300], "", position, None, "eml")
            return
    if data.startswith(b"From ") and (low.endswith((".mbox", ".mbx")) or b"\nFrom " in data[:MAX_MESSAGE]):
        yield from _mbox(data, source, report)
        return
    yield record(data, source, position, report)


def _mbox(data: bytes, source: str, report: bool) -> Iterator[RawRecord | Reject]:
    # mailbox.mbox needs a path; split on the "From " separator lines as it does (mboxo/mboxrd)
    starts = [0] if data.startswith(b"From ") else []
    i = data.find(b"\n\nFrom ")
    while i != -1:
        starts.append(i + 2)
        i = data.find(b"\n\nFrom ", i + 2)
    for n, (a, b) in enumerate(zip(starts, [*starts[1:], len(data)]), start=1):
        chunk = data[a:b]
        body = chunk.split(b"\n", 1)[1] if b"\n" in chunk else b""
        yield record(body.replace(b"\n>From ", b"\nFrom "), f"{source}#{n}", n, report)


def _tar(path: Path, limits: Limits, report: bool) -> Iterator[RawRecord | Reject]:
    with open(path, "rb") as f:
        stream: IO[bytes] = _ChunkReader(_gunzip_chunks(f, limits)) if path.name.lower().endswith(("gz", ".tgz")) \
            else f  # type: ignore[assignment]
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tf:
                for n, m in enumerate(tf, start=1):
                    if not m.isfile() or Path(m.name).name.startswith("._"):
                        continue
                    if m.size > MAX_MESSAGE:
                        yield Reject(f"{path}!{m.name}", f"member of {m.size:,} bytes is over the message limit", "", n, None, "eml")
                        continue
                    fh = tf.extractfile(m)
                    if fh is not None:
                        data = b"".join(_bounded(iter(functools.partial(fh.read, 1 << 20), b""), limits))
                        yield from _one(data, m.name, f"{path}!{m.name}", n, report)
        except (tarfile.TarError, Truncated, TooLarge, zlib.error, EOFError) as e:
            yield Reject(str(path), f"tar archive not readable past this point: {e}", "", None, None, "eml")


def read_messages(paths: Iterable[str | Path], limits: Limits | None = None, report: bool = False) -> Iterator[RawRecord | Reject]:
    """Every message under the given paths, in a stable order."""
    limits = limits or Limits()
    for path in expand(paths):
        name = path.name.lower()
        try:
            if name.endswith((".tar", ".tar.gz", ".tgz")):
                yield from _tar(path, limits, report)
            elif name.endswith(".zip"):
                with zipfile.ZipFile(path) as zf:
                    for n, info in enumerate(zf.infolist(), start=1):
                        if info.is_dir() or info.file_size > MAX_MESSAGE:
                            continue
                        yield from _one(zf.read(info), info.filename, f"{path}!{info.filename}", n, report)
            elif path.stat().st_size > (limits.max_decompressed if name.endswith((".mbox", ".mbx")) else MAX_MESSAGE):
                yield Reject(str(path), f"file of {path.stat().st_size:,} bytes is over the {MAX_MESSAGE:,}-byte message limit",
                             "", None, None, "eml")
            else:
                yield from _one(path.read_bytes(), path.name, str(path), None, report)
        except (OSError, zipfile.BadZipFile) as e:
            yield Reject(str(path), f"cannot read: {e}", "", None, None, "eml")

