"""Microsoft cloud logs: Entra ID sign-in and audit logs, and the Microsoft 365 unified audit log.

Accepts the Azure Monitor / Event Hub export shape (``properties`` wrapper,
any key case) and the Graph API shape (fields at top level). Nested values are
kept under ``azure.signinlogs.*``, ``azure.auditlogs.*`` and ``o365.audit.*``.
"""

from __future__ import annotations

from typing import Any

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.model.time import any_us
from garrison.parse.util import clean_ip

_LEGACY_CLIENTS = frozenset(
    c.lower() for c in (
        "Exchange ActiveSync", "IMAP", "IMAP4", "POP", "POP3", "SMTP", "Authenticated SMTP",
        "Exchange Web Services", "Other clients", "MAPI Over HTTP", "Offline Address Book",
        "Outlook Anywhere (RPC over HTTP)", "Exchange Online PowerShell", "AutoDiscover",
    )
)


def _ci(d: dict[str, Any], *names: str) -> Any:
    """Case-insensitive get of the first present key."""
    for n in names:
        if n in d:
            return d[n]
    lower = {k.lower(): v for k, v in d.items()}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _category(obj: dict[str, Any]) -> str:
    return str(_ci(obj, "category") or "")


def classify(obj: dict[str, Any]) -> str | None:
    cat = _category(obj).lower()
    props = _ci(obj, "properties")
    if "signin" in cat:
        return "entra_signin"
    if cat == "auditlogs" or (isinstance(props, dict) and "initiatedBy" in props and "activityDisplayName" in props):
        return "entra_audit"
    low = {k.lower() for k in obj}
    if "creationtime" in low and "operation" in low and ("workload" in low or "recordtype" in low):
        return "m365"
    if "userPrincipalName" in obj and "status" in obj and "createdDateTime" in obj:
        return "entra_signin"
    return None


def parse_signin(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    p = _ci(obj, "properties")
    p = p if isinstance(p, dict) else obj
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "entra.signin",
                 "event.category": "authentication", "event.type": "start", "event.action": "sign_in",
                 "observer.product": "Entra ID"}
    stamp = _ci(p, "createdDateTime") or _ci(obj, "time", "p_event_time")
    if stamp:
        ev["@timestamp"] = any_us(stamp)
    user = _ci(p, "userPrincipalName") or _ci(obj, "identity")
    if user:
        ev["user.name"] = user
        if "@" in str(user):
            ev["user.domain"] = str(user).split("@", 1)[1]
    if ip := clean_ip(_ci(p, "ipAddress") or _ci(obj, "callerIpAddress")):
        ev["source.ip"] = ip
    status = _ci(p, "status") or {}
    code = status.get("errorCode") if isinstance(status, dict) else None
    if code is not None:
        ev["event.outcome"] = "success" if int(code) == 0 else "failure"
        ev["error.code"] = str(code)
        if isinstance(status, dict) and status.get("failureReason"):
            ev["error.message"] = status["failureReason"]
    loc = _ci(p, "location")
    if isinstance(loc, dict):
        if loc.get("countryOrRegion"):
            ev["garrison.reported_country"] = loc["countryOrRegion"]
        geo = loc.get("geoCoordinates") or {}
        if isinstance(geo, dict) and geo.get("latitude") is not None:
            ev["source.geo.location"] = {"lat": geo.get("latitude"), "lon": geo.get("longitude")}
    client = _ci(p, "clientAppUsed")
    if isinstance(client, str):
        ev["azure.signinlogs.client_app_used"] = client
        ev["garrison.legacy_auth"] = client.lower() in _LEGACY_CLIENTS
    app = _ci(p, "appDisplayName")
    if app:
        ev["azure.signinlogs.app_display_name"] = app
    ua = _ci(p, "userAgent")
    if ua:
        ev["user_agent.original"] = ua
    ev["azure.signinlogs.category"] = _category(obj)
    for k in ("authenticationRequirement", "riskLevelDuringSignIn", "riskState", "conditionalAccessStatus",
              "isInteractive", "mfaDetail", "authenticationDetails", "appId", "resourceDisplayName",
              "deviceDetail", "authenticationProtocol"):
        v = _ci(p, k)
        if v is not None:
            ev["azure.signinlogs.properties." + k] = v
    return ev


def parse_audit(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    p = _ci(obj, "properties")
    p = p if isinstance(p, dict) else obj
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "entra.audit",
                 "event.category": "iam", "observer.product": "Entra ID"}
    stamp = _ci(p, "activityDateTime") or _ci(obj, "time")
    if stamp:
        ev["@timestamp"] = any_us(stamp)
    action = _ci(p, "activityDisplayName") or _ci(obj, "operationName")
    if action:
        ev["event.action"] = action
    res = str(_ci(p, "result") or "").lower()
    if res:
        ev["event.outcome"] = "success" if res == "success" else "failure"
    init = _ci(p, "initiatedBy") or {}
    actor = (init.get("user") or init.get("app") or {}) if isinstance(init, dict) else {}
    if isinstance(actor, dict):
        name = actor.get("userPrincipalName") or actor.get("displayName")
        if name:
            ev["user.name"] = name
        if ip := clean_ip(actor.get("ipAddress")):
            ev["source.ip"] = ip
    if "source.ip" not in ev and (ip := clean_ip(_ci(obj, "callerIpAddress"))):
        ev["source.ip"] = ip
    targets = _ci(p, "targetResources")
    if isinstance(targets, list) and targets:
        t0 = targets[0] if isinstance(targets[0], dict) else {}
        tname = t0.get("userPrincipalName") or t0.get("displayName")
        if tname:
            ev["user.target.name"] = tname
        ev["azure.auditlogs.properties.target_resources"] = targets
    for k in ("operationType", "loggedByService", "category", "additionalDetails"):
        v = _ci(p, k)
        if v is not None:
            ev["azure.auditlogs.properties." + k] = v
    return ev


