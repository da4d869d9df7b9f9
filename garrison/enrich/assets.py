"""Asset resolution: which machine an internal address belongs to, learned from the logs themselves.

Windows logon events name both the workstation and its address (``WorkstationName`` and ``IpAddress``);
DHCP leases would too. Network sensors (Zeek, firewalls) see only addresses, so without this a worm
sweep from 10.10.3.7 and ransomware on WS-00871 look like two unrelated things. Events from an internal
address the map knows gain ``garrison.source.host`` (the short host name, lower case), which triage uses
as a host entity. The map is bounded (least recently learned addresses go first).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

MAX_ADDRESSES = 500_000


class AssetMap:
    def __init__(self, max_addresses: int = MAX_ADDRESSES):
        self.hosts: OrderedDict[str, str] = OrderedDict()
        self.max = max_addresses

    def learn(self, ip: str, host: str) -> None:
        host = host.split(".")[0].strip().lower()
        if not host or host == "-" or ip in ("127.0.0.1", "::1", "-"):
            return
        self.hosts[ip] = host
        self.hosts.move_to_end(ip)
        if len(self.hosts) > self.max:
            self.hosts.popitem(last=False)

    def enrich(self, ev: dict[str, Any]) -> None:
        ip = ev.get("source.ip")
        if not ip or ev.get("garrison.source.zone") != "internal":
            return
        ws = ev.get("winlog.event_data.WorkstationName")
        if isinstance(ws, str) and ev.get("event.category") == "authentication":
            self.learn(ip, ws)
        host = self.hosts.get(ip)
        if host is not None:
            ev["garrison.source.host"] = host
