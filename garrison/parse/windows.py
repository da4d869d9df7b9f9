"""Windows events: NXLog/Winlogbeat JSON (OTRF), Winlogbeat's nested form, the evtx JSON form, XML.

Event data keeps its own names as ``winlog.event_data.<Name>`` so Sigma rules
match. Common fields are also mapped to ECS (process.*, user.name, source.ip,
host.name, event.outcome for logons).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from garrison.errors import ParseError
from garrison.model import Event
from garrison.parse._state import ParseState
from garrison.model.time import any_us, iso_us
from garrison.parse.util import clean_ip, to_int

# NXLog's own keys in OTRF JSON; everything else is event data.
_NXLOG_SYSTEM = frozenset(
    "EventTime EventReceivedTime SourceModuleName SourceModuleType Hostname Keywords EventType "
    "SeverityValue Severity EventID SourceName ProviderGuid Version Task OpcodeValue RecordNumber "
    "ExecutionProcessID ThreadID Channel Message Category Opcode @timestamp @version host port tags "
    "Domain AccountName UserID AccountType ActivityID RelatedActivityID ERROR_EVT_UNRESOLVED".split()
)

_DATASETS = {
    "security": "windows.security",
    "microsoft-windows-sysmon/operational": "windows.sysmon",
    "microsoft-windows-powershell/operational": "windows.powershell",
    "windows powershell": "windows.powershell",
    "system": "windows.system",
    "application": "windows.application",
}

_LOGON_OUTCOME = {4624: "success", 4625: "failure", 4771: "failure", 4648: "success"}
_USER_FIELDS = ("TargetUserName", "User", "SubjectUserName", "AccountName")
_IP_FIELDS = ("IpAddress", "SourceAddress", "SourceIp", "ClientAddress", "Workstation")
_SID_LIKE = re.compile(r"^S-\d-")


def _finish(ev: Event, channel: str | None, event_id: int | None, data: dict[str, Any]) -> Event:
    ev["event.kind"] = "event"
    if channel:
        ev["winlog.channel"] = channel
        ev["event.dataset"] = _DATASETS.get(channel.lower(), "windows.other")
    else:
        ev["event.dataset"] = "windows.other"
    if event_id is not None:
        ev["winlog.event_id"] = event_id
        ev["event.code"] = str(event_id)
    # Names with spaces (Defender's 'Threat Name') lose them, as Sigma rules spell them ('ThreatName').
    ev.update({"winlog.event_data." + (k if " " not in k else k.replace(" ", "")): v for k, v in data.items()})
    _ecs(ev, event_id, data)
    return ev


def _ecs(ev: Event, eid: int | None, d: dict[str, Any]) -> None:
    """Map well-known event data to ECS; the winlog.* names stay as they are."""
    get = d.get
    img = get("Image") or get("NewProcessName")
    if img and isinstance(img, str):
        ev["process.executable"] = img
        ev["process.name"] = img.rpartition("\\")[2]
    cl = get("CommandLine")
    if cl and isinstance(cl, str):
        ev["process.command_line"] = cl
    pid = get("ProcessId")
    if pid is not None and (pid := to_int(pid)) is not None:
        ev["process.pid"] = pid
    pimg = get("ParentImage") or get("ParentProcessName")
    if pimg and isinstance(pimg, str):
        ev["process.parent.executable"] = pimg
    for f in _USER_FIELDS:
        u = get(f)
        if u and isinstance(u, str) and u != "-" and not u.startswith("S-1-"):
            if "\\" in u:
                dom, _, u = u.partition("\\")
                ev["user.domain"] = dom
            ev["user.name"] = u
            break
    dom = get("TargetDomainName") or get("SubjectDomainName")
    if dom and isinstance(dom, str) and dom != "-":
        ev.setdefault("user.domain", dom)
    for f in _IP_FIELDS:
        v = get(f)
        if v and (ip := clean_ip(v)):
            ev["source.ip"] = ip
            break
    p = get("IpPort") or get("SourcePort")
    if p and (p := to_int(p)):
        ev["source.port"] = p
    v = get("DestinationIp") or get("DestAddress")
    if v and (ip := clean_ip(v)):
        ev["destination.ip"] = ip
    p = get("DestinationPort") or get("DestPort")
    if p is not None and (p := to_int(p)) is not None:
        ev["destination.port"] = p
    if eid in _LOGON_OUTCOME or eid == 4776:
        ev["event.category"] = "authentication"
        ev["event.type"] = "start"
        ev["event.action"] = "logon" if eid in (4624, 4625, 4648) else "credential_validation"
        if eid == 4776:
            ev["event.outcome"] = "success" if str(get("Status", "0x0")).lower() in ("0x0", "0") else "failure"
        else:
            ev["event.outcome"] = _LOGON_OUTCOME[eid]
    elif (eid == 1 and ev.get("event.dataset") == "windows.sysmon") or eid == 4688:
        ev["event.category"] = "process"
        ev["event.type"] = "start"


def parse_nxlog(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """Flat NXLog/OTRF JSON: EventID, Channel, Hostname and event data at top level."""
    eid = to_int(obj.get("EventID"))
    ev: Event = {"event.original": text}
    # @timestamp and TimeCreated are UTC; EventTime is the collector's local time, the last resort.
    stamp = obj.get("@timestamp") or obj.get("TimeCreated") or obj.get("EventTime")
    if stamp is not None:
        ev["@timestamp"] = any_us(stamp)
    host = obj.get("Hostname") or obj.get("host")
    if host:
        ev["host.name"] = host
    if obj.get("SourceName"):
        ev["winlog.provider_name"] = obj["SourceName"]
    if (rn := obj.get("RecordNumber")) is not None:
        ev["winlog.record_id"] = rn
    # The rendered Message is not copied to `message`: it is in event.original (searchable as free text),
    # and copying it would double the bytes stored per Windows event.
    data = {k: v for k, v in obj.items() if k not in _NXLOG_SYSTEM}
    return _finish(ev, obj.get("Channel"), eid, data)


def parse_winlogbeat(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """Winlogbeat: {"@timestamp", "winlog": {"channel", "event_id", "event_data", ...}}."""
    w = obj["winlog"]
    ev: Event = {"event.original": text}
    if obj.get("@timestamp"):
        ev["@timestamp"] = any_us(obj["@timestamp"])
    hostobj = obj.get("host")
    host = w.get("computer_name") or (hostobj.get("name") if isinstance(hostobj, dict) else None)
    if host:
        ev["host.name"] = host
    if w.get("provider_name"):
        ev["winlog.provider_name"] = w["provider_name"]
    if w.get("record_id") is not None:
        ev["winlog.record_id"] = w["record_id"]
    data = dict(w.get("event_data") or {})
    data.update(w.get("user_data") or {})
    return _finish(ev, w.get("channel"), to_int(w.get("event_id")), data)


def _attr(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        a = node.get("#attributes")
        if isinstance(a, dict):
            return a.get(name)
    return None


def _event_data(ed: Any, user_data: bool = False) -> dict[str, Any]:
    """EventData's named values; for UserData, the children of its single inner element."""
    if not isinstance(ed, dict):
        return {}
    if user_data:
        inner = [v for k, v in ed.items() if k != "#attributes"]
        if len(inner) == 1 and isinstance(inner[0], dict):
            ed = inner[0]
    out: dict[str, Any] = {}
    for k, v in ed.items():
        if k == "#attributes":
            continue
        if isinstance(v, dict) and "#text" in v:
            out[k] = v["#text"]
        else:
            out[k] = v
    return out


