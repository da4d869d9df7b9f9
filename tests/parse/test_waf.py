"""Web application firewall logs: ModSecurity v2 (Apache), v3 (nginx), Coraza (Caddy's JSON) from the CrowdSec
hub's test logs, and ModSecurity v3's JSON audit log; and Garrison's WAF rules through the pipeline."""

from __future__ import annotations

import orjson

from tests.conftest import DATA, parse_lines

HUB = DATA / "crowdsec-hub/tests"


def test_modsecurity_in_apache_error_log():
    events, errors = parse_lines((HUB / "modsecurity/modsecurity.log").read_text().splitlines())
    assert not errors
    assert all(e["event.dataset"] == "waf.modsecurity" and e["source.ip"] == "::1" for e in events)
    first = events[0]
    assert (first["rule.id"], first["rule.category"], first["rule.ruleset"]) == ("930100", "lfi", "OWASP CRS")
    assert first["event.type"] == "info" and first["waf.first_in_transaction"] and first["waf.detection_only"]
    refused = next(e for e in events if e["event.type"] == "denied")
    # CRS's anomaly verdict carries no attack tag of its own: it takes the transaction's
    assert refused["rule.id"] == "949110" and refused["http.response.status_code"] == 403
    assert refused["waf.attack_classes"][:2] == ["lfi", "rce"] and refused["event.outcome"] == "failure"
    # one attempt per request: only the transaction's first attack match is marked
    assert sum(bool(e["waf.first_in_transaction"]) for e in events) == 1


def test_modsecurity_in_nginx_error_log_and_coraza_in_caddy():
    events, errors = parse_lines((HUB / "modsecurity-nginx/modsecurity-nginx.log").read_text().splitlines())
    assert not errors and [e["source.ip"] for e in events] == ["82.64.145.141", "143.198.55.184"]
    assert events[0]["url.path"] == "/" and events[0]["rule.name"] == "Path Traversal Attack (/../)"
    events, errors = parse_lines((HUB / "caddy-coraza/coraza.log").read_text().splitlines())
    assert not errors and events
    assert {e["event.dataset"] for e in events} == {"waf.coraza"} and all(e.get("source.ip") for e in events)
    assert all(isinstance(e["@timestamp"], int) and e["@timestamp"] > 1_600_000_000_000_000 for e in events)


def test_modsecurity_json_audit_log():
    # ModSecurity v3's JSON audit log (SecAuditLogFormat JSON), one transaction per line
    line = orjson.dumps({"transaction": {
        "client_ip": "203.0.113.77", "time_stamp": "Tue Dec  1 10:28:03 2026", "unique_id": "170000000011.2",
        "request": {"method": "GET", "uri": "/search?q=1'+union+select+password+from+users--"},
        "response": {"http_code": 403},
        "messages": [
            {"message": "SQL Injection Attack Detected via libinjection",
             "details": {"ruleId": "942100", "severity": "2", "data": "Matched Data: s&sos", "tags": ["attack-sqli"]}},
            {"message": "Inbound Anomaly Score Exceeded (Total Score: 5)",
             "details": {"ruleId": "949110", "severity": "2", "tags": ["anomaly-evaluation"]}}]}}).decode()
    (ev,), errors = parse_lines([line])
    assert not errors
    assert (ev["source.ip"], ev["rule.id"], ev["rule.category"], ev["event.type"]) == ("203.0.113.77", "942100", "sqli",
                                                                                       "denied")
    assert ev["rule.ids"] == ["942100", "949110"] and ev["url.path"] == "/search"
    assert ev["@timestamp"] == 1796120883000000


def test_waf_rules_count_one_attempt_per_request(tmp_path):
    from garrison.config import load_config
    from garrison.detect.sigma.stage import build_sigma_stage
    from garrison.model import RawRecord
    from garrison.model.detection import attempt_blocked, attempt_category
    from garrison.pipeline import build_pipeline
    from garrison.store import open_state

    cfg = load_config(None, data_dir=str(tmp_path))
    pipe = build_pipeline(cfg, [])
    sigma = build_sigma_stage(cfg, open_state(tmp_path))
    pipe.stages.append(sigma)
    lines = (HUB / "modsecurity-nginx/modsecurity-nginx.log").read_text().splitlines()
    batch = pipe.process([RawRecord(text=x, source="nginx-error.log", position=i) for i, x in enumerate(lines, 1) if x])
    waf = [d for d in batch.detections if d.rule_title.startswith("Web application firewall")]
    # detection-only firewall: each request's first attack match, high (the request went through)
    assert sorted(d.event["source.ip"] for d in waf) == ["143.198.55.184", "82.64.145.141"]
    assert all(d.level == "high" and attempt_category(d) == "web_attack" and not attempt_blocked(d) for d in waf)

    lines = (HUB / "modsecurity/modsecurity.log").read_text().splitlines()
    batch = pipe.process([RawRecord(text=x, source="apache-error.log", position=i) for i, x in enumerate(lines, 1) if x])
    waf = [d for d in batch.detections if d.rule_title.startswith("Web application firewall")]
    # a refusing firewall: the first match (before any refusal was seen) and the refusal, blocked
    assert [d.level for d in waf] == ["high", "medium"] and attempt_blocked(waf[1])
