"""Logsource routing and field mapping, loaded from data (``logsources.yaml``).

A rule's logsource becomes one or more ``Route``s. A route says which events the
rule sees (index keys) and how its Sigma field names map to keys of Garrison's normalised
events: Windows event data as ``winlog.event_data.<Name>``, everything else by ECS name.
There is one schema: ``import``, ``serve`` and ``hunt`` all match normalised events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from garrison.detect.sigma.compile import Getter, Resolver, chain_getter, key_getter

IndexKey = tuple[str, str | None, int | None]  # ("w", channel, event id) or ("d", dataset, None)

_WIN_SYSTEM = {"EventID": "winlog.event_id", "Channel": "winlog.channel", "Provider_Name": "winlog.provider_name",
               "Computer": "host.name", "EventRecordID": "winlog.record_id"}


@dataclass(frozen=True)
class Route:
    keys: tuple[IndexKey, ...]
    fields: dict[str, str] = field(default_factory=dict)  # Sigma name -> source name
    where: dict[str, Any] = field(default_factory=dict)  # extra equality conditions (e.g. EventType)
    windows: bool = True
    prefix: str | None = None  # where a source keeps its own field names (auditd's 'a0' as 'auditd.a0')

    def resolver(self) -> Resolver:
        if self.windows:
            seen: dict[str, tuple[Getter, str | None]] = {}

            def resolve_win(name: str) -> tuple[Getter, str | None]:
                got = seen.get(name)
                if got is None:
                    key = _WIN_SYSTEM.get(name) or "winlog.event_data." + self.fields.get(name, name)
                    got = seen[name] = (key_getter(key), key)
                return got
            return resolve_win

        def resolve_other(name: str) -> tuple[Getter, str | None]:
            mapped = self.fields.get(name)
            if mapped:
                return key_getter(mapped), mapped
            if self.prefix and not is_ecs(name):
                return key_getter(self.prefix + name), self.prefix + name
            if is_ecs(name):
                # a field Garrison's parsers fill under its ECS name: one dict lookup, so the rule gets a
                # literal prefilter and a verdict memo (the own pack names ECS fields throughout)
                return key_getter(name), name
            return chain_getter([name], fallback_original=name), None
        return resolve_other


# ECS field sets (and Garrison's own) whose names parsers write as they are: a rule naming one reads that key.
_ECS_ROOTS = frozenset(("event", "source", "destination", "client", "server", "user", "url", "http", "host",
                        "network", "process", "dns", "email", "file", "observer", "organization", "log", "tls",
                        "user_agent", "rule", "threat", "garrison", "winlog", "service", "related", "waf"))


def is_ecs(name: str) -> bool:
    head, dot, _ = name.partition(".")
    return bool(dot) and head in _ECS_ROOTS


@dataclass
class Routing:
    services: dict[str, list[str]]
    categories: dict[str, list[dict[str, Any]]]
    other: list[dict[str, Any]]

    def routes(self, product: str | None, category: str | None, service: str | None) -> list[Route]:
        """Routes for a logsource; empty when Garrison has no events of that kind."""
        if product == "windows":
            return self._windows(category, service)
        return self._other(product, category, service)

    def _windows(self, category: str | None, service: str | None) -> list[Route]:
        if category:
            out = []
            for ent in self.categories.get(category, []):
                svc = service or ent.get("service")
                chans = [c.lower() for c in self.services.get(svc, [])] if svc else [None]
                eids = ent.get("event_ids") or [None]
                keys = tuple(("w", ch, e) for ch in chans for e in eids)
                out.append(Route(keys, dict(ent.get("fields") or {}), dict(ent.get("where") or {})))
            return [r for r in out if r.keys]
        if service:
            chans = self.services.get(service, [])
            return [Route(tuple(("w", c.lower(), None) for c in chans))] if chans else []
        return [Route((("w", None, None),))]

    def _other(self, product: str | None, category: str | None, service: str | None) -> list[Route]:
        want = {"product": product, "category": category, "service": service}
        best: list[dict[str, Any]] = []
        best_score = 0
        for ent in self.other:
            keys = [k for k in ("product", "category", "service") if k in ent]
            if not keys or any(ent[k] != want[k] for k in keys):
                continue
            score = len(keys)
            if score > best_score:
                best, best_score = [ent], score
            elif score == best_score:
                best.append(ent)
        if best_score < sum(1 for v in want.values() if v) and not (best_score and product):
            return []
        return [Route(tuple(("d", ds, None) for ds in ent["datasets"]), dict(ent.get("fields") or {}), windows=False,
                      prefix=ent.get("prefix")) for ent in best]


def load_routing(path: str | Path | None = None) -> Routing:
    if path is None:
        text = resources.files("garrison.detect.sigma").joinpath("logsources.yaml").read_text()
    else:
        text = Path(path).read_text()
    doc = yaml.safe_load(text)
    win = doc.get("windows", {})
    return Routing(win.get("services", {}), win.get("categories", {}), doc.get("other", []))


def event_keys(ev: dict[str, Any]) -> list[IndexKey]:
    """The index keys an event is looked up under."""
    ch = ev.get("winlog.channel")
    if ch is not None:
        ch = ch.lower()
        eid = ev.get("winlog.event_id")
        # Windows rules are indexed by channel; Garrison's own pack routes Windows logons by dataset.
        return [("w", ch, eid), ("w", ch, None), ("w", None, None), ("d", ev.get("event.dataset"), None)]
    return [("d", ev.get("event.dataset"), None)]
