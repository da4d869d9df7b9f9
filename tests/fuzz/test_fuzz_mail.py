"""Fuzzing the mail decoders: real messages (SpamAssassin, phishing_pot) cut, spliced and corrupted.

Invariant: a message becomes an event with a verdict, or a ParseError naming the reason; nothing else escapes
the parser or the verdict, and the readers of mailboxes and archives always end.
"""

from __future__ import annotations

import io
import tarfile

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
