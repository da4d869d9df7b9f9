"""Fuzzing the mail decoders: real messages (SpamAssassin, phishing_pot) cut, spliced and corrupted.

Invariant: a message becomes an event with a verdict, or a ParseError naming the reason; nothing else escapes
the parser or the verdict, and the readers of mailboxes and archives always end.
"""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from garrison.detect.detectors import phish, phish_model
from garrison.errors import ParseError
from garrison.parse.mail import parse_message
from garrison.sources.mail import read_messages
from tests.conftest import DATA
from tests.fuzz.test_fuzz import FUZZ


def _seeds() -> list[bytes]:
    out = []
    for name, step in (("spamassassin/spam-2.tar.gz", 60), ("spamassassin/hard-ham-1.tar.gz", 25),
                       ("phishing_pot/samples-0001-2000.tar.gz", 100)):
        with tarfile.open(DATA / "email" / name) as tf:
            members = [m for m in tf if m.isfile()][::step]
            out += [tf.extractfile(m).read()[:200_000] for m in members]
    return out


SEEDS = _seeds()
RULES = phish.Rules.load(("northshire.gov.uk",))
MODEL = phish_model.load()
HOSTILE = [b"\r\n\r\n", b"Content-Type: multipart/mixed; boundary=\"\"\r\n", b"=?utf-8?B?////?=", b"--\r\n",
           b"Content-Transfer-Encoding: base64\r\n\r\n!!!", b"\x00\xff\xfe", b"<a href='javascript:", b"From: <<<@@>>>\r\n",
           b"Content-Type: message/rfc822\r\n\r\n", b"Received: from [" + b"9" * 300 + b"]\r\n", b"PK\x03\x04" + b"\x00" * 30]


@st.composite
def mutated(draw) -> bytes:
    s = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(s)))
        op = draw(st.sampled_from(["insert", "delete", "splice", "hostile", "repeat"]))
        if op == "insert":
            s = s[:i] + draw(st.binary(max_size=40)) + s[i:]
        elif op == "delete":
            s = s[:i] + s[i + draw(st.integers(1, 400)):]
        elif op == "splice":
            other = draw(st.sampled_from(SEEDS))
            s = s[:i] + other[draw(st.integers(0, len(other))):]
        elif op == "hostile":
            s = s[:i] + draw(st.sampled_from(HOSTILE)) + s[i:]
        else:
            s = s[:i] + s[i:i + 50] * draw(st.integers(2, 200)) + s[i + 50:]
    return s


@FUZZ
@given(raw=mutated(), report=st.booleans())
def test_message_parser_and_verdict(raw, report):
    try:
        ev = parse_message(raw, report=report)
    except ParseError as e:
        assert str(e)
        return
    v = phish.judge(ev, RULES, MODEL)
    assert v.verdict in ("phishing", "spam", "legitimate", "simulation") and v.reasons


@FUZZ
@given(data=st.binary(max_size=3000), seed=st.sampled_from(SEEDS[:5]), cut=st.integers(0, 5000), kind=st.sampled_from(["mbox", "tar", "msg"]))
def test_mailbox_readers_end(tmp_path_factory, data, seed, cut, kind):
    d = tmp_path_factory.mktemp("mailfuzz")
    if kind == "mbox":
        blob = b"From x@y Mon Jan  1 00:00:00 2024\n" + seed[:cut] + b"\n\nFrom " + data
    elif kind == "tar":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            info = tarfile.TarInfo("a.eml")
            info.size = len(seed)
            tf.addfile(info, io.BytesIO(seed))
        blob = buf.getvalue()[:cut] + data
    else:
        blob = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + data
    path = d / f"box.{ {'mbox': 'mbox', 'tar': 'tar.gz', 'msg': 'msg'}[kind] }"
    path.write_bytes(blob)
    for item in read_messages([path]):
        assert item.source


def test_seeds_present():
    assert len(SEEDS) >= 40


def _postfix_seeds() -> list[str]:
    from tests.e2e.test_reported_phish import _postfix_log

    lines = _postfix_log().splitlines()
    p = DATA / "fail2ban" / "logs" / "postfix"
    if p.exists():
        lines += [x for x in p.read_text(errors="replace").splitlines() if x and not x.startswith("#")][:80]
    return lines


POSTFIX = _postfix_seeds()
PRINTABLE = st.text(max_size=30, alphabet=st.characters(min_codepoint=32, max_codepoint=126))


