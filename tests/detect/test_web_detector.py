"""Garrison's web-attack detector on labelled public data (HttpParams, CSIC 2010) and through the pipeline."""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter
from urllib.parse import urlsplit

from garrison.detect.detectors.web import classify
from garrison.model import RawRecord
from tests.conftest import DATA

HTTPPARAMS_CLASS = {"sqli": "sqli", "xss": "xss", "path-traversal": "lfi", "cmdi": "rce"}


def test_httpparams_detection_and_false_positives():
    """HttpParams: every labelled attack value, and every normal one."""
    tp, pos, fp, neg = Counter(), Counter(), 0, 0
    with open(DATA / "web/httpparams/payload_full.csv", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            got = {x.cls for x in classify({"query": row["payload"]})}
            if row["label"] == "norm":
                neg += 1
                fp += bool(got)
            else:
                cls = HTTPPARAMS_CLASS[row["attack_type"]]
                pos[cls] += 1
                tp[cls] += cls in got
    assert neg > 19_000 and fp / neg <= 0.005, (fp, neg)
    for cls in ("sqli", "xss", "rce"):
        assert tp[cls] / pos[cls] >= 0.90, (cls, tp[cls], pos[cls])


def _csic(name):
    cur: list[str] = []
    with gzip.open(DATA / f"web/csic2010/{name}.txt.gz", "rt", encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if re.match(r"^(GET|POST|PUT) ", line) and cur:
                yield cur
                cur = []
            cur.append(line)
    if cur:
        yield cur


def _parts(lines):
    _, uri, _ = lines[0].split(" ", 2)
    sp = urlsplit(uri)
    i = 1
    while i < len(lines) and lines[i]:
        i += 1
    return {"path": sp.path, "query": sp.query, "body": "\n".join(x for x in lines[i + 1:] if x)}


def test_csic2010_normal_traffic_stays_quiet():
    n = flagged = 0
    for req in _csic("normalTrafficTraining"):
        n += 1
        flagged += bool(classify(_parts(req)))
    assert n == 36_000 and flagged / n <= 0.001


def test_csic2010_attacks_are_found():
    """CSIC's 'anomalous' set mixes injections with mere parameter tampering; injections must be caught."""
    n = flagged = 0
    for req in _csic("anomalousTrafficTest"):
        n += 1
        flagged += bool(classify(_parts(req)))
    assert n == 25_065 and flagged / n >= 0.15


def test_detections_from_access_logs_through_the_pipeline(tmp_path):
    from garrison.config import load_config
    from garrison.detect.detectors.web import web_attack_stage
    from garrison.pipeline import build_pipeline

    pipe = build_pipeline(load_config(None, data_dir=str(tmp_path), enrich={"geoip": False}), [web_attack_stage])
    lines = (DATA / "crowdsec-hub/tests/nginx-http-sqli-probing/nginx-http-sqli-probing.log").read_text().splitlines()
    batch = pipe.process([RawRecord(text=x, source="t", position=i) for i, x in enumerate(lines, 1)])
    sqli = [d for d in batch.detections if d.rule_id == "garrison.web.sqli"]
    assert sqli and all(d.event["source.ip"] == "127.0.0.1" for d in sqli)
    assert "attack.t1190" in sqli[0].tags and sqli[0].level == "high"
