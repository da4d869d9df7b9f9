"""Issue 17, item 2: attacks hidden by encodings are found; ordinary values are not flagged.

The cases are generated the way traversal and injection scanners generate them (every dot encoding with every
slash encoding; every command separator with every whitespace escape and plain utilities), against a neutral
target, so that only the traversal or the injection itself can be what is found.
"""

from __future__ import annotations

from itertools import product

import pytest

from garrison.detect.detectors.web import classify, decode, lenient_utf8

DOTS = ["..", "%2e%2e", "%2E%2E", "%252e%252e", "0x2e0x2e", "%c0%ae%c0%ae", "%c0%2e%c0%2e", "%e0%80%ae%e0%80%ae",
        "%f0%80%80%ae%f0%80%80%ae", "%f8%80%80%80%ae%f8%80%80%80%ae", "%fc%80%80%80%80%ae%fc%80%80%80%80%ae",
        "%uff0e%uff0e", "%u002e%u002e", "%25c0%25ae%25c0%25ae", "%%32%65%%32%65", "...", "....", "..%3f", "..%20",
        ".%2e", "%2e."]
SLASHES = ["/", "\\", "%2f", "%5c", "%252f", "%255c", "0x2f", "0x5c", "%c0%af", "%c0%2f", "%c0%5c", "%c1%9c",
           "%c1%1c", "%e0%80%af", "%f0%80%80%af", "%f8%80%80%80%af", "%fc%80%80%80%80%af", "%u2215", "%u2216",
           "%uefc8", "%uf025", "%%32%66", "%%35%63", "%25c0%25af", "%uff0f"]
SEPARATORS = [(";", ""), ("|", ""), ("||", ""), ("&&", ""), ("&", ""), ("%0a", ""), ("%0d%0a", ""), ("`", "`"),
              ("$(", ")"), ("%3b", ""), ("%7c", ""), ("\n", "")]
SPACES = ["%20", "+", "%09", "\\x09", "\\x0b", "%0b", "${IFS}", "\t", "\\t", "$IFS"]
UTILITIES = ["rm -rf data", "echo -en abc", "ping -n 3 127.0.0.1", "ping -c 3 127.0.0.1", "cat data/report.txt", "id",
             "sleep 5", "nslookup example.org", "uname -a", "whoami", "ls -la", "wget example.org/x"]


def _missed(cls: str, cases: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(part, v) for part, v in cases if cls not in {f.cls for f in classify({part: v})}]


def test_every_traversal_encoding_is_found():
    cases = [(part, prefix + (d + s) * 3 + "data/report.txt")
             for d, s in product(DOTS, SLASHES) for part, prefix in (("query", "file="), ("path", "/download/"))]
    assert len(cases) == 1050
    assert _missed("lfi", cases) == []


def test_every_command_separator_and_whitespace_escape_is_found():
    cases = [("query", "name=alice" + sep + u.replace(" ", ws) + close)
             for (sep, close), ws, u in product(SEPARATORS, SPACES, UTILITIES)]
    assert len(cases) == 1440
    assert _missed("rce", cases) == []


@pytest.mark.parametrize("raw, text", [
    ("%c0%ae", "."), ("%e0%80%af", "/"), ("%f8%80%80%80%af", "/"), ("%fc%80%80%80%80%ae", "."), ("%c1%9c", "\\"),
    ("%c1%1c", "\\"), ("%u2216", "\\"), ("%uefc8", "/"), ("0x2e0x2e0x2f", "../"), ("%252e%252e%252f", "../"),
    ("%%32%66", "/"), ("é%2e", "é."), ("caf%C3%A9", "café"), ("%ud800", "\ufffd"), ("%ff%fe", "\ufffd\ufffd"),
])
def test_decoding(raw, text):
    assert decode(raw) == text


@pytest.mark.parametrize("value", [
    "file=data/report.txt", "v=1.2.3", "q=Loading...", "next=%2Faccount%2Fsettings", "name=Ren%C3%A9e", "id=0x2e5f",
    "title=Wait... what?", "q=ping pong", "comment=Go to the store.%0AAt the store, shop.", "path=/a/b/c.txt",
    "price=0x20", "q=rm", "q=echo", "msg=line one%0d%0aLine two",
])
def test_ordinary_values_are_not_flagged(value):
    assert classify({"query": value}) == []


def test_lenient_utf8_never_fails_on_any_byte_pair():
    for a, b in product(range(256), range(0, 256, 7)):
        assert isinstance(lenient_utf8(bytes([a, b, 0x80, 0x80, 0x80, 0x80])), str)
