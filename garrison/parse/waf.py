"""Web application firewall alerts: ModSecurity (v2 in Apache's error log, v3 in nginx's), Coraza (Caddy's
JSON log) and ModSecurity v3's JSON audit log.

Each message names the rule that matched (``[id "942100"]``), what it says (``[msg ...]``), its tags —
CRS tags the attack class (``attack-sqli``) — and the request's path; "Access denied with code 403" says the
firewall refused the request, "Warning." that it only noted it (detection-only mode, or a rule that adds to
an anomaly score that a later rule acts on).
"""

from __future__ import annotations

import re
from typing import Any

from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.model.time import strptime_us
from garrison.parse.util import clean_ip

_FIELD = re.compile(r'\[(\w+) "((?:[^"\\]|\\.)*)"\]')
_DENIED = re.compile(r"Access denied with (?:code|redirection to \S+ using status) (\d{3})", re.I)
_CLIENT = re.compile(r"\[client \"?([0-9A-Fa-f:.]+?)\"?(?::\d+)?\]")
# CRS's attack tags -> Garrison's web attack classes (the web detector's names)
ATTACK_CLASSES = {"attack-sqli": "sqli", "attack-xss": "xss", "attack-lfi": "lfi", "attack-rfi": "rfi", "attack-rce": "rce",
                  "attack-injection-php": "php", "attack-injection-java": "java", "attack-protocol": "protocol",
                  "attack-reputation-scanner": "scanner", "attack-disclosure": "disclosure", "attack-fixation": "fixation",
                  "attack-multipart-header": "protocol", "attack-generic": "generic", "attack-injection-generic": "generic"}
# the classes that make a WAF match an attempt (protocol or disclosure matches alone are not)
_ATTACKS = {"sqli", "xss", "lfi", "rfi", "rce", "php", "java", "generic", "fixation"}
_SEVERITY = {"0": "emergency", "1": "alert", "2": "critical", "3": "error", "4": "warning", "5": "notice"}


def is_waf_message(msg: str) -> bool:
    return "ModSecurity:" in msg or "Coraza:" in msg


def waf_message(msg: str, ev: Event, st: ParseState | None = None) -> None:
    """Fill ``ev`` from a ModSecurity or Coraza message (the part of a server's error line after its own tags)."""
    fields: dict[str, list[str]] = {}
    for k, v in _FIELD.findall(msg):
        fields.setdefault(k.lower(), []).append(v.replace('\\"', '"'))
    denied = _DENIED.search(msg)
    tags = fields.get("tag", [])
    _fill(ev, rule_id=_first(fields, "id"), name=_first(fields, "msg"), severity=_first(fields, "severity"),
          tags=tags, uri=_first(fields, "uri"), data=_first(fields, "data"), status=int(denied.group(1)) if denied else None,
          engine="coraza" if "Coraza:" in msg else "modsecurity", unique_id=_first(fields, "unique_id"))
    if "source.ip" not in ev and (cm := _CLIENT.search(msg)) and (ip := clean_ip(cm.group(1))):
        ev["source.ip"] = ip
    if st is not None:
        _transaction(ev, st)


_TX_MEMORY = 20_000