@FUZZ
@given(lines=st.lists(st.sampled_from(POSTFIX), min_size=1, max_size=8), cut=st.integers(0, 200), junk=st.text(max_size=30))
def test_postfix_queue_joining(lines, cut, junk):
    """Mail-log lines cut and spliced: every one parses or is refused with a reason; the queue memory stays bounded."""
    from garrison.errors import ParseError as PE
    from garrison.model import RawRecord
    from garrison.parse import ParseState, parse_record

    st_ = ParseState("fuzz")
    for i, line in enumerate(lines):
        text = line[:cut] + junk + line[cut:] if i % 2 else line
        try:
            parse_record(RawRecord(text, "fuzz", i, format="syslog"), st_)
        except PE as e:
            assert str(e)
    assert len(st_.extra.get("postfix_queue", {})) <= 50_001


@FUZZ
@given(row=st.fixed_dictionaries({}, optional={
    "TimeGenerated": st.sampled_from(["2026-12-01T09:00:00Z", "", "9999-99-99", 5]), "NetworkMessageId": st.text(max_size=8),
    "RecipientEmailAddress": st.one_of(st.text(max_size=20), st.integers(), st.none()), "SenderFromAddress": st.text(max_size=20),
    "SenderIPv4": st.sampled_from(["203.0.113.9", "::1", "x", ""]), "Url": st.text(max_size=30), "AccountUpn": st.text(max_size=10),
    "Type": st.sampled_from(["EmailEvents", "UrlClickEvents"])}))
def test_defender_mail_rows(row):
    import json as std_json  # writes integers past 64 bits, as hostile input may hold them

    from garrison.errors import InputError as IE
    from garrison.model import RawRecord
    from garrison.parse import ParseState, parse_record

    try:
        parse_record(RawRecord(std_json.dumps(row), "fuzz", 1, format="sentinel"), ParseState("fuzz"))
    except IE as e:
        assert str(e)


@FUZZ
@given(token=st.text(max_size=40), form=st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=6),
       headers=st.dictionaries(st.sampled_from(["user-agent", "x-forwarded-for", "purpose"]), PRINTABLE, max_size=3))
def test_simulation_pages_never_fail(awareness_app, token, form, headers):
    """Hostile tokens, forms and headers on the pages staff reach without an account: never a server error."""
    from urllib.parse import quote

    t = quote(token, safe="")
    for method, path in (("GET", f"/t/c/{t}"), ("GET", f"/t/o/{t}.gif"), ("POST", f"/t/b/{t}"), ("POST", f"/t/s/{t}?js=1"),
                         ("GET", f"/training/{t}"), ("POST", f"/training/{t}")):
        r = awareness_app.request(method, path, data=form if method == "POST" else None, headers=headers)
        assert r.status_code < 500, (method, path, r.status_code)


@pytest.fixture(scope="module")
def awareness_app(tmp_path_factory):
    from fastapi.testclient import TestClient

    from garrison.awareness import campaigns, training
    from garrison.config import load_config
    from garrison.store import open_state
    from garrison.web.app import create_app

    d = tmp_path_factory.mktemp("aw")
    cfg = load_config(None, data_dir=str(d), awareness={"trusted_proxies": ["testclient"]})
    engine = open_state(d)
    campaigns.create(engine, cfg, "fuzz", "invoice", [campaigns.Target("a@council.example", "A", "X")], "test")
    training.assign(engine, cfg, [{"email": "a@council.example"}], "phishing", "fuzz", "test")
    return TestClient(create_app(cfg, engine, lambda r: 0))


@FUZZ
@given(sizes=st.lists(st.one_of(st.binary(max_size=60), st.tuples(st.binary(max_size=40), st.binary(max_size=200))), max_size=5),
       bodies=st.lists(st.one_of(st.binary(max_size=60), st.tuples(st.binary(max_size=40), st.binary(max_size=300))), max_size=3),
       ok=st.booleans())
def test_imap_fetch_answers(tmp_path_factory, sizes, bodies, ok):
    """Whatever an IMAP server answers to FETCH, the mailbox hands on one record per UID (or its reason) and a checkpoint."""
    from garrison.config import load_config
    from garrison.sources.imap import ReportingMailbox

    class Conn:
        def uid(self, cmd, uids, what):
            return ("OK" if ok else "NO"), (sizes if "SIZE" in what else bodies)

    got: list = []
    cfg = load_config(None, data_dir=str(tmp_path_factory.mktemp("imap")), reporting={"host": "127.0.0.1", "max_message_bytes": 100})
    box = ReportingMailbox(cfg, got.extend)
    assert box._page(Conn(), [3, 7]) == 2
    assert [r.position for r in got[:-1]] == [3, 7] and got[-1].meta["checkpoint"] == 7
