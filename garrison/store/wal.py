"""Write-ahead log for live ingest: a record is acknowledged once it is here and fsynced.

Segments ``wal/seg-<start offset>.log`` hold frames of ``[u32 length][u32 crc32][payload]``.
Offsets are logical byte positions across segments. The processor reads only up
to ``synced`` and the event store records, in the same transaction as the
events, the offset it has stored up to; segments below it are deleted.

Integrity: an append writes whole frames or nothing (a failed write is cut back
to the last good frame before anyone is answered), and a frame that fails its
checksum in the middle of a segment is reported and skipped to the next valid
frame, never used to cut the log short. The WAL is the live pipeline's sink: it
also owns the codec of a ``RawRecord`` on disk.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from garrison.errors import Unavailable
from garrison.model import RawRecord

log = logging.getLogger("garrison.wal")
_HEAD = struct.Struct(">II")
SEGMENT_BYTES = 64 * 1024 * 1024
MAX_FRAME = SEGMENT_BYTES  # a frame longer than a segment can only be a bad header


class WalUnavailable(Unavailable):
    """The WAL cannot take records now (disk full, read-only, failing): answer 503, never 200."""


def encode_record(rec: RawRecord) -> bytes:
    d: dict[str, Any] = {"s": rec.source}
    if rec.text is not None:
        d["t"] = rec.text
    if rec.obj is not None:
        d["o"] = rec.obj
    if rec.format:
        d["f"] = rec.format
    if rec.position is not None:
        d["p"] = rec.position
    if rec.meta:
        d["m"] = rec.meta
    try:
        return orjson.dumps(d)
    except (TypeError, orjson.JSONEncodeError):
        # an object orjson refuses (an integer past 64 bits, nesting past 254) travels as its text only
        d.pop("o", None)
        d["m"] = {str(k): _plain(v) for k, v in (rec.meta or {}).items()}
        if d.get("t") is None:
            d["t"] = repr(rec.obj)[:1_000_000]
        return orjson.dumps(d)


def _plain(v: Any) -> Any:
    """A meta value orjson can write: in-range numbers and text stay, anything else becomes bounded text."""
    if isinstance(v, (str, bool)) or v is None:
        return v
    if isinstance(v, int) and -(2**63) <= v < 2**63:
        return v
    if isinstance(v, float):
        return v
    return str(v)[:4096]


def decode_record(payload: bytes) -> RawRecord:
    """A WAL payload back to its record; ValueError if the payload is not one."""
    try:
        d = orjson.loads(payload)
        return RawRecord(text=d.get("t"), obj=d.get("o"), source=d["s"], position=d.get("p"), format=d.get("f"),
                         meta=d.get("m") or {})
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"unreadable WAL record: {e}") from e


@dataclass
class WalStats:
    """Counters a health page reads; each written under the WAL's lock."""

    appended_frames: int = 0
    failed_appends: int = 0
    skipped_bytes: int = 0  # unreadable bytes passed over (reported, never silent)
    skipped_regions: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    regions: list[str] = field(default_factory=list)


