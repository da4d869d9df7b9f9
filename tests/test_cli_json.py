"""Every ``--json`` of the CLI on a store with incidents, detections, decisions, cases and quarantined records.

Each line (or the whole output) must parse as JSON and carry the fields a script needs (issue 17: ``incidents
list --json`` crashed with "Dict key must be str" on every store).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from garrison.config import load_config
from garrison.model import Reject
from garrison.pipeline.runner import build_live_pipeline
from garrison.simulate.generate import simulate
from garrison.simulate.load import import_simulated
from garrison.store import EventStore, open_state
from garrison.triage.cases import comment


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("json")
    sim = simulate(tmp / "logs", days=1, seed=3, staff=400, scale=0.2)
    cfg_path = tmp / "g.yaml"
    cfg_path.write_text(f"data_dir: {tmp / 'data'}\nenrich: {{inventory: {sim.out / 'inventory.yaml'}}}\n")
    cfg = load_config(cfg_path)
    engine = open_state(cfg.data_path)
    st = EventStore(cfg.data_path, engine)
    import_simulated(build_live_pipeline(cfg, engine), st, sim.out)
    st.commit([], [Reject("udp:10.0.0.9", "malformed syslog: no timestamp", "<<garbage>>", 7)])
    comment(engine, 1, "alice", "looking into it")
    return cfg_path, sim


def _json(cfg, *args) -> list:
    r = subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), *args, "--json"],
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr[-2000:]
    text = r.stdout.strip()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_incidents(store):
    cfg, _ = store
    rows = _json(cfg, "incidents", "list")
    assert rows and all({"id", "title", "severity", "status", "risk"} <= set(r) for r in rows)
    (inc,) = _json(cfg, "incidents", "show", "1")
    assert inc["id"] == 1 and inc["detections"] and any(c["text"] == "looking into it" for c in inc["comments"])


def test_detections_decisions_quarantine_search(store):
    cfg, _ = store
    dets = _json(cfg, "detections", "list", "--since", "all")
    assert dets and all("rule_id" in d and "level" in d for d in dets)
    decs = _json(cfg, "decisions")
    assert decs and all(d["type"] == "ban" and d["value"] for d in decs)
    q = _json(cfg, "quarantine", "list")
    assert any(r["source"] == "udp:10.0.0.9" for r in q)
    hits = _json(cfg, "search", "event.dataset:sshd", "--since", "all", "--limit", "5")
    assert len(hits) == 5 and all(h["event.dataset"] == "sshd" for h in hits)


def test_evaluate(store):
    cfg, sim = store
    (ev,) = _json(cfg, "evaluate", "--truth", str(sim.out / "truth.json"))
    assert "recall" in json.dumps(ev)


def test_the_lazy_command_map_names_every_command_of_every_module():
    import importlib
    import pkgutil

    import garrison.cli as pkg
    from garrison.cli.main import COMMANDS

    defined = {}
    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name == "main":
            continue
        module = importlib.import_module(f"garrison.cli.{m.name}")
        for command in getattr(module, "COMMANDS", []):
            defined[command.name] = m.name
    assert defined == COMMANDS
