"""Email messages (RFC 5322 / MIME) into one event each: ECS ``email.*`` plus what the phishing verdict reads.

The record's text is the raw message as Latin-1 (a lossless view of its bytes). Python's ``email`` package
parses it in its modern policy; defects (broken MIME, bad headers, unknown charsets) are kept in
``garrison.mail.defects`` and never stop the parse. A report forwarded to the reporting mailbox
(format ``email_report``) is unwrapped: the attached message is analysed, and the outer sender is the
reporter. Parts, links, text and nesting are bounded.
"""

from __future__ import annotations

import ipaddress
import re
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.parse.mail_files import inspect
from garrison.parse.mail_html import MAX_LINKS, MAX_TEXT, pushed_away, scan_html

MAX_MESSAGE = 50 * 1024 * 1024
MAX_PARTS = 300
MAX_ORIGINAL = 2 * 1024 * 1024  # of a message kept as evidence in event.original (the whole of almost every one)
MAX_HOPS = 40
_PARSER = BytesParser(policy=policy.default)
_URL = re.compile(r"""\b(?:https?://|www\.)[^\s<>"'()\[\]{}]{3,2000}""", re.I)
_SIM_LINK = re.compile(r"/t/[co]/([A-Za-z0-9_-]{22})\b")  # an awareness simulation's tracked link (garrison/awareness)
_AUTH = re.compile(r"\b(spf|dkim|dmarc|arc|compauth)\s*=\s*([a-z]+)", re.I)
_RECEIVED_IP = re.compile(r"[\[(]((?:\d{1,3}\.){3}\d{1,3}|IPv6:[0-9a-f:]+)[\])]", re.I)
_RECEIVED_FROM = re.compile(r"^\s*from\s+(\S+)", re.I)
# The header block an inline forward starts with, in the languages mail clients write it in.
_FORWARD = re.compile(r"^[\s_=*>-]{0,80}(?:-+ ?(?:forwarded message|original message|mensagem encaminhada|weitergeleitete nachricht|message transf\w+) ?-+\s*)?"
                      r"(?:from|de|von|van|da)\s*:\s*(?P<from>[^\n]{1,300}?)\s+(?:sent|enviado|gesendet|date|data|datum|envoy\w*)\s*:", re.I)


def _addr(value: Any) -> tuple[str, str]:
    name, address = parseaddr(str(value or ""))
    return name.strip()[:200], address.strip().lower()[:320]


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip(".>").lower() if "@" in address else ""


def _all(msg: Message, name: str, limit: int = MAX_HOPS) -> list[str]:
    try:
        return [str(v) for v in (msg.get_all(name) or [])[:limit]]
    except Exception:  # the policy's header parser has bugs on hostile values (IndexError in 3.11): read them raw
        return [str(v) for k, v in msg.raw_items() if k.lower() == name.lower()][:limit]


def _header(msg: Message, name: str) -> str:
    values = _all(msg, name, 1)
    return values[0][:4000] if values else ""


def _public(ip: str) -> bool:
    try:
        a = ipaddress.ip_address(ip.removeprefix("IPv6:"))
    except ValueError:
        return False
    return a.is_global


def _received(msg: Message) -> dict[str, Any]:
    hops = _all(msg, "Received")
    ips, first_external = [], None
    for h in hops:
        for ip in _RECEIVED_IP.findall(h):
            ips.append(ip.removeprefix("IPv6:"))
    # Received headers are prepended: the last public address is the one nearest the sender.
    for ip in reversed(ips):
        if _public(ip):
            first_external = ip
            break
    senders = [m.group(1)[:255] for h in hops if (m := _RECEIVED_FROM.match(h))]
    return {"hops": len(hops), "ips": ips[:MAX_HOPS], "origin_ip": first_external, "helo": senders[-1] if senders else None}


def _auth(msg: Message) -> dict[str, str]:
    out: dict[str, str] = {}
    for h in _all(msg, "Authentication-Results", 10) + _all(msg, "ARC-Authentication-Results", 5):
        for method, result in _AUTH.findall(h):
            out.setdefault(method.lower(), result.lower())
    spf = _header(msg, "Received-SPF").split(None, 1)
    if spf and "spf" not in out:
        out["spf"] = spf[0].lower()
    return out


def _text_of(part: Message, defects: list[str]) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, ValueError, AssertionError, KeyError) as e:
        defects.append(f"undecodable text part: {type(e).__name__}")
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("latin-1") if isinstance(payload, bytes) else str(payload)
    return content if isinstance(content, str) else ""


