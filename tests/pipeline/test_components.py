"""Stages as components: the order is data, unknown names are refused, and the test doubles work end to end."""

from __future__ import annotations

import pytest

from garrison.config import load_config
from garrison.errors import ConfigError
from garrison.pipeline.components import STAGES, build_stages, make_deps
from garrison.pipeline.runner import build_live_pipeline
from garrison.store import open_state
from garrison.testing import MemorySink, MemorySource
from tests.conftest import DATA


def test_default_order_is_todays_and_every_name_is_registered():
    cfg = load_config(None)
    assert cfg.pipeline.stages == ["once", "geo", "inventory", "sigma", "web", "travel", "beacon", "mailbox", "phish",
                                   "simulations", "intel", "suppress", "respond", "triage"]
    assert set(cfg.pipeline.stages) <= set(STAGES)


def test_unknown_stage_is_refused_with_the_known_ones():
    cfg = load_config(None, pipeline={"stages": ["geo", "sigmaa"]})
    with pytest.raises(ConfigError, match="unknown stage .sigmaa.; known: once, geo, inventory, sigma"):
        build_stages(cfg, make_deps(cfg, None))


def test_stage_order_and_sections_come_from_configuration(tmp_path):
    cfg = load_config(None, data_dir=str(tmp_path), pipeline={"stages": ["sigma", "triage"]},
                      detect={"travel": {"enabled": False}})
    p = build_live_pipeline(cfg, open_state(tmp_path))
    assert [s.name for s in p.stages] == ["sigma", "triage"]
    cfg = load_config(None, data_dir=str(tmp_path), detect={"travel": {"enabled": False}})
    names = [s.name for s in build_live_pipeline(cfg, open_state(tmp_path)).stages]
    assert "travel" not in names and "beacon" in names
    assert "intel" in names  # no lists configured, but it watches the one reported phishing writes


def test_memory_source_and_sink_through_the_live_pipeline(tmp_path):
    lines = (DATA / "loghub/OpenSSH/OpenSSH_2k.log").read_text().splitlines()[:300]
    sink = MemorySink()
    MemorySource(lines, source="sshd-sample", fmt="syslog").run(sink)
    assert len(sink.records) == 300 and sink.records[0].position == 1
    cfg = load_config(None, data_dir=str(tmp_path))
    batch = build_live_pipeline(cfg, open_state(tmp_path)).process(sink.records)
    assert len(batch.events) + len(batch.rejects) == 300
    assert {e["event.dataset"] for e in batch.events} == {"sshd"}
    assert batch.detections  # the pack's brute-force rules see the sample's guessing