class Wal:
    def __init__(self, directory: str | Path, min_free_bytes: int = 0):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.min_free_bytes = min_free_bytes
        self.stats = WalStats()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._free_checked = 0.0
        self._free = 1 << 62
        segs = self._segments()
        if not segs:
            segs = [0]
            (self.dir / self._name(0)).touch()
        for s in segs[:-1]:
            self._check_segment(self.dir / self._name(s), last=False)
        self._seg_start = segs[-1]
        path = self.dir / self._name(self._seg_start)
        valid = self._check_segment(path, last=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self.end = self._seg_start + valid
        self.synced = self.end
        self.writable = True
        self._dirty = False  # a failed write could not be cut back yet
        # (end offset, time first appended) per append burst: how old the oldest unprocessed record is
        self._marks: deque[tuple[int, float]] = deque([(self.end, time.time())], maxlen=100_000)

    @staticmethod
    def _name(start: int) -> str:
        return f"seg-{start:020d}.log"

    def _segments(self) -> list[int]:
        return sorted(int(p.name[4:24]) for p in self.dir.glob("seg-*.log"))

    # -- integrity -----------------------------------------------------------------
    def _check_segment(self, path: Path, last: bool) -> int:
        """Scan a segment; report bad regions. Returns the length to keep (the last one loses a torn tail)."""
        data = path.read_bytes()
        pos = 0
        good_end = 0
        while pos < len(data):
            n = _frame_at(data, pos)
            if n is not None:
                pos += n
                good_end = pos
                continue
            nxt = _resync(data, pos)
            if nxt is None:
                break
            self._report(path, pos, nxt - pos)
            pos = nxt
        if good_end < len(data):
            tail = len(data) - good_end
            if last:
                log.warning("WAL %s: %d bytes of an unfinished frame at its end cut off (a write the crash or a "
                            "full disk interrupted; it was not acknowledged)", path.name, tail)
                with open(path, "r+b") as f:
                    f.truncate(good_end)
                    os.fsync(f.fileno())
            else:
                self._report(path, good_end, tail)
        return good_end

    def _report(self, path: Path, at: int, size: int) -> None:
        msg = f"WAL {path.name}: {size} unreadable bytes at byte {at} skipped to the next valid frame"
        log.error("%s (records there are lost; the segment is kept for inspection)", msg)
        self.stats.skipped_bytes += size
        self.stats.skipped_regions += 1
        self.stats.regions = (self.stats.regions + [msg])[-10:]
        self.stats.last_error, self.stats.last_error_at = msg, time.time()

    # -- writing ---------------------------------------------------------------------
    def free_bytes(self) -> int:
        now = time.monotonic()
        if now - self._free_checked > 1.0:
            try:
                self._free = shutil.disk_usage(self.dir).free
            except OSError:
                self._free = 0
            self._free_checked = now
        return self._free

    def append(self, payloads: list[bytes], sync: bool = True) -> int:
        """Append whole frames; with ``sync`` they are on disk when this returns. Returns the end offset.

        Raises ``WalUnavailable`` when the frames cannot be kept; then nothing of them is left behind.
        """
        buf = b"".join(_HEAD.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        if self.min_free_bytes and self.free_bytes() < self.min_free_bytes + len(buf):
            with self._lock:
                self._fail(f"disk nearly full: {self._free:,} bytes free, ingest.min_free_bytes is "
                           f"{self.min_free_bytes:,}")
            raise WalUnavailable(self.stats.last_error or "disk nearly full", 30)
        with self._lock:
            try:
                if self._dirty:
                    os.ftruncate(self._fd, self.end - self._seg_start)
                    self._dirty = False
                if self.end - self._seg_start + len(buf) > SEGMENT_BYTES and self.end > self._seg_start:
                    self._rotate()
                _write_all(self._fd, buf)
                self.end += len(buf)
                if sync:
                    self._sync_locked()
            except OSError as e:
                self._cut_back()
                self._fail(f"cannot write the WAL: {e.strerror or e}")
                raise WalUnavailable(self.stats.last_error or str(e)) from e
            self.stats.appended_frames += len(payloads)
            self.writable = True
            if not self._marks or self._marks[-1][0] < self.synced or time.time() - self._marks[-1][1] > 0.1:
                self._marks.append((self.end, time.time()))
            else:
                self._marks[-1] = (self.end, self._marks[-1][1])
            return self.end

    def _fail(self, msg: str) -> None:
        self.stats.failed_appends += 1
        self.stats.last_error, self.stats.last_error_at = msg, time.time()
        self.writable = False

    def _cut_back(self) -> None:
        """Remove a partly written frame: the file ends at the last whole frame again."""
        try:
            os.ftruncate(self._fd, self.end - self._seg_start)
        except OSError as e:  # retried before the next append
            log.error("WAL: cannot cut back a failed write: %s", e)
            self._dirty = True

    def sync(self) -> None:
        with self._lock:
            try:
                self._sync_locked()
            except OSError as e:
                self._fail(f"cannot fsync the WAL: {e.strerror or e}")

    def _sync_locked(self) -> None:
        if self.synced == self.end:
            return
        os.fsync(self._fd)
        self.synced = self.end
        self._cond.notify_all()

    def _rotate(self) -> None:
        os.fsync(self._fd)
        self.synced = self.end
        path = self.dir / self._name(self.end)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.close(self._fd)
        self._fd = fd
        self._seg_start = self.end
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def wait(self, offset: int, timeout: float) -> int:
        """Block until durable data exists beyond ``offset`` or the timeout; returns ``synced``."""
        with self._lock:
            if self.synced <= offset:
                self._cond.wait(timeout)
            return self.synced

    def lag(self, offset: int) -> tuple[int, float]:
        """(bytes, seconds): how much durable data lies beyond ``offset``, and how long the oldest has waited."""
        with self._lock:
            while len(self._marks) > 1 and self._marks[0][0] <= offset:
                self._marks.popleft()
            pending = self.synced - offset
            if pending <= 0:
                return 0, 0.0
            first = next((t for end, t in self._marks if end > offset), time.time())
            return pending, max(0.0, time.time() - first)

    # -- reading -------------------------------------------------------------------
    def read(self, start: int, limit: int, max_records: int) -> Iterator[tuple[bytes, int]]:
        """Yield (payload, offset after it) for frames in [start, limit); unreadable regions are skipped."""
        segs = self._segments()
        pos = start
        count = 0
        for i, seg in enumerate(segs):
            seg_end = segs[i + 1] if i + 1 < len(segs) else limit
            if seg_end <= pos:
                continue
            path = self.dir / self._name(seg)
            pos = max(pos, seg)
            with open(path, "rb") as f:
                f.seek(pos - seg)
                data = f.read(min(seg_end, limit) - pos)
            i0 = 0
            while i0 < len(data) and count < max_records:
                n = _frame_at(data, i0)
                if n is None:
                    nxt = _resync(data, i0)
                    if nxt is None:
                        nxt = len(data)
                    with self._lock:
                        self._report(path, pos - seg + i0, nxt - i0)
                    i0 = nxt
                    if i0 >= len(data):
                        yield b"", pos + i0  # nothing readable left here: the caller moves past it
                        count += 1
                    continue
                i0 += n
                count += 1
                yield data[i0 - n + 8: i0], pos + i0
            pos += i0
            if pos >= limit or count >= max_records:
                return

    def truncate_before(self, offset: int) -> None:
        """Delete whole segments that end at or before ``offset``."""
        segs = self._segments()
        for i, seg in enumerate(segs[:-1]):
            if segs[i + 1] <= offset:
                (self.dir / self._name(seg)).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            try:
                self._sync_locked()
            except OSError as e:
                log.error("WAL: final fsync failed: %s", e)
            os.close(self._fd)


def _write_all(fd: int, buf: bytes) -> None:
    view = memoryview(buf)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _frame_at(data: bytes, pos: int) -> int | None:
    """The length of a valid frame at ``pos`` (header included), or None."""
    if pos + 8 > len(data):
        return None
    n, crc = _HEAD.unpack_from(data, pos)
    if n > MAX_FRAME or pos + 8 + n > len(data) or zlib.crc32(data[pos + 8: pos + 8 + n]) != crc:
        return None
    return 8 + n


def _resync(data: bytes, pos: int) -> int | None:
    """The next position after ``pos`` where a valid frame starts (and the log goes on validly), or None."""
    for p in range(pos + 1, len(data) - 7):
        n = _frame_at(data, p)
        if n is not None and (p + n == len(data) or _frame_at(data, p + n) is not None):
            return p
    return None
