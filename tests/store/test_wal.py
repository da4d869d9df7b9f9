"""The WAL keeps every acknowledged frame: a failed append leaves nothing behind, a bad frame is skipped."""

from __future__ import annotations

import os
import resource
import signal

import pytest

from garrison.errors import Unavailable
from garrison.model import RawRecord
from garrison.store.wal import Wal, decode_record, encode_record


def _rec(i: int) -> bytes:
    return encode_record(RawRecord(text=f"line {i}", source="test", position=i))


def _texts(wal: Wal, start: int = 0) -> list[str]:
    return [decode_record(p).text for p, _ in wal.read(start, wal.synced, 10**9) if p]


def test_codec_round_trip_and_unencodable_objects():
    rec = RawRecord(text="x", source="s", position=3, format="json", obj={"a": [1, {"b": 2}]}, meta={"org": "o"})
    assert decode_record(encode_record(rec)) == rec
    huge = RawRecord(text=None, source="s", obj={"n": 10**30})  # orjson can't write it: kept as text
    back = decode_record(encode_record(huge))
    assert back.obj is None and "10000000000" in back.text
    with pytest.raises(ValueError):
        decode_record(b"\x00garbage")


def test_failed_append_leaves_no_torn_frame(tmp_path):
    """A write refused part-way (file-size limit, as a full disk) is cut back; later appends are all readable."""
    wal = Wal(tmp_path / "wal")
    wal.append([_rec(i) for i in range(10)])
    good = wal.end
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (good + 100, hard))
    try:
        with pytest.raises(Unavailable):
            wal.append([_rec(i) for i in range(10, 1000)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert wal.end == good and os.path.getsize(next((tmp_path / "wal").glob("seg-*"))) == good
    assert not wal.writable and "cannot write" in wal.stats.last_error
    wal.append([_rec(i) for i in range(1000, 6000)])  # the disk came back: 5,000 more acknowledged
    wal.close()
    reopened = Wal(tmp_path / "wal")
    texts = _texts(reopened)
    assert len(texts) == 5010 and texts[9] == "line 9" and texts[10] == "line 1000"
    assert reopened.stats.skipped_bytes == 0


def test_bad_frame_in_the_middle_is_reported_and_skipped(tmp_path, caplog):
    wal = Wal(tmp_path / "wal")
    wal.append([_rec(i) for i in range(100)])
    wal.close()
    seg = next((tmp_path / "wal").glob("seg-*"))
    data = bytearray(seg.read_bytes())
    frame = len(_rec(0)) + 8
    data[frame * 50 + 12] ^= 0xFF  # one flipped byte in frame 50's payload
    seg.write_bytes(bytes(data))
    reopened = Wal(tmp_path / "wal")
    assert reopened.end == len(data), "the log must not be cut at the bad frame"
    texts = _texts(reopened)
    assert len(texts) == 99 and texts[0] == "line 0" and texts[-1] == "line 99"  # one frame lost, and said
    assert reopened.stats.skipped_regions >= 1 and "unreadable bytes" in caplog.text


def test_torn_tail_is_cut_and_said(tmp_path, caplog):
    wal = Wal(tmp_path / "wal")
    wal.append([_rec(i) for i in range(5)])
    wal.close()
    seg = next((tmp_path / "wal").glob("seg-*"))
    with open(seg, "ab") as f:
        f.write(b"\x00\x00\x01\x00abc")  # a header whose payload never arrived
    reopened = Wal(tmp_path / "wal")
    assert len(_texts(reopened)) == 5 and "unfinished frame" in caplog.text


def test_disk_nearly_full_refuses_before_writing(tmp_path):
    wal = Wal(tmp_path / "wal", min_free_bytes=1 << 62)
    with pytest.raises(Unavailable, match="nearly full"):
        wal.append([_rec(1)])
    assert wal.end == 0


def test_lag_reports_bytes_and_age(tmp_path):
    wal = Wal(tmp_path / "wal")
    assert wal.lag(0) == (0, 0.0)
    end = wal.append([_rec(1)])
    pending, age = wal.lag(0)
    assert pending == end and age >= 0
    assert wal.lag(end) == (0, 0.0)
