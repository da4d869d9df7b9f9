"""Fuzzing what a worker reads from the bus: message bodies and their partition keys.

Invariant: every line of a message becomes a record (with its id and partition) or a reject naming the
message and the line; nothing raises, nothing is dropped, and a record survives the round trip unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from garrison.model import RawRecord, Reject
from garrison.store.bus import decode_message, partition_of, subject_org
from garrison.store.wal import encode_record
from tests.fuzz.test_fuzz import FUZZ

JSONISH = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                       max_leaves=12)
RECORD = st.builds(RawRecord, text=st.none() | st.text(max_size=200), source=st.text(min_size=1, max_size=30),
                   position=st.none() | st.integers(0, 2**40), format=st.none() | st.sampled_from(["syslog", "json"]),
                   obj=st.none() | st.dictionaries(st.text(max_size=8), JSONISH, max_size=4),
                   meta=st.dictionaries(st.sampled_from(["org", "input", "host"]), st.text(max_size=10), max_size=3))


@FUZZ
@given(st.lists(RECORD | st.binary(max_size=300), max_size=8), st.integers(0, 63))
def test_every_line_of_a_message_is_a_record_or_a_named_reject(items, partition):
    lines = [encode_record(x) if isinstance(x, RawRecord) else x.replace(b"\n", b" ") for x in items] or [b""]
    out = decode_message(b"\n".join(lines), "node:abc", "garrison.records.default.3", partition)
    assert len(out) == len(lines)
    for i, (item, got) in enumerate(zip(items, out)):
        if isinstance(got, Reject):
            assert got.reason.startswith(f"message node:abc, record {i}:") and got.position == i + 1
        else:
            assert got.meta["record_id"] == f"node:abc:{i}" and got.meta["partition"] == partition
            if isinstance(item, RawRecord):  # an object JSON can't carry travels as its text (as in the WAL)
                assert (got.source, got.format) == (item.source, item.format)
                assert got.text == item.text or (item.text is None and got.obj is None)


@FUZZ
@given(st.text(max_size=80), st.binary(max_size=3000), st.text(max_size=40), st.integers(1, 256),
       st.none() | st.binary(max_size=60))
def test_partition_and_subject_are_always_valid(org, payload, source, partitions, key):
    assert 0 <= partition_of(org, payload, source, partitions, key) < partitions
    token = subject_org(org)
    assert token and not any(c in token for c in ". *>\t\r\n") and len(token) <= 57
