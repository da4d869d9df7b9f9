"""Threat-intelligence matches: an event's addresses, domains, URLs or file hashes on an indicator list."""

from __future__ import annotations

import re

from garrison.detect.intel import IntelIndex
from garrison.model.batch import Batch
from garrison.model.detection import Detection

_IPS = ("source.ip", "destination.ip")
_DOMAINS = ("url.domain", "dns.question.name", "destination.domain", "source.domain")
_SENDERS = ("email.from.address", "email.sender.address")
_HASH_KV = re.compile(r"(?:MD5|SHA1|SHA256)=([0-9A-Fa-f]{32,64})")


class IntelStage:
    def __init__(self, index: IntelIndex):
        self.index = index

    def __call__(self, batch: Batch) -> None:
        idx = self.index
        for ev in batch.events:
            hit = None
            for f in _IPS:
                v = ev.get(f)
                if isinstance(v, str) and (ind := idx.ip(v)):
                    hit = (f, v, ind)
                    break
            if hit is None:
                for f in _DOMAINS:
                    v = ev.get(f)
                    if isinstance(v, str) and (ind := idx.domain(v)):
                        hit = (f, v, ind)
                        break
            if hit is None:
                for f in _SENDERS:
                    v = ev.get(f)
                    if isinstance(v, str) and "@" in v and (ind := idx.domain(v.rsplit("@", 1)[1])):
                        hit = (f, v, ind)
                        break
            if hit is None and isinstance(ev.get("url.original"), str):
                u = ev["url.original"]
                if ind := idx.get("url", u):
                    hit = ("url.original", u, ind)
            if hit is None:
                hashes = ev.get("winlog.event_data.Hashes") or ev.get("process.hash.sha256") or ev.get("file.hash.sha256")
                if isinstance(hashes, str):
                    for h in _HASH_KV.findall(hashes) or [hashes]:
                        if ind := idx.get("hash", h):
                            hit = ("hash", h, ind)
                            break
            if hit is None:
                continue
            f, v, ind = hit
            batch.detections.append(Detection(
                rule_id=f"garrison.intel.{ind.type}", rule_title=f"Threat-intelligence match: {ind.type} on {ind.source}",
                level=ind.trust if ind.trust in ("medium", "low") else "high", tags=(["attack.initial-access", "attack.t1566", "garrison.threat-intel"] if f in _SENDERS
                                    else ["attack.command-and-control", "garrison.threat-intel"]),
                timestamp=ev.get("@timestamp") or 0, event=ev, kind="detector", source_file=ev.get("log.file.path"),
                source_record=ev.get("log.file.line"),
                extra={"indicator": ind.value, "indicator_source": ind.source, "field": f, "description": ind.description}))
