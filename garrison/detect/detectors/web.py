"""Web attacks in HTTP requests: SQL injection, XSS, path traversal/LFI, RFI, command injection,
PHP and Java injection (Log4Shell included).

Every part a client controls (path, query, body, cookies, user agent, referer) is decoded first —
URL encoding (repeatedly, as attackers double-encode), HTML entities, \\uXXXX / %uXXXX escapes and
overlong UTF-8 — then matched against Garrison's own signatures, each written as an RE2 pattern so that
hostile input can't make matching slow. A request may belong to several classes.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass

import re2

from garrison.model.patterns import compile_re2, family

CLASSES = ("sqli", "xss", "lfi", "rfi", "rce", "php", "java")
ATTACK = {  # ATT&CK for every class: exploitation of a public-facing application
    c: ("initial-access", "T1190") for c in CLASSES
}

_WEB = family("web")  # garrison/model/patterns/web.yml
_SIGS: dict[str, list[str]] = _WEB["signatures"]
PATTERNS = {c: compile_re2("|".join(f"(?:{p})" for p in pats)) for c, pats in _SIGS.items()}

# Inside base64 a name alone is enough: nobody base64-encodes "ProcessBuilder", a deserialisation gadget's
# class or "<?php" into a form field by accident.
_ENCODED_WORDS: dict[str, tuple[str, ...]] = {c: tuple(ws) for c, ws in _WEB["encoded_words"].items()}


def _base64_forms(word: bytes) -> set[str]:
    """The base64 text that always encodes `word`, whatever bytes surround it: one form for each of the
    three alignments, without the leading and trailing characters that also depend on the neighbours."""
    out = set()
    for shift, cut in ((0, 0), (1, 2), (2, 3)):
        n = shift + len(word)
        enc = base64.b64encode(b"\0" * shift + word).decode().rstrip("=")
        if n % 3:
            enc = enc[:-1]
        if len(enc) - cut >= 6:
            out.add(enc[cut:])
    return out


def _encoded_pattern(words: tuple[str, ...]) -> re2._Regexp:
    variants = {v for w in words for v in (w, w.lower())}
    forms = sorted({f for v in variants for f in _base64_forms(v.encode())}, key=len, reverse=True)
    return compile_re2("|".join(re.escape(f) for f in forms), case_sensitive=True)  # base64 is case-sensitive


ENCODED_PATTERNS = {c: _encoded_pattern(words) for c, words in _ENCODED_WORDS.items()}


def encoded_word(cls: str, found: str) -> str:
    """Which of the class's words a base64 match spells, for the analyst."""
    for w in _ENCODED_WORDS[cls]:
        for v in (w, w.lower()):
            if found in _base64_forms(v.encode()):
                return v
    return found

# Mail protocol commands smuggled through a form field after a line break (SMTP, IMAP and POP3 injection):
# matched on the value with its line breaks kept, which the other views fold into spaces.
MAIL_INJECTION = compile_re2(_WEB["mail_injection"])

_UESC = re.compile(r"(?:\\u|%u)([0-9a-fA-F]{4})")
_HEX = re.compile(r"\\x([0-9a-fA-F]{2})")
# Hex written as text next to a dot or slash, as traversal scanners do: ..0x2f, 0x2e0x2e0x2f
_HEX_TEXT = re.compile(r"0x(2e|2f|5c)(?=[./\\]|0x|$)|(?<=[./\\])0x(2e|2f|5c)", re.I)
_PCT = re.compile(r"(?:%[0-9a-fA-F]{2})+")
_WS = re.compile(r"\s+")
_SPLIT_ENTITY = re.compile(r"&(?:tab|newline|nbsp|zwnj|zwj|shy);", re.I)  # HTML5 names used to split keywords
_JS_COMMENT = re.compile(r"/\*[\s\S]*?\*/")
_LINE_COMMENT = re.compile(r"(?://|#)[^\n\r]*[\r\n]")
_SEVEN_BIT = {c: c - 0x80 for c in range(0xA0, 0x100)}  # IE's US-ASCII quirk: ¼ reads as <
_SQL_COMMENT = re.compile(r"/\*!?\d*|\*/")
_SHELL_NOISE = re.compile(r"(?<=\w)['\"\\^]+(?=\w)|(?<=\w)\$@|\$\{?ifs\}?|\$\(\)|''|\"\"", re.I)
# Characters that IIS and some Java servers fold into a dot or a slash (full-width, division slash, set
# minus, and the private-use forms of %uEFC8 / %uF025 that IIS maps to a slash)
_LOOKALIKE = str.maketrans({"\uff0e": ".", "\u2024": ".", "\uff0f": "/", "\u2215": "/", "\u2044": "/",
                            "\uff3c": "\\", "\u2216": "\\", "\ufe68": "\\", "\uefc8": "/", "\uf025": "/"})
