"""The compiled-rule cache: a second load reads plans back, gives the same engine, and any change reloads."""

from __future__ import annotations

import logging
import shutil

from garrison.config import load_config
from garrison.detect.sigma.cache import load_compiled
from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.rulesets import builtin_pack
from garrison.detect.sigma.stage import compiled_engine
from garrison.model.detection import Detection
from garrison.pipeline.hunt import Hunter
from tests.conftest import DATA

SSH = DATA / "loghub/OpenSSH/OpenSSH_2k.log"


def _hunt(tmp_path, engine):
    return sorted((d.rule_id, d.source_record or 0, d.kind) for d in
                  Hunter(load_config(None, data_dir=str(tmp_path)), [], [], engine=engine).hunt([SSH])
                  if isinstance(d, Detection))


def test_second_load_is_cached_and_gives_the_same_detections(tmp_path):
    cache = tmp_path / "cache"
    first = load_compiled([builtin_pack()], cache_dir=cache)
    second = load_compiled([builtin_pack()], cache_dir=cache)
    assert not first.cached and second.cached
    assert [p.to_tuple() for p in first.plans] == [p.to_tuple() for p in second.plans]
    assert len(second.correlations) == len(first.correlations) >= 5 and second.errors == first.errors
    a = _hunt(tmp_path, SigmaEngine([], first.correlations, plans=first.plans))
    b = _hunt(tmp_path, SigmaEngine([], second.correlations, plans=second.plans))
    assert a == b
    assert any(kind == "correlation" for _, _, kind in b)  # brute force, from the re-read correlation files


def test_a_changed_rule_file_or_setting_is_a_new_key(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(builtin_pack(), rules)
    cache = tmp_path / "cache"
    load_compiled([rules], cache_dir=cache)
    assert load_compiled([rules], cache_dir=cache).cached
    f = next(rules.rglob("*.yml"))
    f.write_text(f.read_text() + "\n# edited\n")
    assert not load_compiled([rules], cache_dir=cache).cached
    assert not load_compiled([rules], placeholders={"admins": ["root"]}, cache_dir=cache).cached
    assert not load_compiled([rules], disabled={"nothing"}, cache_dir=cache).cached


def test_an_unreadable_cache_file_is_reloaded(tmp_path, caplog):
    cache = tmp_path / "cache"
    load_compiled([builtin_pack()], cache_dir=cache)
    for p in cache.iterdir():
        p.write_bytes(b"\x00not marshal")
    with caplog.at_level(logging.WARNING):
        again = load_compiled([builtin_pack()], cache_dir=cache)
    assert not again.cached and again.plans and "unreadable" in caplog.text


def test_sigmahq_windows_rules_through_the_cache_match_as_before(tmp_path, sigma_rules):
    """Every SigmaHQ Windows rule: the engine from cached plans equals the engine built from pySigma's rules."""
    cfg = load_config(None, data_dir=str(tmp_path))
    win = DATA / "sigma/rules/windows"
    compiled_engine(cfg, [win])
    cached = compiled_engine(cfg, [win])
    direct = SigmaEngine([r for r in sigma_rules.rules if str(r.source.path).startswith(str(win))])
    assert cached.report.loaded == direct.report.loaded > 2000
    z = DATA / "otrf/datasets/atomic/windows/defense_evasion/host/empire_launcher_sct_regsvr32.zip"
    hunt = Hunter(cfg, [], [], engine=cached).hunt
    a = sorted((d.rule_id, d.source_record) for d in hunt([z]) if isinstance(d, Detection))
    hunt = Hunter(cfg, [], [], engine=direct).hunt
    b = sorted((d.rule_id, d.source_record) for d in hunt([z]) if isinstance(d, Detection))
    assert a == b and len(a) > 5
