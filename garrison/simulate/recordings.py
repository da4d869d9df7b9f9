"""Real attack recordings (OTRF Security Datasets) spliced into a simulated day.

A recording is a zip of one JSON-lines file of Windows events (Sysmon, Security, PowerShell) with the
lab's background noise. Its times are shifted so it starts at the chosen moment, and its lab host
names are replaced by hosts of the simulated organisation (domain controllers by a DC, the rest by one
workstation each), so that the events join the simulated estate as if they had happened there.
"""

from __future__ import annotations

import random
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from garrison.simulate.attacks import Attack, Scene
from garrison.simulate.logs import Logs
from garrison.simulate.org import Org

# Recordings of well-known serious techniques, preferred when present.
PREFERRED = [
    "credential_access/host/empire_mimikatz_logonpasswords.zip",
    "credential_access/host/psh_lsass_memory_dump_comsvcs.zip",
    "credential_access/host/cmd_psexec_lsa_secrets_dump.zip",
    "credential_access/host/cmd_sam_copy_esentutl.zip",
    "credential_access/host/cmd_dumping_ntds_dit_file_volume_shadow_copy.zip",
    "lateral_movement/host/empire_psexec_dcerpc_tcp_svcctl.zip",
    "lateral_movement/host/empire_wmic_add_user_backdoor.zip",
    "defense_evasion/host/cmd_bitsadmin_download_psh_script.zip",
]
_FMT_LOCAL = "%Y-%m-%d %H:%M:%S"


def find_recordings(root: Path) -> list[Path]:
    """Recordings under ``root``: the preferred ones first (when present), then the rest, in a fixed order."""
    every = sorted(p for p in root.rglob("*.zip") if not p.name.startswith("._"))
    preferred = [p for rel in PREFERRED for p in every if p.as_posix().endswith(rel)]
    return preferred + [p for p in every if p not in preferred]


def read_recording(path: Path) -> list[dict[str, Any]]:
    out = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith(".json") and not name.split("/")[-1].startswith("._"):
                with z.open(name) as f:
                    for line in f:
                        line = line.strip()
                        if line:
                            try:
                                obj = orjson.loads(line)
                            except orjson.JSONDecodeError:
                                continue  # the recordings hold a few truncated lines; the parser would reject them too
                            if isinstance(obj, dict) and _stamp_key(obj):
                                out.append(obj)
    return out


def _stamp_key(obj: dict[str, Any]) -> str | None:
    """The UTC time field of a recording's event: '@timestamp' (Logstash) or 'TimeCreated' (NXLog)."""
    return "@timestamp" if obj.get("@timestamp") else "TimeCreated" if obj.get("TimeCreated") else None


def _parse_iso(s: str) -> datetime:
    d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _shift_local(value: Any, delta: timedelta) -> Any:
    if not isinstance(value, str) or len(value) < 19:
        return value
    try:
        head = datetime.strptime(value[:19], _FMT_LOCAL)
    except ValueError:
        return value
    return (head + delta).strftime(_FMT_LOCAL) + value[19:]


def splice(logs: Logs, org: Org, rng: random.Random, path: Path, at_us: int, attack_id: str) -> Attack:
    events = read_recording(path)
    a = Attack(attack_id, "recording", f"Recorded attack: {path.stem.replace('_', ' ')}", serious=True)
    if not events:
        return a
    first = min(_parse_iso(e[_stamp_key(e) or ""]) for e in events)
    delta = datetime.fromtimestamp(at_us / 1e6, tz=timezone.utc) - first
    hosts: dict[str, str] = {}
    dcs = [org.fqdn("dc01"), org.fqdn("dc02")]
    with Scene(logs, a):
        for e in events:
            lab = str(e.get("Hostname") or "")
            if lab and lab not in hosts:
                short = lab.split(".")[0].lower()
                hosts[lab] = dcs[len(hosts) % 2] if "dc" in short else org.fqdn(rng.choice(org.people).workstation)
            if lab:
                e["Hostname"] = hosts[lab]
            key = _stamp_key(e) or ""
            t = _parse_iso(e[key]) + delta
            e[key] = t.isoformat(timespec="milliseconds").replace("+00:00", "Z") if key == "@timestamp" else \
                t.strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
            for key in ("EventTime", "EventReceivedTime", "UtcTime"):
                if key in e:
                    e[key] = _shift_local(e[key], delta)
            logs.add("windows.json", int(t.timestamp() * 1_000_000), orjson.dumps(e).decode())
    a.entities["host"] = sorted(set(hosts.values()))
    return a