# A path segment of dots (three or more, or two followed by what Windows trims: ?, spaces, NUL)
_DOT_SEGMENT = re.compile(r"(?:^|(?<=[/\\=]))(?:\.{3,}|\.\.[?\s\x00]+)(?=[/\\]|$)|(?:^|(?<=[/\\]))\.{3,}(?=[^./\\])")
_C_ESCAPE = re.compile(r"\\([tnrvf])")
_LINES = re.compile(r"[\r\n]+(?=[ \t]*[a-z./$`({])")  # a break before what may be a command (lower case)
MAX_ROUNDS = 6  # decoding passes: double and triple encodings, mixed with %u and HTML forms


def lenient_utf8(b: bytes) -> str:
    """Bytes as a lax server decodes them: UTF-8 with overlong forms (2 to 6 bytes) accepted, and a C0/C1
    lead taking any second byte (IIS reads %c0%2f and %c1%1c as / and \\). Anything else invalid is U+FFFD."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out: list[str] = []
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            out.append(chr(c))
            i += 1
            continue
        if c in (0xC0, 0xC1) and i + 1 < n:
            c2 = b[i + 1]
            out.append(chr(c2) if c2 in (0x2E, 0x2F, 0x5C) else chr(((c & 1) << 6) | (c2 & 0x3F)))
            i += 2
            continue
        size = 2 if c < 0xE0 else 3 if c < 0xF0 else 4 if c < 0xF8 else 5 if c < 0xFC else 6 if c < 0xFE else 0
        tail = b[i + 1:i + size]
        if size == 0 or len(tail) != size - 1 or any(t & 0xC0 != 0x80 for t in tail) or c < 0xC2 and size == 2:
            out.append("\ufffd")
            i += 1
            continue
        cp = c & (0x7F >> size)
        for t in tail:
            cp = (cp << 6) | (t & 0x3F)
        out.append(chr(cp) if cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF else "\ufffd")
        i += size
    return "".join(out)


def _unquote(s: str) -> str:
    """%XX runs to bytes read leniently, '+' to a space; the text between escapes is left as it is."""
    return _PCT.sub(lambda m: lenient_utf8(bytes.fromhex(m.group().replace("%", ""))), s.replace("+", " "))


def _uchar(m: re.Match[str]) -> str:
    cp = int(m.group(1), 16)
    return "\ufffd" if 0xD800 <= cp <= 0xDFFF else chr(cp)


def decode(value: str, rounds: int = MAX_ROUNDS) -> str:
    """URL (repeatedly, overlong UTF-8 accepted), \\u/%u escapes, look-alike dots and slashes, hex text,
    HTML entities and \\x escapes, until the text stops changing."""
    s = value
    for _ in range(rounds):
        t = _unquote(s) if "%" in s or "+" in s else s
        if "u" in t or "U" in t:
            t = _UESC.sub(_uchar, t)
        if not t.isascii():
            t = t.translate(_LOOKALIKE)
        if "0x" in t or "0X" in t:
            t = _HEX_TEXT.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), t)
        if "&" in t:
            t = _SPLIT_ENTITY.sub("", html.unescape(t))
        if "\\x" in t:
            t = _HEX.sub(lambda m: chr(int(m.group(1), 16)), t)
        if t == s:
            break
        s = t
    return s


@dataclass(frozen=True)
class WebFinding:
    cls: str
    part: str  # which part of the request: path, query, body, cookie, user_agent, referer, header
    sample: str


def views(text: str) -> tuple[str, ...]:
    """The decoded text, and variants with SQL comments and shell quoting noise removed."""
    d = decode(text)
    flat = _WS.sub(" ", d)
    out = [flat]
    if "\\" in d:  # C-style escapes left as text, read as a shell given $'...' would
        esc = _C_ESCAPE.sub(lambda m: ";" if m.group(1) in "nr" else " ", d)
        if esc != d:
            d = esc
            out.append(_WS.sub(" ", _LINES.sub(";", d)))
    if "\n" in d or "\r" in d:  # a line break ends a shell command as ; does
        out.append(_WS.sub(" ", _LINES.sub(";", d)))
    if "..." in d or ".." in d and ("?" in d or " " in d or "\x00" in d):
        dots = _DOT_SEGMENT.sub("../", d).replace("..//", "../")
        if dots != d:
            out.append(dots)
    nc = _SQL_COMMENT.sub(" ", flat)
    if nc != flat:
        out.append(nc)
    sh = _SHELL_NOISE.sub("", d)
    if sh != d:
        out.append(_WS.sub(" ", sh))
    if ("//" in d or "#" in d) and ("\n" in d or "\r" in d):
        out.append(_WS.sub(" ", _LINE_COMMENT.sub(" ", d)))
    if "/*" in flat:
        out.append(_JS_COMMENT.sub("", flat))
    if "\xbc" in flat and "\xbe" in flat and not any("\x80" <= ch <= "\x9f" for ch in flat):
        out.append(flat.translate(_SEVEN_BIT))
    return tuple(out)


# A script sent as an upload: the file name a client gives in an X-Filename-style header.
_UPLOAD_HEADER = re.compile(r"^h:x[-_.]?file[-_.]?name$")
_UPLOADS = {c: compile_re2(p) for c, p in _WEB["upload_names"].items()}


def classify(parts: dict[str, str], classes: tuple[str, ...] = CLASSES) -> list[WebFinding]:
    """The attack classes found in the named parts of one request."""
    found: dict[str, WebFinding] = {}
    for part, text in parts.items():
        if not text:
            continue
        if _UPLOAD_HEADER.match(part):
            for c, rx in _UPLOADS.items():
                if c in classes and c not in found and rx.search(text):
                    found[c] = WebFinding(c, part, f"upload of {text[:200]}")
        for v in views(text):
            for c in classes:
                if c in found:
                    continue
                m = PATTERNS[c].search(v)
                if m is not None:
                    found[c] = WebFinding(c, part, v[max(0, m.start() - 20): m.end() + 20])
        if "rce" in classes and "rce" not in found and ("\n" in text or "\r" in text or "%0" in text):
            d = decode(text)
            m = MAIL_INJECTION.search(d)
            if m is not None:
                found["rce"] = WebFinding("rce", part, d[max(0, m.start() - 20): m.end() + 20])
        for c, rx in ENCODED_PATTERNS.items():
            if c in classes and c not in found:
                m = rx.search(text)
                if m is not None:
                    found[c] = WebFinding(c, part, f"base64 of {encoded_word(c, m.group())!r}: {m.group()}")
    return list(found.values())


TITLES = {"sqli": "SQL injection attempt", "xss": "Cross-site scripting attempt", "lfi": "Path traversal / local file inclusion attempt",
          "rfi": "Remote file inclusion attempt", "rce": "Command injection attempt", "php": "PHP code injection attempt",
          "java": "Java / Log4Shell injection attempt"}
_WEB_FIELDS = (("path", "url.path"), ("query", "url.query"), ("user_agent", "user_agent.original"),
               ("referer", "http.request.referrer"), ("body", "http.request.body.content"))


def level_for(status: object) -> str:
    """An injection the server refused (4xx/5xx) is an attempt that failed: medium. One it answered with
    success, or whose answer the log doesn't give, may have worked: high."""
    return "medium" if isinstance(status, int) and status >= 400 else "high"


def web_attack_stage(batch):  # type: ignore[no-untyped-def]
    """Pipeline stage: a detection per attack class found in each web request of the batch."""
    from garrison.model.detection import Detection

    for ev in batch.events:
        if "url.original" not in ev and "url.path" not in ev:
            continue
        parts = {name: ev[key] for name, key in _WEB_FIELDS if isinstance(ev.get(key), str)}
        for f in classify(parts):
            tactic, technique = ATTACK[f.cls]
            batch.detections.append(Detection(
                rule_id=f"garrison.web.{f.cls}", rule_title=TITLES[f.cls],
                level=level_for(ev.get("http.response.status_code")),
                tags=[f"attack.{tactic}", f"attack.{technique.lower()}", "garrison.web-attack", f"garrison.web.{f.cls}"],
                timestamp=ev.get("@timestamp") or 0, event=ev, kind="detector",
                source_file=ev.get("log.file.path"), source_record=ev.get("log.file.line"),
                extra={"part": f.part, "sample": f.sample[:300]}))
