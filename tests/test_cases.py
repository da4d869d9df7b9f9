"""Golden cases for the pattern families (``garrison/model/patterns``): each folder under ``tests/cases`` holds
an input and the output expected of the pipeline, one line each.

After a deliberate change to a pattern, write the new outputs with ``GARRISON_WRITE_CASES=1 pytest
tests/test_cases.py`` and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from garrison.config import load_config
from garrison.model import RawRecord
from garrison.pipeline.components import build_stages, make_deps
from garrison.pipeline.pipeline import build_pipeline

CASES = Path(__file__).parent / "cases"
WRITE = os.environ.get("GARRISON_WRITE_CASES") == "1"
SERVICE_FIELDS = ("event.category", "event.action", "event.outcome", "source.ip", "source.domain", "user.name")


def _pipeline(tmp_path, stages):
    cfg = load_config(None, data_dir=str(tmp_path))
    return build_pipeline(cfg, build_stages(cfg, make_deps(cfg, None), stages))


def _check(folder: Path, got: list[dict]) -> None:
    expected = folder / "expected.jsonl"
    text = "".join(json.dumps(g, sort_keys=True) + "\n" for g in got)
    if WRITE:
        expected.write_text(text)
    want = [json.loads(x) for x in expected.read_text().splitlines()]
    assert len(want) == len(got), f"{folder.name}: {len(got)} outputs for {len(want)} expected"
    for i, (w, g) in enumerate(zip(want, got), 1):
        assert g == w, f"{folder.name} line {i}"


@pytest.mark.parametrize("folder", sorted((CASES / "services").iterdir()), ids=lambda p: p.name)
def test_service_patterns(tmp_path, folder):
    p = _pipeline(tmp_path, [])
    lines = (folder / "input.log").read_text().splitlines()
    b = p.process([RawRecord(text=x, source=f"case/{folder.name}", position=i) for i, x in enumerate(lines, 1)])
    assert not b.rejects
    got = [{k: ev[k] for k in SERVICE_FIELDS if k in ev and ev.get("event.outcome") == "failure"
            or k in ev and ev.get("event.type") == "denied"} for ev in b.events]
    _check(folder, got)


@pytest.mark.parametrize("folder", sorted((CASES / "web").iterdir()), ids=lambda p: p.name)
def test_web_signatures(tmp_path, folder):
    p = _pipeline(tmp_path, ["web"])
    paths = (folder / "input.txt").read_text().splitlines()
    recs = [RawRecord(text=f'203.0.113.1 - - [03/Dec/2026:10:00:00 +0000] "GET {x} HTTP/1.1" 404 120 "-" "Mozilla/5.0"',
                      source=f"case/{folder.name}", position=i) for i, x in enumerate(paths, 1)]
    b = p.process(recs)
    assert not b.rejects and len(b.events) == len(paths)
    got: list[dict] = [{"classes": []} for _ in paths]
    for d in b.detections:
        got[d.source_record - 1]["classes"].append(d.rule_id.rsplit(".", 1)[1])
    for g in got:
        g["classes"].sort()
    _check(folder, got)
    if folder.name != "benign":  # every line of a class folder is found as that class
        assert all(folder.name in g["classes"] for g in got), got
    else:
        assert all(not g["classes"] for g in got), got


def test_every_family_has_cases():
    from garrison.model.patterns import family

    assert set(family("web")["signatures"]) <= {p.name for p in (CASES / "web").iterdir()}
    assert len(list((CASES / "services").iterdir())) >= 8
