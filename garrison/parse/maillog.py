"""Postfix's mail log: who sent what to whom, joined across a message's lines by its queue id.

A message shows up in several lines of different daemons, all carrying its queue id:

    smtpd:   4Bq2Xk1Vz: client=mail.example.net[203.0.113.9]
    cleanup: 4Bq2Xk1Vz: message-id=<abc@example.net>
    cleanup: 4Bq2Xk1Vz: warning: header Subject: Invoice 2291 from mail.example.net[...]; from=<a@b> to=<c@d> ...
    qmgr:    4Bq2Xk1Vz: from=<billing@example.net>, size=4012, nrcpt=3 (queue active)
    smtp/lmtp/local/virtual: 4Bq2Xk1Vz: to=<jo@council.example>, relay=..., dsn=2.0.0, status=sent (...)

Each delivery line becomes an event with the sender, recipient, message id, subject (when header_checks log it)
and client address remembered from the earlier lines (``ParseState.extra``, bounded). The campaign finder of a
reported phish searches these. Other postfix lines (SASL failures, rejects) go on to the service patterns.
"""

from __future__ import annotations

import re
from typing import Any

from garrison.model import Event
from garrison.parse import services
from garrison.parse._state import ParseState
from garrison.parse.util import clean_ip

MAX_QUEUE = 50_000  # messages remembered per stream; the oldest are forgotten first
_QID = re.compile(r"^([0-9A-F]{6,15}|[0-9B-DF-HJ-NP-TV-Zb-df-hj-np-tv-z]{10,20}): (.*)$", re.S)
_KV = re.compile(r"\b(from|to|orig_to|message-id|client|relay|status|size|nrcpt|dsn)=(<[^>]*>|[^,\s]+)")
_SUBJECT = re.compile(r"header Subject: (.{0,998}?) from \S+; from=<([^>]*)>")
_STATUS = {"sent": ("delivered", "success"), "bounced": ("bounced", "failure"), "deferred": ("deferred", "failure"),
           "expired": ("expired", "failure")}


def _queue(st: ParseState) -> dict[str, dict[str, Any]]:
    q: dict[str, dict[str, Any]] = st.extra.setdefault("postfix_queue", {})
    if len(q) > MAX_QUEUE:
        for k in list(q)[: len(q) - MAX_QUEUE]:
            del q[k]
    return q


def parse_postfix(msg: str, ev: Event, st: ParseState) -> None:
    ev["event.dataset"] = "postfix"
    m = _QID.match(msg)
    if m is None:
        services.classify_auth(msg, ev)  # NOQUEUE rejects, SASL failures, connects
        return
    qid, rest = m.group(1), m.group(2)
    known = _queue(st).setdefault(qid, {})
    kv = {k: v.strip("<>") for k, v in _KV.findall(rest)}
    ev["garrison.mail.queue_id"] = qid
    if (s := _SUBJECT.search(rest)):
        known["subject"] = s.group(1)
    if "message-id" in kv:
        known["message_id"] = "<" + kv["message-id"] + ">" if kv["message-id"] else ""
    if "client" in kv and (ip := re.search(r"\[([0-9a-fA-F.:]+)\]", kv["client"])):
        known["client"] = clean_ip(ip.group(1))
    if "from" in kv and "to" not in kv:
        known["from"] = kv["from"].lower()
    if "to" in kv and "status" in kv:
        action, outcome = _STATUS.get(kv["status"], (kv["status"], "unknown"))
        ev.update({"event.category": "email", "event.action": action, "event.outcome": outcome,
                   "email.to.address": kv["to"].lower(), "email.direction": "inbound"})
        for key, field in (("from", "email.from.address"), ("message_id", "email.message_id"), ("subject", "email.subject")):
            if known.get(key):
                ev[field] = known[key]
        if known.get("client"):
            ev["source.ip"] = known["client"]
        ev["user.name"] = kv["to"].lower()
    elif "removed" in rest:
        _queue(st).pop(qid, None)
    else:
        services.classify_auth(msg, ev)
