"""Mail analysis (``garrison mail analyze``, the console's upload, the reporting mailbox): messages through the
same parse, enrich and phishing stages the live service runs, with nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from garrison.config import Config
from garrison.errors import GarrisonError
from garrison.model import Event, Reject
from garrison.pipeline.components import build_stages, make_deps
from garrison.pipeline.pipeline import Pipeline, build_pipeline
from garrison.pipeline.runner import _batches
from garrison.sources.files import Limits
from garrison.sources.mail import read_messages
from garrison.store.events import EventStore
from garrison.store.search import events_by_id
from garrison.triage.campaign import find as find_campaign
from garrison.triage.cases import comment, get_incident

BATCH = 200


def analyzer(config: Config) -> Pipeline:
    deps = make_deps(config, None)
    return build_pipeline(config, build_stages(config, deps, ["phish"]), deps)


def analyze(config: Config, paths: Iterable[str | Path], report: bool = False,
            progress: Callable[[int], None] | None = None) -> Iterator[Event | Reject]:
    """Each message's analysed event (with its verdict), or the reason it could not be read; batch by batch."""
    pipe = analyzer(config)
    i = config.ingest
    for records in _batches(read_messages(paths, Limits(i.max_line_bytes, i.max_decompressed_bytes, i.max_compression_ratio),
                                          report=report), BATCH):
        batch = pipe.process(records)
        yield from batch.events
        yield from batch.rejects
        if progress is not None:
            progress(len(records))


def analyze_bytes(config: Config, raw: bytes, source: str, report: bool = False) -> Event | Reject:
    """One message, as the console's upload gives it."""
    from garrison.sources.mail import record

    rec = record(raw, source, 1, report)
    batch = analyzer(config).process([rec])
    return batch.events[0] if batch.events else batch.rejects[0]


def summary(item: Event | Reject) -> dict[str, Any]:
    """What `--json` prints for one message: the verdict, its reasons, and the indicators to act on."""
    if isinstance(item, Reject):
        return {"source": item.source, "verdict": "unreadable", "score": None, "reasons": [item.reason]}
    ev = item
    links = ev.get("garrison.mail.links") or []
    return {
        "source": ev.get("log.file.path"), "verdict": ev.get("garrison.mail.verdict"), "score": ev.get("garrison.mail.score"),
        "spam_probability": ev.get("garrison.mail.spam_probability"), "reasons": ev.get("garrison.mail.reasons") or [],
        "signals": ev.get("garrison.mail.signals") or [], "from": ev.get("email.from.address"),
        "from_name": ev.get("email.from.name"), "reply_to": ev.get("email.reply_to.address"), "subject": ev.get("email.subject"),
        "message_id": ev.get("email.message_id"), "reporter": ev.get("email.reporter.address"), "source_ip": ev.get("source.ip"),
        "urls": [link["url"] for link in links][:50],
        "attachments": [{"name": a.get("file.name"), "sha256": a.get("file.hash.sha256"), "kind": a.get("kind")}
                        for a in ev.get("email.attachments") or []],
        "auth": ev.get("garrison.mail.auth") or {}, "defects": ev.get("garrison.mail.defects") or [],
    }


# -- an incident's reported message: its campaign, and the actions on it -------------------------------------
MAIL_RULES = ("garrison.mail.phishing", "garrison.mail.spam")


def incident_message(store: EventStore, engine: Engine, iid: int) -> Event:
    """The analysed message behind a phishing incident (its most recent report)."""
    inc = get_incident(engine, iid)
    dets = [d for d in inc["detections"] if d["rule_id"] in MAIL_RULES and d.get("event_id") is not None]
    if not dets:
        raise GarrisonError(f"incident #{iid} holds no analysed email (its detections are not reported phishing)")
    d = dets[-1]
    found = events_by_id(store, [int(d["event_id"])])
    if not found:
        raise GarrisonError(f"incident #{iid}: the reported message (event {d['event_id']}) is no longer in the store")
    return next(iter(found.values()))


def incident_campaign(config: Config, store: EventStore, engine: Engine, iid: int, days: int = 30) -> dict[str, Any]:
    ev = incident_message(store, engine, iid)
    c = find_campaign(store, ev, days)
    return {"incident": iid, "verdict": ev.get("garrison.mail.verdict"), "reasons": ev.get("garrison.mail.reasons") or [],
            "text": str(ev.get("garrison.mail.text") or "")[:2000],
            "reporter": ev.get("email.reporter.address"), **c.to_json()}


def act_on_incident(config: Config, store: EventStore, engine: Engine, iid: int, actor: str, block: bool = False,
                    purge: bool = False, answer: bool = False) -> dict[str, Any]:
    """Block, purge and answer for one phishing incident; what was done is commented on the incident."""
    from garrison.respond import mail as act

    ev = incident_message(store, engine, iid)
    camp = find_campaign(store, ev)
    verdict = str(ev.get("garrison.mail.verdict") or "legitimate")
    out: dict[str, Any] = {"incident": iid, "verdict": verdict}
    done = []
    if block:
        out["blocked"] = act.block(config, engine, camp.sender, camp.hosts, f"reported phishing, incident #{iid}", actor)
        done.append("blocked " + ", ".join(x["value"] for x in out["blocked"] if "decision" in x))
    if purge:
        boxes = sorted({*camp.recipients, *([ev["email.reporter.address"]] if ev.get("email.reporter.address") else [])})
        out["purged"] = act.purge(config, engine, boxes, camp.message_id, actor, iid)
        done.append(f"removed it from {sum(1 for p in out['purged'] if p.get('deleted'))} mailbox(es)")
    if answer:
        reporters = sorted({*camp.reporters, *([ev["email.reporter.address"]] if ev.get("email.reporter.address") else [])})
        text = "We have " + "; ".join(done) + "." if done else ""
        out["answered"] = act.answer(config, reporters, verdict, camp.subject, camp.sender,
                                     list(ev.get("garrison.mail.reasons") or []), text)
        done.append(f"answered {len(reporters)} reporter(s)")
    if done:
        comment(engine, iid, actor, "Mail response: " + "; ".join(done))
    return out
