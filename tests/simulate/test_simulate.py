"""garrison simulate: real formats the parsers accept whole, a consistent ground truth, OTRF recordings
spliced in (``../shared/data/otrf``), and evaluation of a store against the truth."""

from __future__ import annotations

import zipfile
from datetime import date

import orjson
import pytest

from garrison.config import load_config
from garrison.evaluate.truth import evaluate
from garrison.pipeline.runner import build_live_pipeline
from garrison.simulate.load import import_simulated
from garrison.simulate.generate import read_manifest, simulate
from garrison.simulate.recordings import find_recordings, read_recording
from garrison.simulate.replay import interleaved
from garrison.store import EventStore, open_state
from tests.conftest import parse_lines

DAY = date(2026, 11, 2)


@pytest.fixture(scope="module")
def small(tmp_path_factory, data):
    out = tmp_path_factory.mktemp("sim")
    return simulate(out, days=2, seed=3, start=DAY, staff=400, scale=0.2,
                    recordings=data / "otrf/datasets/atomic/windows")


def test_every_file_parses_whole_in_its_declared_format(small):
    files = read_manifest(small.out)
    assert {f.name for f, _ in files} >= {"auth.log", "firewall.log", "access.log", "windows.json", "entra-signin.json",
                                          "m365-audit.json", "zeek-conn.json"}
    for path, fmt in files:
        lines = path.read_text().splitlines()
        events, errors = parse_lines(lines, source=str(path), fmt=fmt, reference_us=1_800_000_000_000_000)
        assert not errors, (path, errors[:3])
        assert len(events) == len(lines)
        days = {ev["@timestamp"] // 86_400_000_000 for ev in events}
        assert len(days) == 1, f"{path}: events outside the day"


def test_truth_names_the_lines_of_each_serious_attack(small):
    truth = orjson.loads((small.out / "truth.json").read_bytes())
    serious = [a for a in truth["attacks"] if a["serious"]]
    assert len(serious) == 2 * 6  # five scenarios and one recording a day
    assert len({a["kind"] for a in serious}) >= 5
    for a in serious:
        assert a["start"] <= a["end"] and a["events"] == sum(len(v) for v in a["evidence"].values()) > 0
        assert any(a["entities"].values())
        for rel, lines in a["evidence"].items():
            text = (small.out / rel).read_text().splitlines()
            assert max(lines) <= len(text)
    background = [a for a in truth["attacks"] if not a["serious"]]
    assert {a["kind"] for a in background} == {"scan", "ssh_brute_force", "web_probe", "password_spray"}


def test_recordings_are_rebased_in_time_and_host(small, data):
    rec = find_recordings(data / "otrf/datasets/atomic/windows")
    assert rec[0].name == "empire_mimikatz_logonpasswords.zip"
    truth = orjson.loads((small.out / "truth.json").read_bytes())
    spliced = [a for a in truth["attacks"] if a["kind"] == "recording"]
    assert len(spliced) == 2
    for a in spliced:
        assert a["entities"]["host"] and all(h.endswith(".council.local") for h in a["entities"]["host"])
        day0 = int(date.fromisoformat(a["day"]).strftime("%s")) * 1_000_000
        assert day0 <= a["start"] <= a["end"] < day0 + 86_400_000_000
        lines = (small.out / a["day"] / "windows.json").read_text().splitlines()
        sample = orjson.loads(lines[a["evidence"][f"{a['day']}/windows.json"][0] - 1])
        assert sample["Hostname"] in a["entities"]["host"] and "mordor" not in sample["Hostname"].lower()


def test_bad_recording_lines_are_skipped(tmp_path):
    z = tmp_path / "r.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("r.json", '{"@timestamp": "2020-01-01T00:00:00Z", "EventID": 1, "Channel": "x"}\n{"trunc\n')
    assert len(read_recording(z)) == 1


def test_interleaving_keeps_sources_within_a_minute(small):
    seen: dict[str, int] = {}
    for path, fmt, _first, lines in interleaved(small.out):
        events, _ = parse_lines(lines[:1], source=str(path), fmt=fmt, reference_us=1_800_000_000_000_000)
        t = events[0]["@timestamp"]
        seen[path.name] = t
        assert t >= max(seen.values()) - 120_000_000  # no source runs ahead of another by more than the window


def test_evaluate_on_an_imported_store(small, tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path / "data"), enrich={"inventory": str(small.out / "inventory.yaml")})
    engine = open_state(cfg.data_path)
    r = import_simulated(build_live_pipeline(cfg, engine), EventStore(cfg.data_path, engine), small.out)
    assert r.events == small.events and r.rejects == 0
    ev = evaluate(engine, small.out / "truth.json")
    assert [f.day for f in ev.funnel] == ["2026-11-02", "2026-11-03"]
    for f in ev.funnel:
        assert f.events > f.attempts > f.detections > f.incidents > 0 and f.blocked > 0
    synthesised = [a for a in ev.attacks if a.kind != "recording"]
    assert all(a.covered for a in synthesised), [a for a in synthesised if not a.covered]
    assert ev.false_alarms == []