def parse_evtx_json(obj: dict[str, Any], text: str, st: ParseState) -> Event:
    """The JSON that the evtx package (and SigmaHQ's regression data) produces: Event.System/EventData."""
    e = obj.get("Event", obj)
    sysm = e.get("System") or {}
    ev: Event = {"event.original": text}
    eid_node = sysm.get("EventID")
    eid = to_int(eid_node.get("#text") if isinstance(eid_node, dict) else eid_node)
    stamp = _attr(sysm.get("TimeCreated"), "SystemTime")
    if stamp:
        ev["@timestamp"] = iso_us(stamp)
    if sysm.get("Computer"):
        ev["host.name"] = sysm["Computer"]
    prov = _attr(sysm.get("Provider"), "Name")
    if prov:
        ev["winlog.provider_name"] = prov
    if sysm.get("EventRecordID") is not None:
        ev["winlog.record_id"] = sysm["EventRecordID"]
    data = _event_data(e.get("EventData"))
    if "UserData" in e:
        data.update(_event_data(e["UserData"], user_data=True))
    return _finish(ev, sysm.get("Channel"), eid, data)


_NS = re.compile(r"\{[^}]*\}")


def parse_windows_xml(text: str, st: ParseState) -> Event:
    """One <Event xmlns=...> document per line (Windows Event Forwarding, crowdsec's wineventlog)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ParseError(f"Windows event XML: {e}") from e
    ev: Event = {"event.original": text}
    sysm: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for child in root:
        tag = _NS.sub("", child.tag)
        if tag == "System":
            for s in child:
                stag = _NS.sub("", s.tag)
                sysm[stag] = (s.text or "").strip() or dict(s.attrib)
        elif tag in ("EventData", "UserData"):
            for d in child.iter():
                if d is child:
                    continue
                name = d.attrib.get("Name") or _NS.sub("", d.tag)
                if d.text and d.text.strip():
                    data[name] = d.text.strip()
    tc = sysm.get("TimeCreated")
    if isinstance(tc, dict) and tc.get("SystemTime"):
        ev["@timestamp"] = iso_us(tc["SystemTime"])
    if isinstance(sysm.get("Computer"), str):
        ev["host.name"] = sysm["Computer"]
    prov = sysm.get("Provider")
    if isinstance(prov, dict) and prov.get("Name"):
        ev["winlog.provider_name"] = prov["Name"]
    ch = sysm.get("Channel")
    return _finish(ev, ch if isinstance(ch, str) else None, to_int(sysm.get("EventID")), data)


def classify(obj: dict[str, Any]) -> str | None:
    if "Event" in obj and isinstance(obj["Event"], dict) and "System" in obj["Event"]:
        return "evtx_json"
    if "winlog" in obj and isinstance(obj["winlog"], dict):
        return "winlogbeat"
    if "EventID" in obj and ("Channel" in obj or "SourceName" in obj):
        return "nxlog"
    return None


def check(obj: dict[str, Any]) -> None:
    if classify(obj) is None:
        raise ParseError("not a Windows event: no Event.System, winlog or EventID/Channel keys")
