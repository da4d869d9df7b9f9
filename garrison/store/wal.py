"""Write-ahead log for live ingest: a record is acknowledged once it is here and fsynced.

Segments ``wal/seg-<start offset>.log`` hold frames of ``[u32 length][u32 crc32][payload]``.
Offsets are logical byte positions across segments. The processor reads only up
to ``synced`` and the event store records, in the same transaction as the
events, the offset it has stored up to; segments below it are deleted.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

_HEAD = struct.Struct(">II")
SEGMENT_BYTES = 64 * 1024 * 1024


class Wal:
    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        segs = self._segments()
        if not segs:
            segs = [0]
            (self.dir / self._name(0)).touch()
        self._seg_start = segs[-1]
        path = self.dir / self._name(self._seg_start)
        valid = self._valid_length(path)
        with open(path, "r+b") as f:  # drop a torn tail: it was never acknowledged
            f.truncate(valid)
        self._f = open(path, "ab")
        self.end = self._seg_start + valid
        self.synced = self.end

    @staticmethod
    def _name(start: int) -> str:
        return f"seg-{start:020d}.log"

    def _segments(self) -> list[int]:
        return sorted(int(p.name[4:24]) for p in self.dir.glob("seg-*.log"))

    @staticmethod
    def _valid_length(path: Path) -> int:
        pos = 0
        with open(path, "rb") as f:
            while True:
                head = f.read(8)
                if len(head) < 8:
                    return pos
                n, crc = _HEAD.unpack(head)
                body = f.read(n)
                if len(body) < n or zlib.crc32(body) != crc:
                    return pos
                pos += 8 + n

    def append(self, payloads: list[bytes], sync: bool = True) -> int:
        """Append frames; with ``sync`` they are on disk when this returns. Returns the end offset."""
        buf = b"".join(_HEAD.pack(len(p), zlib.crc32(p)) + p for p in payloads)
        with self._lock:
            if self.end - self._seg_start + len(buf) > SEGMENT_BYTES and self.end > self._seg_start:
                self._rotate()
            self._f.write(buf)
            self.end += len(buf)
            end = self.end
            if sync:
                self._sync_locked()
        return end

    def sync(self) -> None:
        with self._lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        if self.synced == self.end:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self.synced = self.end
        self._cond.notify_all()

    def _rotate(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self.synced = self.end
        self._f.close()
        self._seg_start = self.end
        self._f = open(self.dir / self._name(self._seg_start), "ab")
        fd = os.open(self.dir, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    def wait(self, offset: int, timeout: float) -> int:
        """Block until durable data exists beyond ``offset`` or the timeout; returns ``synced``."""
        with self._lock:
            if self.synced <= offset:
                self._cond.wait(timeout)
            return self.synced

    def read(self, start: int, limit: int, max_records: int) -> Iterator[tuple[bytes, int]]:
        """Yield (payload, offset after it) for frames in [start, limit)."""
        segs = self._segments()
        pos = start
        count = 0
        for i, seg in enumerate(segs):
            seg_end = segs[i + 1] if i + 1 < len(segs) else None
            if seg_end is not None and seg_end <= pos:
                continue
            with open(self.dir / self._name(seg), "rb") as f:
                f.seek(pos - seg)
                while pos < limit and count < max_records:
                    head = f.read(8)
                    if len(head) < 8:
                        break
                    n, crc = _HEAD.unpack(head)
                    body = f.read(n)
                    if len(body) < n or zlib.crc32(body) != crc:
                        break
                    pos += 8 + n
                    count += 1
                    yield body, pos
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
            self._sync_locked()
            self._f.close()
