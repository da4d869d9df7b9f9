"""Network sensors: Zeek JSON logs and Suricata eve.json."""

from __future__ import annotations

from typing import Any

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.model.time import any_us
from garrison.parse.util import clean_ip, to_int

_ZEEK_CATEGORY = {
    "conn": "network", "dns": "network", "http": "web", "ssl": "network", "ssh": "authentication",
    "rdp": "network", "smb_files": "file", "smb_mapping": "network", "ntlm": "authentication",
    "kerberos": "authentication", "notice": "intrusion_detection", "weird": "network", "files": "file",
    "ftp": "network", "smtp": "email", "x509": "network", "dce_rpc": "network", "ldap_search": "network",
}
_ZEEK_DONE = frozenset(("ts", "_path", "_write_ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service", "uid"))


_SECOND_LEVEL = frozenset(("co", "com", "org", "net", "gov", "ac", "edu", "ltd", "plc", "nhs", "police", "sch", "mod"))


def registered_domain(name: str) -> str | None:
    """The domain a name was registered under: 'a.b.example.com' -> 'example.com', 'x.council.gov.uk' ->
    'council.gov.uk' (a short second-level list, not the whole public-suffix list)."""
    labels = [x for x in name.lower().rstrip(".").split(".") if x]
    if len(labels) < 2:
        return None
    n = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-n:])


def parse_zeek(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    path = obj.get("_path") or st.extra.get("zeek_path") or "unknown"
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": f"zeek.{path}",
                 "event.category": _ZEEK_CATEGORY.get(path, "network"), "observer.type": "ids",
                 "observer.product": "zeek"}
    if obj.get("ts") is not None:
        ev["@timestamp"] = any_us(obj["ts"])
    if ip := clean_ip(obj.get("id.orig_h")):
        ev["source.ip"] = ip
    if (p := to_int(obj.get("id.orig_p"))) is not None:
        ev["source.port"] = p
    if ip := clean_ip(obj.get("id.resp_h")):
        ev["destination.ip"] = ip
    if (p := to_int(obj.get("id.resp_p"))) is not None:
        ev["destination.port"] = p
    if obj.get("proto"):
        ev["network.transport"] = str(obj["proto"]).lower()
    if obj.get("service"):
        ev["network.protocol"] = obj["service"]
    if obj.get("uid"):
        ev["zeek.session_id"] = obj["uid"]
    if path == "dns" and obj.get("query"):
        ev["dns.question.name"] = obj["query"]
        if rd := registered_domain(str(obj["query"])):
            ev["dns.question.registered_domain"] = rd
    if path in ("ssh", "rdp", "ntlm", "kerberos"):
        ok = obj.get("auth_success", obj.get("success"))
        if isinstance(ok, bool):
            ev["event.outcome"] = "success" if ok else "failure"
        user = obj.get("username") or obj.get("client") if path in ("ntlm", "kerberos") else obj.get("cookie")
        if isinstance(user, str) and user and path != "ssh":
            ev["user.name"] = user.split("/")[0]
    if path == "notice":
        ev["event.kind"] = "alert"
        if obj.get("note"):
            ev["rule.name"] = obj["note"]
    for k, v in obj.items():
        if k not in _ZEEK_DONE:
            ev[f"zeek.{path}.{k}"] = v
    return ev


def parse_suricata(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    et = obj.get("event_type", "unknown")
    ev: Event = {"event.original": text, "event.kind": "alert" if et == "alert" else "event",
                 "event.dataset": "suricata.eve", "event.action": et, "observer.type": "ids",
                 "observer.product": "suricata", "event.category": "intrusion_detection" if et == "alert" else "network"}
    if obj.get("timestamp"):
        ev["@timestamp"] = any_us(obj["timestamp"])
    if ip := clean_ip(obj.get("src_ip")):
        ev["source.ip"] = ip
    if (p := to_int(obj.get("src_port"))) is not None:
        ev["source.port"] = p
    if ip := clean_ip(obj.get("dest_ip")):
        ev["destination.ip"] = ip
    if (p := to_int(obj.get("dest_port"))) is not None:
        ev["destination.port"] = p
    if obj.get("proto"):
        ev["network.transport"] = str(obj["proto"]).lower()
    if obj.get("app_proto"):
        ev["network.protocol"] = obj["app_proto"]
    alert = obj.get("alert")
    if isinstance(alert, dict):
        ev["rule.name"] = alert.get("signature")
        ev["rule.id"] = str(alert.get("signature_id", ""))
        ev["rule.category"] = alert.get("category")
        if (sev := to_int(alert.get("severity"))) is not None:
            ev["event.severity"] = sev
        act = alert.get("action")
        if act:
            ev["event.type"] = "denied" if act == "blocked" else "allowed"
            ev["event.outcome"] = "failure" if act == "blocked" else "success"
    http = obj.get("http")
    if isinstance(http, dict):
        if http.get("url"):
            ev["url.original"] = http["url"]
            ev["url.path"] = http["url"].split("?", 1)[0]
        if http.get("hostname"):
            ev["url.domain"] = http["hostname"]
        if http.get("http_method"):
            ev["http.request.method"] = http["http_method"]
        if (s := to_int(http.get("status"))) is not None:
            ev["http.response.status_code"] = s
        if http.get("http_user_agent"):
            ev["user_agent.original"] = http["http_user_agent"]
    for k, v in obj.items():
        if k not in ("timestamp", "src_ip", "src_port", "dest_ip", "dest_port", "proto"):
            ev["suricata.eve." + k] = v
    return ev


def classify(obj: dict[str, Any]) -> str | None:
    if "_path" in obj or ("uid" in obj and "id.orig_h" in obj):
        return "zeek"
    if "event_type" in obj and ("src_ip" in obj or "flow_id" in obj or "timestamp" in obj):
        return "suricata"
    return None


def check(obj: dict[str, Any]) -> None:
    if classify(obj) is None:
        raise ParseError("not a Zeek or Suricata record")
