"""The OTRF atomic Windows recordings: does Garrison raise a detection of the recording's ATT&CK tactic?

Each recording (a zip of one JSON-lines file of Sysmon, Security, System and PowerShell events, with the
background noise around the attack) is hunted on its own, through the pipeline's parse step and the Sigma
stage, with SigmaHQ's Windows rules and Garrison's own pack; correlation state does not carry from one
recording to the next. The expected tactics come from the recording's ``_metadata`` file (its ``files`` link
names the zip); a recording without one is expected to show the tactic its folder names.

OTRF's recorder clears the event logs before it starts, so most recordings hold a Security 1102 and a System
104 event that are not the attack: detections raised by those two events are left out of the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from garrison.config import Config
from garrison.detect.sigma.rulesets import builtin_pack
from garrison.detect.sigma.stage import compiled_engine
from garrison.model.detection import Detection
from garrison.pipeline.hunt import Hunter

ATOMIC = "otrf/datasets/atomic"
TACTICS = {  # ATT&CK enterprise tactic ids and the names Sigma's tags use
    "TA0001": "initial-access", "TA0002": "execution", "TA0003": "persistence", "TA0004": "privilege-escalation",
    "TA0005": "defense-evasion", "TA0006": "credential-access", "TA0007": "discovery", "TA0008": "lateral-movement",
    "TA0009": "collection", "TA0010": "exfiltration", "TA0011": "command-and-control", "TA0040": "impact",
}
HIGH = ("high", "critical")


@dataclass
class Recording:
    path: Path
    folder: str  # the tactic folder it sits in (credential_access, lateral_movement, ...)
    tactics: set[str]  # expected, as Sigma tag names
    title: str = ""


@dataclass
class Outcome:
    recording: Recording
    detections: int = 0
    tactics: dict[str, str] = field(default_factory=dict)  # tactic -> the highest level raised for it
    rules: dict[str, str] = field(default_factory=dict)  # rule title -> level, for the note on misses

    @property
    def hit(self) -> bool:
        return bool(self.recording.tactics & set(self.tactics))

    @property
    def hit_high(self) -> bool:
        return any(self.tactics.get(t) in HIGH for t in self.recording.tactics)


def recordings(data: Path) -> list[Recording]:
    """Every Windows recording under the atomic folder, with the tactics its metadata gives."""
    root = data / ATOMIC
    by_zip: dict[str, tuple[set[str], str]] = {}
    for meta in sorted((root / "_metadata").glob("*.yaml")):
        doc = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        tactics = {TACTICS[t] for m in doc.get("attack_mappings") or [] for t in m.get("tactics") or []
                   if t in TACTICS}
        for f in doc.get("files") or []:
            link = str(f.get("link") or "")
            if "/datasets/atomic/" in link:
                by_zip[link.split("/datasets/atomic/", 1)[1]] = (tactics, str(doc.get("title") or ""))
    out = []
    for z in sorted((root / "windows").rglob("*.zip")):
        rel = z.relative_to(root).as_posix()
        folder = z.relative_to(root / "windows").parts[0]
        tactics, title = by_zip.get(rel, (set(), ""))
        out.append(Recording(z, folder, tactics or {folder.replace("_", "-")}, title))
    return out


def _recorder_clearing(d: Detection) -> bool:
    ev = d.event or {}
    return str(ev.get("event.code")) in ("1102", "104") and ev.get("winlog.channel") in ("Security", "System")


def _tactics(d: Detection) -> set[str]:
    return {t[len("attack."):].replace("_", "-") for t in d.tags if t.startswith("attack.")} & set(TACTICS.values())


def evaluate(config: Config, data: Path, sigma_rules: Path | None = None) -> Iterator[Outcome]:
    """Hunt each recording with SigmaHQ's Windows rules (``sigma_rules``, default the shared copy's) and the
    own pack; one outcome per recording."""
    rules = sigma_rules or data / "sigma/rules/windows"
    engine = compiled_engine(config, [p for p in (rules, builtin_pack()) if p.is_dir()])
    hunter = Hunter(config, [], [], engine=engine)
    order = {lv: i for i, lv in enumerate(("informational", "low", "medium", "high", "critical"))}
    for rec in recordings(data):
        out = Outcome(rec)
        for d in hunter.hunt([rec.path]):  # hunt() flushes the correlations at its end
            if not isinstance(d, Detection) or _recorder_clearing(d):
                continue
            out.detections += 1
            if order.get(d.level, 0) > order.get(out.rules.get(d.rule_title, ""), -1):
                out.rules[d.rule_title] = d.level
            for t in _tactics(d):
                if order.get(d.level, 0) > order.get(out.tactics.get(t, ""), -1):
                    out.tactics[t] = d.level
        yield out


def pack_rule_ids(folders: tuple[str, ...] = ("windows", "network")) -> set[str]:
    """The ids (and names) of the own pack's rules in the given folders."""
    out: set[str] = set()
    for folder in folders:
        for f in sorted((builtin_pack() / folder).glob("*.yml")):
            doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            out |= {str(doc[k]) for k in ("id", "name") if doc.get(k)}
    return out


@dataclass
class Benign:
    days: int
    events: int
    detections: dict[str, int]  # pack rule title -> detections on the benign days
    incidents: int  # all incidents
    pack_incidents: int  # incidents holding a detection of the Windows or network pack


def benign_days(work: Path, days: int = 7, seed: int = 21, staff: int = 5000, scale: float = 1.0,
                folders: tuple[str, ...] = ("windows", "network")) -> Benign:
    """Simulated days with no attack planted, through the live pipeline: what the Windows and network pack
    raise on them (each one is a false alarm)."""
    from sqlalchemy import select

    from garrison.config import load_config
    from garrison.pipeline.runner import build_live_pipeline
    from garrison.simulate.generate import simulate
    from garrison.simulate.load import import_simulated
    from garrison.store import EventStore, open_state
    from garrison.store import state as S

    sim = simulate(work / "logs", days=days, seed=seed, staff=staff, scale=scale, attacks=False)
    cfg_path = work / "garrison.yaml"
    cfg_path.write_text(yaml.safe_dump({"data_dir": str(work / "data"),
                                        "enrich": {"inventory": str(sim.out / "inventory.yaml")}}))
    cfg = load_config(cfg_path)
    db = open_state(cfg.data_path)
    res = import_simulated(build_live_pipeline(cfg, db), EventStore(cfg.data_path, db), sim.out)
    ids = pack_rule_ids(folders)
    with db.connect() as c:
        dets = c.execute(select(S.detections.c.id, S.detections.c.rule_id, S.detections.c.rule_title)).all()
        links = c.execute(select(S.incident_detections)).all()
        n_inc = len(c.execute(select(S.incidents.c.id)).all())
    pack = {d.id: d.rule_title for d in dets if d.rule_id in ids}
    counts: dict[str, int] = {}
    for title in pack.values():
        counts[title] = counts.get(title, 0) + 1
    return Benign(days, res.events, counts, n_inc, len({lk.incident_id for lk in links if lk.detection_id in pack}))