def _transaction(ev: Event, st: ParseState) -> None:
    """A request's matches arrive one line each, and in CRS's anomaly mode the refusal comes last with no
    attack tag of its own. Per stream, remember each transaction's attack classes (the refusal carries them)
    and whether one of its lines was already an attempt, and whether this firewall has refused anything yet
    (if not, it runs in detection-only mode)."""
    txs: dict[str, dict[str, Any]] = st.extra.setdefault("waf_tx", {})
    key = str(ev.get("transaction.id") or "") or f"{ev.get('source.ip')}|{ev.get('url.original')}|{ev.get('@timestamp')}"
    tx = txs.get(key)
    if tx is None:
        if len(txs) >= _TX_MEMORY:
            for k in list(txs)[: _TX_MEMORY // 2]:
                del txs[k]
        tx = txs[key] = {"classes": [], "counted": False}
    for c in ev.get("waf.attack_classes") or ():
        if c not in tx["classes"]:
            tx["classes"].append(c)
    verdict = ev.get("event.type") == "denied" or str(ev.get("rule.name") or "").startswith("Inbound Anomaly Score")
    if tx["classes"] and (verdict or "rule.category" not in ev):
        ev["rule.category"] = tx["classes"][0]
        ev["waf.attack_classes"] = list(tx["classes"])
    if ev.get("event.type") == "denied":
        st.extra["waf_refuses"] = True
    countable = ev.get("rule.category") in _ATTACKS or verdict
    ev["waf.first_in_transaction"] = countable and not tx["counted"]
    tx["counted"] = tx["counted"] or countable
    ev["waf.detection_only"] = not st.extra.get("waf_refuses")



def _first(fields: dict[str, list[str]], key: str) -> str | None:
    v = fields.get(key)
    return v[0] if v else None


def _fill(ev: Event, *, rule_id: str | None, name: str | None, severity: str | None, tags: list[str], uri: str | None,
          data: str | None, status: int | None, engine: str, unique_id: str | None) -> None:
    classes = sorted({ATTACK_CLASSES[t.lower()] for t in tags if t.lower() in ATTACK_CLASSES})
    ev.update({"event.dataset": "waf." + engine, "event.module": engine, "event.kind": "alert",
               "event.category": "intrusion_detection", "event.type": "denied" if status else "info",
               "event.outcome": "failure" if status else "unknown", "event.action": "blocked" if status else "matched"})
    if rule_id:
        ev["rule.id"] = rule_id
    if name:
        ev["rule.name"] = name
    if any(t.upper().startswith("OWASP_CRS") for t in tags):
        ev["rule.ruleset"] = "OWASP CRS"
    if classes:
        ev["rule.category"] = classes[0]
        ev["waf.attack_classes"] = classes
    if tags:
        ev["tags"] = tags
    if severity:
        ev["event.severity_name"] = _SEVERITY.get(severity, severity.lower())
    if uri:
        ev.setdefault("url.original", uri)
        ev.setdefault("url.path", uri.split("?", 1)[0])
    if data:
        ev["waf.matched_data"] = data[:500]
    if status:
        ev["http.response.status_code"] = status
    if unique_id:
        ev["transaction.id"] = unique_id


def is_modsec_audit(obj: dict[str, Any]) -> bool:
    t = obj.get("transaction")
    return isinstance(t, dict) and "client_ip" in t and ("messages" in t or "request" in t)


def parse_modsec_audit(obj: dict[str, Any], ev: Event) -> None:
    """ModSecurity v3's JSON audit log: one transaction, every rule that matched in ``messages``."""
    t = obj["transaction"]
    req, resp = t.get("request") or {}, t.get("response") or {}
    msgs = [m for m in t.get("messages") or [] if isinstance(m, dict)]
    details = [m.get("details") or {} for m in msgs]
    tags = [str(x) for d in details for x in d.get("tags") or []]
    # the rule that names the attack, not the anomaly-score verdict that follows it
    main = next((m for m, d in zip(msgs, details) if any(str(x).startswith("attack-") for x in d.get("tags") or [])),
                msgs[0] if msgs else {})
    code = resp.get("http_code")
    status = code if isinstance(code, int) and code >= 400 else None
    _fill(ev, rule_id=str((main.get("details") or {}).get("ruleId") or "") or None, name=main.get("message"),
          severity=str((main.get("details") or {}).get("severity") or "") or None, tags=tags, uri=req.get("uri"),
          data=(main.get("details") or {}).get("data"), status=status, engine="modsecurity",
          unique_id=t.get("unique_id"))
    if ip := clean_ip(str(t.get("client_ip") or "")):
        ev["source.ip"] = ip
    if req.get("method"):
        ev["http.request.method"] = req["method"]
    ev["rule.ids"] = [str(d.get("ruleId")) for d in details if d.get("ruleId")]


def classify(obj: dict[str, Any]) -> str | None:
    if is_modsec_audit(obj):
        return "modsecurity_audit"
    if "waf" in str(obj.get("logger") or "") and is_waf_message(str(obj.get("msg") or "")):
        return "waf_json"
    return None


def parse_waf_json(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """A server's JSON log line carrying a firewall message, as Caddy writes Coraza's."""
    ev: Event = {"event.original": text, "message": obj.get("msg")}
    ts = obj.get("ts")
    if isinstance(ts, (int, float)):
        ev["@timestamp"] = int(ts * 1_000_000)
    waf_message(str(obj["msg"]), ev, st)
    return ev


def parse_modsec_audit_json(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    ev: Event = {"event.original": text}
    parse_modsec_audit(obj, ev)
    stamp = (obj.get("transaction") or {}).get("time_stamp")
    if isinstance(stamp, str) and (us := strptime_us(stamp, "%a %b %d %H:%M:%S %Y", "%Y-%m-%dT%H:%M:%S%z")):
        ev["@timestamp"] = us
    _transaction(ev, st)
    return ev