def parse_m365(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """Unified audit log record; key case varies between exports (Panther lower-cases them)."""
    o = {k.lower(): v for k, v in obj.items()}
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "m365.audit",
                 "observer.product": "Microsoft 365"}
    if o.get("creationtime"):
        ev["@timestamp"] = any_us(o["creationtime"])
    op = str(o.get("operation") or "")
    ev["event.action"] = op
    workload = o.get("workload")
    if workload:
        ev["event.provider"] = workload
    if o.get("userid"):
        ev["user.name"] = o["userid"]
    if ip := clean_ip(o.get("clientip") or o.get("clientipaddress") or o.get("actoripaddress")):
        ev["source.ip"] = ip
    status = str(o.get("resultstatus") or "").lower()
    if status in ("succeeded", "success", "true", "partiallysucceeded"):
        ev["event.outcome"] = "success"
    elif status in ("failed", "failure", "false"):
        ev["event.outcome"] = "failure"
    if op.startswith("UserLogin") or op == "UserLoggedIn":
        ev["event.category"] = "authentication"
        # UserLoginFailed records often carry ResultStatus "Success" (the audit write succeeded): the
        # operation says what happened to the sign-in.
        ev["event.outcome"] = "failure" if op == "UserLoginFailed" else "success"
    else:
        ev["event.category"] = {"AzureActiveDirectory": "iam", "Exchange": "email", "SharePoint": "file",
                                "OneDrive": "file"}.get(str(workload), "configuration")
    # Exchange message records (user submissions, quarantine, message events) name the mail.
    sender = o.get("sender") or o.get("senderaddress") or o.get("p1sender") or o.get("p2sender")
    if isinstance(sender, str) and "@" in sender:
        ev["email.from.address"] = sender
    if isinstance(o.get("subject"), str):
        ev["email.subject"] = o["subject"]
    for k, v in obj.items():
        if k.lower() not in ("creationtime", "operation", "userid", "clientip") and not k.startswith("p_"):
            ev["o365.audit." + k] = v
    return ev


_SEVERITY = {"informational": 1, "low": 2, "medium": 3, "high": 4}


def parse_graph_alert(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """A Microsoft Graph security alert (alerts_v2): Defender XDR, Entra ID Protection, Defender for Office."""
    ev: Event = {"event.original": text, "event.kind": "alert", "event.dataset": "microsoft.alert",
                 "event.category": "threat", "observer.product": str(obj.get("serviceSource") or "Microsoft 365 Defender")}
    stamp = obj.get("lastUpdateDateTime") or obj.get("createdDateTime")
    if stamp:
        ev["@timestamp"] = any_us(stamp)
    if obj.get("title"):
        ev["rule.name"] = str(obj["title"])
    sev = str(obj.get("severity") or "").lower()
    if sev in _SEVERITY:
        ev["event.severity"] = _SEVERITY[sev]
        ev["microsoft.alert.severity"] = sev
    for k in ("id", "status", "category", "detectionSource", "serviceSource", "classification", "determination",
              "incidentId", "providerAlertId", "alertWebUrl", "description"):
        if obj.get(k) is not None:
            ev[f"microsoft.alert.{k}"] = obj[k]
    techniques = obj.get("mitreTechniques")
    if isinstance(techniques, list):
        ev["threat.technique.id"] = [str(t) for t in techniques][:50]
    for e in obj.get("evidence") or []:
        if not isinstance(e, dict):
            continue
        acct = e.get("userAccount") if isinstance(e.get("userAccount"), dict) else {}
        upn = acct.get("userPrincipalName") or acct.get("accountName")
        if upn and "user.name" not in ev:
            ev["user.name"] = str(upn)
        if (ip := clean_ip(e.get("ipAddress"))) and "source.ip" not in ev:
            ev["source.ip"] = ip
        device = e.get("deviceDnsName") or e.get("hostName")
        if device and "host.name" not in ev:
            ev["host.name"] = str(device)
    return ev


def parse_risky_user(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """An Entra ID Protection risky user (Graph identityProtection/riskyUsers)."""
    ev: Event = {"event.original": text, "event.kind": "event", "event.dataset": "entra.risky_user",
                 "event.category": "iam", "observer.product": "Entra ID Protection"}
    stamp = obj.get("riskLastUpdatedDateTime")
    if stamp:
        ev["@timestamp"] = any_us(stamp)
    if obj.get("userPrincipalName"):
        ev["user.name"] = str(obj["userPrincipalName"])
    for k in ("id", "riskLevel", "riskState", "riskDetail", "isDeleted", "isProcessing", "userDisplayName"):
        if obj.get(k) is not None:
            ev[f"entra.risky_user.{k}"] = obj[k]
    return ev


def check(obj: dict[str, Any]) -> None:
    if classify(obj) is None:
        raise ParseError("not an Entra ID or Microsoft 365 audit record")
