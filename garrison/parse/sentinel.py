"""History brought from Microsoft Sentinel: rows of Log Analytics tables, as `az monitor log-analytics query`
or the API export them (JSON objects, one per row; a JSON array of rows is read too).

Each table's row is reshaped into the record the same data has when pulled from Microsoft's APIs, then
handed to that record's parser, so the same ECS fields come out and the same rules fire:
- SigninLogs -> Graph's signIn (Status, LocationDetails, DeviceDetail are JSON in strings);
- AuditLogs -> Graph's directoryAudit (InitiatedBy, TargetResources, AdditionalDetails likewise);
- OfficeActivity -> the unified audit log record;
- SecurityEvent -> a flat Windows event (EventID, Channel, Computer and the event data columns);
- AlertEvidence (Defender XDR) -> a Graph security alert with its evidence;
- EmailEvents and UrlClickEvents (Defender for Office 365) -> message deliveries and Safe Links clicks in ECS
  ``email.*`` and ``url.*``, which the campaign finder of a reported phish searches.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse import microsoft
from garrison.parse.windows import parse_nxlog
from garrison.parse._state import ParseState
from garrison.parse.util import clean_ip
from garrison.model.time import any_us

TABLES = ("SigninLogs", "AADNonInteractiveUserSignInLogs", "AuditLogs", "OfficeActivity", "SecurityEvent", "AlertEvidence",
          "EmailEvents", "UrlClickEvents")
_SKIP = {"TenantId", "SourceSystem", "Type", "_ResourceId", "_ItemId", "_Internal_WorkspaceResourceId", "MG",
         "ManagementGroupName"}


def table_of(obj: dict[str, Any]) -> str | None:
    """The Log Analytics table a row comes from: its Type column, or its shape."""
    t = obj.get("Type")
    if t in TABLES:
        return str(t)
    if "TimeGenerated" not in obj:
        return None
    if "OfficeWorkload" in obj:
        return "OfficeActivity"
    if "EventID" in obj and "Computer" in obj:
        return "SecurityEvent"
    if "AlertId" in obj and "EvidenceRole" in obj:
        return "AlertEvidence"
    if "InitiatedBy" in obj and "OperationName" in obj:
        return "AuditLogs"
    if "ResultType" in obj and "UserPrincipalName" in obj:
        return "SigninLogs"
    if "NetworkMessageId" in obj and "RecipientEmailAddress" in obj:
        return "EmailEvents"
    if "NetworkMessageId" in obj and "Url" in obj and "AccountUpn" in obj:
        return "UrlClickEvents"
    return None


def _json(v: Any) -> Any:
    """A JSON-in-string column decoded (an empty or broken one is None: the rest of the row still counts)."""
    if isinstance(v, (dict, list)):
        return v
    if isinstance(v, str) and v[:1] in "{[":
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return None
    return None


def _signin(o: dict[str, Any]) -> dict[str, Any]:
    status = _json(o.get("Status")) or {}
    if "errorCode" not in status and o.get("ResultType") not in (None, ""):
        try:
            status["errorCode"] = int(o["ResultType"])
        except (TypeError, ValueError):
            status["errorCode"] = o["ResultType"]
    if o.get("ResultDescription") and "failureReason" not in status:
        status["failureReason"] = o["ResultDescription"]
    rec = {"id": o.get("Id") or o.get("CorrelationId"), "createdDateTime": o.get("CreatedDateTime") or o["TimeGenerated"],
           "userPrincipalName": o.get("UserPrincipalName"), "userDisplayName": o.get("UserDisplayName"),
           "ipAddress": o.get("IPAddress"), "appDisplayName": o.get("AppDisplayName"),
           "clientAppUsed": o.get("ClientAppUsed"), "status": status,
           "location": _json(o.get("LocationDetails")) or {"countryOrRegion": o.get("Location")},
           "deviceDetail": _json(o.get("DeviceDetail")), "conditionalAccessStatus": o.get("ConditionalAccessStatus"),
           "riskLevelDuringSignIn": o.get("RiskLevelDuringSignIn"), "authenticationRequirement": o.get("AuthenticationRequirement"),
           "userAgent": o.get("UserAgent")}
    return {k: v for k, v in rec.items() if v not in (None, "")}


def _audit(o: dict[str, Any]) -> dict[str, Any]:
    rec = {"id": o.get("Id"), "activityDisplayName": o.get("OperationName") or o.get("ActivityDisplayName"),
           "activityDateTime": o.get("ActivityDateTime") or o["TimeGenerated"], "category": o.get("Category"),
           "result": o.get("Result"), "resultReason": o.get("ResultReason"), "loggedByService": o.get("LoggedByService"),
           "initiatedBy": _json(o.get("InitiatedBy")) or {}, "targetResources": _json(o.get("TargetResources")) or [],
           "additionalDetails": _json(o.get("AdditionalDetails")) or []}
    return {"properties": {k: v for k, v in rec.items() if v not in (None, "")}, "category": "AuditLogs"}


def _office(o: dict[str, Any]) -> dict[str, Any]:
    rec = {k: v for k, v in o.items() if k not in _SKIP and v not in (None, "")}
    rec["CreationTime"] = o["TimeGenerated"]
    rec["Workload"] = o.get("OfficeWorkload")
    if o.get("OfficeId"):
        rec["Id"] = o["OfficeId"]
    for k in ("Parameters", "ModifiedProperties", "ExtendedProperties"):
        if isinstance(o.get(k), str) and (v := _json(o[k])) is not None:
            rec[k] = v
    return rec


def _security_event(o: dict[str, Any]) -> dict[str, Any]:
    rec = {k: v for k, v in o.items() if k not in _SKIP and v not in (None, "") and k not in ("EventData", "Computer")}
    rec["Channel"] = o.get("Channel") or "Security"
    rec["Hostname"] = o.get("Computer")
    rec["@timestamp"] = o["TimeGenerated"]
    return rec


def _alert(o: dict[str, Any]) -> dict[str, Any]:
    evidence = {"userAccount": {"userPrincipalName": o.get("AccountUpn")} if o.get("AccountUpn") else {},
                "ipAddress": o.get("RemoteIP"), "deviceDnsName": o.get("DeviceName")}
    techniques = _json(o.get("AttackTechniques")) or ([o["AttackTechniques"]] if o.get("AttackTechniques") else [])
    return {"id": o.get("AlertId"), "title": o.get("Title"), "severity": str(o.get("Severity") or "").lower(),
            "lastUpdateDateTime": o.get("Timestamp") or o["TimeGenerated"], "serviceSource": o.get("ServiceSource"),
            "detectionSource": o.get("DetectionSource"), "category": o.get("Categories"), "evidence": [evidence],
            "mitreTechniques": [str(t) for t in techniques] if isinstance(techniques, list) else []}


def parse_sentinel(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    table = table_of(obj)
    if table is None:
        raise ParseError("not a Log Analytics row of " + ", ".join(TABLES) + " "
                         "(no Type column, and no shape of one)")
    if "TimeGenerated" not in obj:
        raise ParseError(f"{table} row without TimeGenerated")
    if table in ("SigninLogs", "AADNonInteractiveUserSignInLogs"):
        ev = microsoft.parse_signin(_signin(obj), text, st)
    elif table == "AuditLogs":
        ev = microsoft.parse_audit(_audit(obj), text, st)
    elif table == "OfficeActivity":
        ev = microsoft.parse_m365(_office(obj), text, st)
    elif table == "SecurityEvent":
        ev = parse_nxlog(_security_event(obj), text, st)
    elif table in ("EmailEvents", "UrlClickEvents"):
        ev = _mail_row(obj, table, text)
    else:
        ev = microsoft.parse_graph_alert(_alert(obj), text, st)
    ev["event.module"] = "sentinel"
    ev["sentinel.table"] = table
    return ev


def _mail_row(o: dict[str, Any], table: str, text: str) -> Event:
    """A Defender for Office 365 delivery (EmailEvents) or Safe Links click (UrlClickEvents)."""
    ev: Event = {"event.original": text, "event.kind": "event", "event.category": "email", "@timestamp": any_us(o["TimeGenerated"]),
                 "observer.product": "Microsoft Defender for Office 365"}
    if table == "EmailEvents":
        ev.update({"event.dataset": "m365.email", "event.action": str(o.get("DeliveryAction") or "delivered").lower(),
                   "email.to.address": str(o.get("RecipientEmailAddress") or "").lower(),
                   "user.name": str(o.get("RecipientEmailAddress") or "").lower(),
                   "email.from.address": str(o.get("SenderFromAddress") or o.get("SenderMailFromAddress") or "").lower(),
                   "email.subject": str(o.get("Subject") or ""), "email.message_id": str(o.get("InternetMessageId") or ""),
                   "email.direction": str(o.get("EmailDirection") or "").lower()})
        ev["event.outcome"] = "failure" if ev["event.action"] in ("blocked", "junked", "replaced") else "success"
        if ip := clean_ip(o.get("SenderIPv4") or o.get("SenderIPv6")):
            ev["source.ip"] = ip
    else:
        url = str(o.get("Url") or "")
        ev.update({"event.dataset": "m365.url_click", "event.category": "web", "event.action": str(o.get("ActionType") or "click"),
                   "user.name": str(o.get("AccountUpn") or "").lower(), "url.original": url,
                   "url.domain": (urlsplit(url).hostname or "") if "://" in url else ""})
        ev["event.outcome"] = "failure" if "blocked" in ev["event.action"].lower() else "success"
        if ip := clean_ip(o.get("IPAddress")):
            ev["source.ip"] = ip
    ev["o365.network_message_id"] = str(o.get("NetworkMessageId") or "")
    return {k: v for k, v in ev.items() if v != ""}
