"""Rules: every installed rule (Garrison's pack, rule sets, configured folders) with its switch, hits per
day, a test against the last 24 hours of stored events, and the suppressions."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from garrison.web.deps import RowId
from garrison.detect.sigma.load import load_rules, rule_files
from garrison.detect.sigma.rulesets import builtin_pack, disabled_rules, installed, set_enabled
from garrison.errors import GarrisonError
from garrison.triage.suppress import delete_suppression, list_suppressions
from garrison.web.console import data
from garrison.web.console.base import Console, back, need, page

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RuleInfo:
    id: str
    title: str
    level: str
    kind: str  # detection | correlation
    set: str
    path: str


class Catalogue:
    """Rule headers read once per folder (cheap YAML, not a full compile); rebuilt when a folder changes."""

    def __init__(self) -> None:
        self.rules: list[RuleInfo] = []
        self.key: tuple[Any, ...] = ()
        self.lock = threading.Lock()

    def get(self, con: Console) -> list[RuleInfo]:
        sets = [("garrison", builtin_pack())] + [(s.name, Path(s.path)) for s in installed(con.engine)] + \
            [(Path(p).name, Path(p)) for p in con.config.detect.sigma.rule_dirs]
        key = tuple((n, str(p), p.stat().st_mtime if p.exists() else 0) for n, p in sets)
        with self.lock:
            if key != self.key:
                self.rules = [info for name, path in sets for f in rule_files([path]) for info in _headers(name, f)]
                self.key = key
            return self.rules


def _headers(set_name: str, f: Path) -> list[RuleInfo]:
    try:
        docs = list(yaml.load_all(f.read_text(encoding="utf-8"), Loader=_Loader))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return []  # 'garrison rules list' reports why a file doesn't load
    return [RuleInfo(str(d.get("id") or d.get("name") or f.stem), str(d.get("title") or f.stem), str(d.get("level") or ""),
                     "correlation" if "correlation" in d else "detection", set_name, str(f))
            for d in docs if isinstance(d, dict) and ("detection" in d or "correlation" in d)]


def test_rule(con: Console, info: RuleInfo, hours: int = 24, show: int = 20) -> dict[str, Any]:
    """Run one rule (a correlation with the rules of its folder) over the stored events of the last hours."""
    from garrison.detect.sigma.engine import SigmaEngine
    from garrison.store.search import search

    rs = load_rules([Path(info.path).parent if info.kind == "correlation" else info.path])
    if rs.errors and not rs.rules:
        raise GarrisonError(f"the rule does not load: {rs.errors[0][1]}")
    keep = [c for c in rs.correlations if str(c.id) == info.id or c.name == info.id]
    engine = SigmaEngine(rs.rules, keep)
    now = int(time.time() * 1e6)
    t0 = time.perf_counter()
    events = search(con.store, "*", now - hours * 3_600_000_000, now + 1, limit=None).events
    hits = []
    for ev in sorted(events, key=lambda e: e.get("@timestamp") or 0):
        for d in engine.match(ev, ev.get("@timestamp") or 0):
            if str(d.rule_id) == info.id or d.rule_title == info.title:
                hits.append(d)
    return {"rule": info, "events": len(events), "hits": len(hits), "seconds": time.perf_counter() - t0,
            "sample": [h.event for h in hits[:show]]}


def routes(r: APIRouter, con: Console) -> None:
    cat = Catalogue()
    threading.Thread(target=lambda: _warm(cat, con), daemon=True).start()

    @r.get("/console/rules")
    async def rules_page(request: Request, q: str = "", notice: str | None = None, test: str | None = None):
        user = await need(request, con, "analyst")

        def load():  # type: ignore[no-untyped-def]
            rules = cat.get(con)
            off = disabled_rules(con.engine)
            hits = data.rule_hits(con.engine, 7)
            sets = {s.name: s.enabled for s in installed(con.engine)}
            shown = [x for x in rules if not q or q.lower() in x.title.lower() or q.lower() in x.id.lower()]
            shown.sort(key=lambda x: (-sum(hits.get(x.id, [])), x.set, x.title))
            return shown[:300], len(shown), off, hits, sets, list_suppressions(con.engine)

        shown, total, off, hits, sets, sups = await run_in_threadpool(load)
        return page(request, "rules.html", user, rules=shown, total=total, disabled=off, hits=hits, sets=sets, q=q,
                    suppressions=sups, notice=notice, result=None)

    @r.post("/console/rules/toggle")
    async def toggle(request: Request):
        user = await need(request, con, "analyst", write=True)
        f = await request.form()
        target, on = str(f.get("target") or ""), f.get("enabled") == "1"
        try:
            what = await run_in_threadpool(set_enabled, con.engine, target, on)
        except GarrisonError as e:
            return back("/console/rules", f"not changed: {e}")
        from garrison.store.records import audit

        with con.engine.begin() as c:
            audit(c, user.name, "rule.enable" if on else "rule.disable", target, None)
        return back("/console/rules", f"{what} {'enabled' if on else 'disabled'}; garrison serve applies it on restart")

    @r.post("/console/rules/test")
    async def test(request: Request):
        user = await need(request, con, "analyst", write=True)
        rid = str((await request.form()).get("rule") or "")
        info = next((x for x in await run_in_threadpool(cat.get, con) if x.id == rid), None)
        if info is None:
            return back("/console/rules", f"no rule {rid!r}")
        try:
            result = await run_in_threadpool(test_rule, con, info)
        except GarrisonError as e:
            return back("/console/rules", f"test failed: {e}")
        return page(request, "rules.html", user, rules=[], total=0, disabled=set(), hits={}, sets={}, q="",
                    suppressions=[], notice=None, result=result)

    @r.post("/console/suppressions/{sid}/delete")
    async def unsuppress(request: Request, sid: RowId):
        user = await need(request, con, "analyst", write=True)
        ok = await run_in_threadpool(delete_suppression, con.engine, sid, user.name)
        return back("/console/rules", f"suppression #{sid} {'lifted' if ok else 'not found'}")



def _warm(cat: Catalogue, con: Console) -> None:
    try:
        cat.get(con)
    except OSError:
        pass
