"""Garrison's web-attack detector on labelled public data (HttpParams, CSIC 2010) and through the pipeline."""

from __future__ import annotations

from garrison.evaluate.suites import csic, httpparams
from garrison.model import RawRecord
from tests.conftest import DATA


def test_httpparams_detection_and_false_positives():
    """HttpParams: every labelled attack value, and every normal one."""
    rows = {r.cls: r for r in httpparams(DATA)}
    normal = rows["normal values"]
    assert normal.negatives > 19_000 and normal.fp_rate <= 0.005, normal
    for cls in ("sqli", "xss", "rce"):
        assert rows[cls].recall >= 0.90, rows[cls]


def test_csic2010_normal_quiet_and_attacks_found():
    """CSIC's 'anomalous' set mixes injections with mere parameter tampering; injections must be caught,
    normal traffic must stay quiet."""
    (row,) = csic(DATA)
    assert row.negatives == 36_000 and row.fp_rate <= 0.001
    assert row.positives == 25_065 and row.recall >= 0.15


def test_detections_from_access_logs_through_the_pipeline(tmp_path):
    from garrison.config import load_config
    from garrison.detect.detectors.web import web_attack_stage
    from garrison.pipeline import build_pipeline

    pipe = build_pipeline(load_config(None, data_dir=str(tmp_path), enrich={"geoip": False}), [web_attack_stage])
    lines = (DATA / "crowdsec-hub/tests/nginx-http-sqli-probing/nginx-http-sqli-probing.log").read_text().splitlines()
    batch = pipe.process([RawRecord(text=x, source="t", position=i) for i, x in enumerate(lines, 1)])
    sqli = [d for d in batch.detections if d.rule_id == "garrison.web.sqli"]
    assert sqli and all(d.event["source.ip"] == "127.0.0.1" for d in sqli)
    assert "attack.t1190" in sqli[0].tags
    # refused probes are failed attempts (medium); answered ones may have worked (high)
    for d in sqli:
        assert d.level == ("medium" if d.event["http.response.status_code"] >= 400 else "high")
    from garrison.detect.detectors.web import level_for
    assert level_for(200) == level_for(None) == "high" and level_for(404) == "medium"
