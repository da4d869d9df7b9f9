"""Fuzzing every decoder with hypothesis, for a bounded time in ``make test``.

Invariant (issue 15): no exception escapes, every input becomes an event, a reject or a counted skip, and
nothing hangs. Inputs are real lines of each format (the demo day, loghub, Zeek) mutated the way hostile
input is: numbers past 64 bits, far-off times, wrong types, deep nesting, cut and spliced text. Seeds that
once found a bug are kept in ``REGRESSIONS`` and run every time.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from garrison.config import load_config
from garrison.detect.detectors.web import classify, lenient_utf8
from garrison.errors import QueryError
from garrison.model import RawRecord
from garrison.parse import FORMATS, JSON_PARSERS, TEXT_PARSERS
from garrison.pipeline import build_pipeline
from garrison.simulate.demo import write_demo_logs
from garrison.sources.files import Limits, _gunzip_chunks, _lines
from garrison.sources.http import _hec_events, _lines as ndjson_lines
from garrison.sources.syslog import split_frames
from garrison.store.query import compile_query
from garrison.store.wal import Wal, decode_record
from tests.conftest import DATA

EXAMPLES = int(os.environ.get("GARRISON_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)


def _seed_lines() -> dict[str, list[str]]:
    d = Path(tempfile.mkdtemp(prefix="garrison-fuzz-"))
    out: dict[str, list[str]] = {}
    for f in write_demo_logs(d, scale=1):
        out[f.stem] = [ln for ln in f.read_text().splitlines()[:200:7] if ln.strip()]
    for name in ("OpenSSH/OpenSSH_2k.log", "Linux/Linux_2k.log", "Apache/Apache_2k.log", "Windows/Windows_2k.log"):
        p = DATA / "loghub" / name
        if p.exists():
            out[name] = p.read_text(errors="replace").splitlines()[:200:5]
    audit = [x for f in sorted((DATA / "crowdsec-hub" / "tests").glob("auditd*/*.log")) for x in f.read_text().split("\n")]
    audit += (Path(__file__).parents[1] / "cases" / "auditd" / "input.log").read_text().split("\n")
    out["auditd"] = [x for x in audit if x.strip()]
    for p in sorted((DATA / "zeek").glob("*.json.gz"))[:12]:
        with gzip.open(p, "rt") as f:
            out[p.name] = [next(f, "").strip() for _ in range(3)]
    return out


SEEDS = _seed_lines()
TEXT_SEEDS = [ln for k, v in SEEDS.items() for ln in v if not ln.lstrip().startswith("{")]
JSON_SEEDS = [json.loads(ln) for v in SEEDS.values() for ln in v if ln.lstrip().startswith("{")]
HOSTILE_VALUES = st.sampled_from([10**30, -(10**30), 2**63, 1e300, float("inf"), -1, "", "9" * 40, None, True,
                                  ["203.0.113.9"], {"a": {"b": 1}}, "1e300", "9999-12-31T23:59:59Z",
                                  "\x00\ud800", "<svg/onload=alert(1)>", "' OR 1=1 --", [[[[[[[[[1]]]]]]]]]])
# inputs that once found a bug: kept as regression cases
REGRESSIONS = [
    "<134>Nov 28 10:00:00 fw kernel: IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.1 PROTO=TCP SPT=" + "9" * 30 + " DPT=22",
    '{"ts": 1e300, "id.orig_h": "203.0.113.9", "id.resp_h": "10.0.0.1", "proto": "tcp", "uid": "C"}',
    '{"a":' * 1000 + "1" + "}" * 1000,
    '{"timestamp": "2026-11-28T10:00:00Z", "event_type": "alert", "src_ip": ["203.0.113.9"]}',
    '{"createdDateTime": "9999-12-31T23:59:59Z", "userPrincipalName": "a@b", "ipAddress": "203.0.113.9"}',
]


@st.composite
def mutated_text(draw) -> str:
    s = draw(st.sampled_from(TEXT_SEEDS))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "delete", "number", "splice", "repeat"]))
        i = draw(st.integers(0, len(s)))
        if op == "insert":
            s = s[:i] + draw(st.text(max_size=12)) + s[i:]
        elif op == "delete":
            s = s[:i] + s[i + draw(st.integers(1, 20)):]
        elif op == "number":
            s = s[:i] + draw(st.sampled_from(["9" * 30, "-1", "1e300", "99999", "0x7fffffff"])) + s[i:]
        elif op == "splice":
            other = draw(st.sampled_from(TEXT_SEEDS))
            s = s[:i] + other[draw(st.integers(0, len(other))):]
        else:
            s = s[:i] + s[i:i + 30] * draw(st.integers(2, 50)) + s[i + 30:]
    return s


def _poke(obj, draw) -> None:
    """Replace one value somewhere in a JSON object with a hostile one."""
    cur = obj
    for _ in range(draw(st.integers(0, 3))):
        if not isinstance(cur, dict) or not cur:
            break
        k = draw(st.sampled_from(sorted(cur)))
        if isinstance(cur[k], dict) and cur[k]:
            cur = cur[k]
        else:
            break
    if isinstance(cur, dict) and cur:
        cur[draw(st.sampled_from(sorted(cur)))] = copy.deepcopy(draw(HOSTILE_VALUES))


@st.composite
def mutated_json(draw) -> str:
    obj = json.loads(json.dumps(draw(st.sampled_from(JSON_SEEDS))))
    for _ in range(draw(st.integers(1, 4))):
        _poke(obj, draw)
    return json.dumps(obj, allow_nan=True)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return build_pipeline(load_config(None, data_dir=str(tmp_path_factory.mktemp("fuzz"))))


def _check(pipeline, records) -> None:
    before = pipeline.counters.skipped + pipeline.counters.joined
    b = pipeline.process(records)
    assert len(b.events) + len(b.rejects) + pipeline.counters.skipped + pipeline.counters.joined - before == len(records)
    for r in b.rejects:
        assert r.reason and r.source


def test_regression_seeds(pipeline):
    for fmt in (None, "syslog", "json"):
        _check(pipeline, [RawRecord(text=t, source="seed", position=i, format=fmt) for i, t in enumerate(REGRESSIONS)])


@FUZZ
@given(text=mutated_text(), fmt=st.sampled_from([None, *TEXT_PARSERS]))
def test_text_parsers(pipeline, text, fmt):
    _check(pipeline, [RawRecord(text=text, source=f"fuzz-{fmt}", position=1, format=fmt)])


@FUZZ
@given(text=mutated_json(), fmt=st.sampled_from(["json", *JSON_PARSERS]))
def test_json_parsers(pipeline, text, fmt):
    obj = json.loads(text)
    _check(pipeline, [RawRecord(text=text, source="fuzz-json", position=1, format=fmt),
                      RawRecord(text=text, obj=obj, source="fuzz-obj", position=2, format=fmt)])


@FUZZ
@given(q=st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ["(", ")", "NOT", "AND", "OR", "-", '"', "\\", "*", "?", "a:b", "x>=1", "f:[1 TO *]", "user.name:", "[", "]",
     "source.port<", "\"q\\\"", "url.path:/wp-*", ":", "@timestamp>=2026"]), max_size=40).map(" ".join)))
def test_search_language(q):
    try:
        sql, params = compile_query(q)
    except QueryError as e:
        assert 0 <= e.position <= max(len(q), 80)
        return
    assert isinstance(sql, str) and sql.count("?") == len(params)


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), st.lists(st.one_of(mutated_json(), st.text(max_size=40)),
                                                        max_size=5).map(lambda xs: "".join(
                                                            json.dumps({"event": x, "time": 1}) for x in xs).encode())))
def test_hec_and_ndjson_decoders(body):
    try:
        recs = _hec_events(body.decode("utf-8"), "hec:t", "o")
        assert all(r.source == "hec:t" for r in recs)
    except (ValueError, UnicodeDecodeError):
        pass
    recs = ndjson_lines(body, "http:t", None, "o", "http", 64)
    assert all(r.text is not None for r in recs)


@FUZZ
@given(data=st.binary(max_size=2000), cut=st.integers(0, 2000))
def test_wal_reader(data, cut):
    with tempfile.TemporaryDirectory() as d:
        wal = Wal(d)
        from garrison.store.wal import encode_record

        wal.append([encode_record(RawRecord(text=f"r{i}", source="s")) for i in range(3)])
        wal.close()
        seg = next(Path(d).glob("seg-*"))
        good = seg.read_bytes()
        seg.write_bytes(good[:cut] + data + good[cut:])  # garbage anywhere in the log
        wal = Wal(d)
        for payload, _ in wal.read(0, wal.synced, 10_000):
            if payload:
                try:
                    decode_record(payload)
                except ValueError:
                    pass
        wal.close()


@FUZZ
@given(chunks=st.lists(st.binary(max_size=200), max_size=8))
def test_syslog_framing(chunks):
    buf = bytearray()
    for c in chunks:
        buf += c
        frames, err = split_frames(buf, 256)
        assert all(len(f) <= max(256, 1024 * 1024) for f in frames)
        if err:
            buf.clear()
        assert len(buf) <= 256 + 200 + 12


@FUZZ
@given(chunks=st.lists(st.binary(max_size=300), max_size=6), gz=st.booleans())
def test_file_reader(chunks, gz):
    limits = Limits(max_line=128, max_decompressed=10_000, max_ratio=50)
    stream = iter(chunks)
    if gz:
        import io

        stream = _gunzip_chunks(io.BytesIO(b"".join(chunks)), limits)
    for r in _lines(stream, "f", None, 128):
        assert r.source == "f"


def test_every_format_is_fuzzed():
    assert set(FORMATS) - {"evtx"} <= {*TEXT_PARSERS, *JSON_PARSERS, "json"}


@FUZZ
@given(lines=st.lists(st.binary(max_size=40), max_size=20), tail=st.binary(max_size=64), cut=st.integers(0, 600))
def test_gzip_reader_always_ends(lines, tail, cut):
    """Any gzip data, with anything after it, cut anywhere: the reader ends, with a prefix of the text."""
    import gzip
    import io

    from garrison.sources.files import Truncated

    body = b"\n".join(lines)
    data = (gzip.compress(body) + tail)[:cut or None]
    out = b""
    try:
        for chunk in _gunzip_chunks(io.BytesIO(data), Limits(max_line=128, max_decompressed=1 << 20, max_ratio=50)):
            out += chunk
    except Truncated:
        pass
    assert body.startswith(out) or out.startswith(body)


@FUZZ
@given(members=st.lists(st.tuples(st.sampled_from(["a.log", "b.json", "c.log.gz", "d.evtx"]), st.binary(max_size=300)),
                        max_size=4), cut=st.integers(0, 12_000), gz=st.booleans())
def test_tar_reader_always_ends(tmp_path_factory, members, cut, gz):
    import io
    import tarfile

    from garrison.model import RawRecord, Reject
    from garrison.sources.files import read_file

    p = tmp_path_factory.mktemp("tar") / ("x.tar.gz" if gz else "x.tar")
    with tarfile.open(p, "w:gz" if gz else "w") as tf:
        for name, body in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(body)
            tf.addfile(ti, io.BytesIO(body))
    p.write_bytes(p.read_bytes()[:cut or None])
    assert all(isinstance(r, (RawRecord, Reject)) for r in read_file(p))


@FUZZ
@given(raw=st.binary(max_size=200), text=st.text(max_size=200),
       pieces=st.lists(st.sampled_from(["%", "%c0", "%ae", "%u", "2216", "0x2e", "0x", "..", "/", "\\x0", "&#", "%25",
                                        "+", "\n", "\\t", "$IFS", ";"]), max_size=30))
def test_web_decoder(raw, text, pieces):
    """Any bytes read leniently are text; any value (mixed escapes included) is classified without an error."""
    assert isinstance(lenient_utf8(raw), str)
    for v in (text, "".join(pieces), raw.decode("latin-1")):
        assert isinstance(classify({"query": v, "path": v}), list)


@FUZZ
@given(lines=st.lists(mutated_text(), min_size=1, max_size=12), serial=st.booleans())
def test_audit_records_grouped(pipeline, lines, serial):
    """Mutated audit records in a row (one serial, or as they come): every record is an event, a reject,
    or joined to the record before it."""
    if serial:
        lines = [re.sub(r"audit\([^)]*\)", "audit(1764500000.101:7001)", x) for x in lines]
    _check(pipeline, [RawRecord(text=x, source="fuzz/audit", position=i) for i, x in enumerate(lines)])