def _bytes_of(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _walk(msg: Message, out: dict[str, Any], scan_images: bool) -> None:
    texts, htmls, attachments, qr_urls = out["texts"], out["htmls"], out["attachments"], out["qr"]
    for n, part in enumerate(msg.walk()):
        if n >= MAX_PARTS:
            out["defects"].append(f"more than {MAX_PARTS} MIME parts: the rest were not read")
            break
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        name = ""
        try:
            name = str(part.get_filename() or "")
        except Exception:
            out["defects"].append("unreadable attachment name")
        if ctype == "text/plain" and disposition != "attachment" and not name:
            texts.append(_text_of(part, out["defects"]))
        elif ctype == "text/html" and disposition != "attachment" and not name:
            htmls.append(_text_of(part, out["defects"]))
        else:
            data = _bytes_of(part)
            if not data and ctype == "message/rfc822":
                continue
            facts = inspect(data, name, ctype, scan_images=scan_images and len(qr_urls) < 5)
            if ctype.startswith("image/") and not name and disposition != "attachment":
                facts["inline"] = True
            if facts["kind"] in ("html", "svg"):
                h = scan_html(data[: MAX_TEXT * 20].decode("utf-8", "replace"))
                facts.update(smuggling=h["smuggling"], password_inputs=h["password_inputs"], script_redirect=h["script_redirect"])
            qr_urls.extend(facts.get("qr", []))
            attachments.append(facts)


def _reported(msg: EmailMessage) -> EmailMessage | None:
    """The message a report carries: a message/rfc822 part, or an attached .eml."""
    for n, part in enumerate(msg.walk()):
        if n > MAX_PARTS:
            break
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                return inner[0]  # type: ignore[no-any-return]
        name = str(part.get_filename() or "").lower() if not part.is_multipart() else ""
        if name.endswith(".eml"):
            data = _bytes_of(part)
            if data:
                return _PARSER.parsebytes(data)  # type: ignore[return-value]
    return None


def _links(html_facts: list[dict[str, Any]], text: str, qr: list[str]) -> list[dict[str, str]]:
    links: list[dict[str, str]] = []
    seen: set[str] = set()
    for h in html_facts:
        for a in h["links"]:
            if a["url"] and a["url"] not in seen and not a["url"].startswith(("#", "mailto:", "tel:", "cid:")):
                seen.add(a["url"])
                links.append({"url": a["url"][:2048], "text": a["text"][:300]})
    for u in _URL.findall(text[:MAX_TEXT]):
        u = u.rstrip(".,;:!?")
        if u not in seen:
            seen.add(u)
            links.append({"url": u, "text": ""})
    for u in qr:
        links.append({"url": u, "text": "", "via": "qr"})
    return links[:MAX_LINKS]


def parse_message(raw: bytes, st: ParseState | None = None, report: bool = False, scan_images: bool = True) -> Event:
    if len(raw) > MAX_MESSAGE:
        raise ParseError(f"message of {len(raw)} bytes is over the {MAX_MESSAGE}-byte limit")
    if not raw.strip():
        raise ParseError("empty message")
    outer = msg = _PARSER.parsebytes(raw)
    if not isinstance(msg, EmailMessage) or not (msg.keys() or msg.get_payload()):
        raise ParseError("not an email message: no headers and no body")
    ev: Event = {"event.kind": "event", "event.category": "email", "event.dataset": "email.message",
                 "event.action": "message-analysed", "event.original": raw[:MAX_ORIGINAL].decode("latin-1")}
    if len(raw) > MAX_ORIGINAL:
        ev["garrison.mail.original_truncated"] = len(raw)
    if report:
        inner = _reported(msg)
        rname, raddr = _addr(_header(outer, "From"))
        ev["email.reporter.address"] = raddr
        if inner is not None:
            msg = inner
        else:
            ev["garrison.mail.inline_forward"] = True
    defects = [type(d).__name__ for d in msg.defects][:20]
    from_name, from_addr = _addr(_header(msg, "From"))
    if not from_addr and _header(msg, "From"):
        defects.append("From header holds no address")
    ev["email.from.address"] = from_addr
    if from_name:
        ev["email.from.name"] = from_name
    if (sender := _addr(_header(msg, "Sender"))[1]):
        ev["email.sender.address"] = sender
    if (reply := _addr(_header(msg, "Reply-To"))[1]):
        ev["email.reply_to.address"] = reply
    if (rp := _addr(_header(msg, "Return-Path"))[1]):
        ev["email.return_path"] = rp
    to = [a.lower()[:320] for _, a in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if a][:100]
    if to:
        ev["email.to.address"] = to
    ev["email.subject"] = _header(msg, "Subject")[:998]
    if (mid := _header(msg, "Message-ID").strip()):
        ev["email.message_id"] = mid[:998]
    if (mailer := _header(msg, "X-Mailer") or _header(msg, "User-Agent")):
        ev["email.x_mailer"] = mailer[:200]
    ev["email.content_type"] = msg.get_content_type()
    try:
        when = parsedate_to_datetime(_header(msg, "Date"))
        if when.tzinfo is None or not 1980 <= when.year <= 2100:
            defects.append("implausible Date")
        else:
            ev["@timestamp"] = int(when.timestamp() * 1_000_000)
            ev["email.origination_timestamp"] = ev["@timestamp"]
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("missing or unreadable Date")
    hops = _received(msg)
    ev["garrison.mail.hops"] = hops["hops"]
    if hops["origin_ip"]:
        ev["source.ip"] = hops["origin_ip"]
    if hops["helo"]:
        ev["garrison.mail.helo"] = hops["helo"]
    ev["garrison.mail.auth"] = _auth(msg)
    for h in ("X-Garrison-Campaign", "X-Garrison-Token"):
        if (v := _header(msg, h)):
            ev["garrison.mail." + h[11:].lower()] = v[:200]
    parts: dict[str, Any] = {"texts": [], "htmls": [], "attachments": [], "qr": [], "defects": defects}
    _walk(msg, parts, scan_images)
    html_facts = [scan_html(h[: MAX_TEXT * 20]) for h in parts["htmls"][:5]]
    plain = " ".join(parts["texts"])[:MAX_TEXT]
    visible = " ".join(h["text"] for h in html_facts)[:MAX_TEXT]
    text = re.sub(r"\s+", " ", plain or visible).strip()[:MAX_TEXT]
    fwd = _FORWARD.match(text[:600])
    if fwd and (inner := _addr(fwd.group("from")))[1] and "@" in inner[1]:
        # an inline forward (a report sent on, or a honeypot's relay): the forwarder reports, the inner sender is judged
        ev["email.reporter.address"] = ev["email.from.address"]
        ev["email.from.address"] = inner[1]
        ev.pop("email.reply_to.address", None)
        if inner[0]:
            ev["email.from.name"] = inner[0]
        ev["garrison.mail.inline_forward"] = True
        ev["garrison.mail.auth"] = {}  # the forwarder's authentication says nothing of the original sender
    ev["garrison.mail.text"] = text
    ev["message"] = (ev["email.subject"] + " | " + text)[:500]
    ev["garrison.mail.html"] = bool(parts["htmls"])
    ev["garrison.mail.plain"] = bool(parts["texts"])
    ev["garrison.mail.links"] = _links(html_facts, plain + " " + visible, parts["qr"])
    if "garrison.mail.token" not in ev:  # a report forwarded inline keeps the simulation's link, not its headers
        for link in ev["garrison.mail.links"]:
            if (t := _SIM_LINK.search(link["url"])):
                ev["garrison.mail.token"] = t.group(1)
                break
    ev["garrison.mail.html_facts"] = {
        "forms": [f for h in html_facts for f in h["forms"]][:20],
        "password_inputs": sum(h["password_inputs"] for h in html_facts),
        "smuggling": any(h["smuggling"] for h in html_facts), "iframes": sum(h["iframes"] for h in html_facts),
        "hidden": sum(h["hidden"] for h in html_facts) + pushed_away(plain), "script_bytes": sum(h["script_bytes"] for h in html_facts),
        "images": sum(len(h["images"]) for h in html_facts), "meta_refresh": any(h["meta_refresh"] for h in html_facts),
    }
    atts = [a for a in parts["attachments"] if not a.get("inline")]
    ev["email.attachments"] = atts[:50]
    ev["garrison.mail.inline_images"] = len(parts["attachments"]) - len(atts)
    ev["garrison.mail.defects"] = parts["defects"][:20]
    ev["garrison.mail.size"] = len(raw)
    return ev


def parse_eml(text: str, st: ParseState) -> Event:
    """A record of format ``eml``: the message's bytes as Latin-1 text."""
    return parse_message(_raw(text), st)


def parse_report(text: str, st: ParseState) -> Event:
    """A record of format ``email_report``: a message sent to the reporting mailbox, carrying the suspect."""
    return parse_message(_raw(text), st, report=True)


def _raw(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")
