"""Bans against fail2ban's and CrowdSec's on the same log: loghub's real OpenSSH_2k.log.

fail2ban itself (Debian's package) reads the file through ``fail2ban-regex`` with its own sshd filter; its
default jail bans a source with 5 failures within 10 minutes (maxretry, findtime).

CrowdSec itself (Debian's package, unpacked, not installed: its installer registers online) replays the file
in time-machine mode (``crowdsec -dsn file://...``) with the hub's ``crowdsecurity/linux`` collection from
the package's offline hub and its default profile (ban 4 h); its local API writes the decisions to a
temporary SQLite database, which is read back.

Garrison imports the same file with its default configuration, and its decisions are compared address by
address.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from garrison.config import load_config
from garrison.pipeline.runner import build_live_pipeline, import_paths
from garrison.respond.decisions import list_decisions
from garrison.store import EventStore, open_state

SSHD_LOG = "loghub/OpenSSH/OpenSSH_2k.log"
SSHD_FILTER = "/etc/fail2ban/filter.d/sshd.conf"
# Where `make test-deps` unpacks Debian's crowdsec package; GARRISON_CROWDSEC names another unpacked root.
CROWDSEC_ROOT = Path(__file__).resolve().parents[2] / ".ci" / "crowdsec"


def fail2ban_bans(log: Path, filt: str = SSHD_FILTER, maxretry: int = 5, findtime: float = 600) -> set[str] | None:
    """The addresses fail2ban's jail would ban; None when fail2ban is not installed."""
    exe = shutil.which("fail2ban-regex")
    if exe is None or not Path(filt).exists():
        return None
    out = subprocess.run([exe, "-o", "row", str(log), filt], capture_output=True, text=True, check=True).stdout
    times: dict[str, list[float]] = defaultdict(list)
    for line in out.splitlines():
        line = line.strip().rstrip(",")
        if line.startswith("["):  # ['1.2.3.4',\t1765349746.0,\t{...}]
            ip, t = line[1:].split(",", 2)[:2]
            times[ast.literal_eval(ip.strip())].append(float(t))
    bans = set()
    for ip, ts in times.items():
        ts.sort()
        if any(ts[i + maxretry - 1] - ts[i] <= findtime for i in range(len(ts) - maxretry + 1)):
            bans.add(ip)
    return bans


def garrison_bans(log: Path) -> set[str]:
    """The addresses Garrison bans importing ``log`` with its default configuration."""
    with tempfile.TemporaryDirectory(prefix="garrison-bans-") as d:
        cfg = load_config(None, data_dir=d)
        engine = open_state(d)
        import_paths(build_live_pipeline(cfg, engine), EventStore(d, engine), [log])
        return {x.value for x in list_decisions(engine, active_only=False) if x.scope == "ip" and not x.simulated}


def crowdsec_root() -> Path | None:
    """The unpacked crowdsec package (usr/bin/crowdsec, the offline hub, etc/crowdsec), if there is one."""
    root = Path(os.environ.get("GARRISON_CROWDSEC", CROWDSEC_ROOT))
    if (root / "usr/bin/crowdsec").exists() and (root / "usr/share/crowdsec/hub/.index.json").exists():
        return root
    return None


def hub_items(hub: Path, collection: str) -> dict[str, list[str]]:
    """The hub files (relative paths) a collection installs, its sub-collections followed; items the offline
    hub doesn't ship (geoip-enrich, whose databases are downloaded) are left out."""
    index = json.loads((hub / ".index.json").read_text())
    out: dict[str, list[str]] = {"parsers": [], "scenarios": [], "postoverflows": []}
    todo, seen = [collection], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        col = index["collections"][name]
        todo.extend(col.get("collections") or [])
        for kind, paths in out.items():
            for item in col.get(kind) or []:
                meta = index[kind].get(item)
                if meta and (hub / meta["path"]).exists():
                    paths.append(meta["path"])
    return out


def crowdsec_bans(log: Path, collection: str = "crowdsecurity/linux", timeout: float = 300) -> set[str] | None:
    """The addresses CrowdSec bans replaying ``log`` as syslog; None when no unpacked crowdsec is found."""
    root = crowdsec_root()
    if root is None:
        return None
    hub = root / "usr/share/crowdsec/hub"
    with tempfile.TemporaryDirectory(prefix="garrison-crowdsec-") as d:
        conf = Path(d)
        for kind, paths in hub_items(hub, collection).items():
            for rel in paths:
                parts = Path(rel).parts  # parsers/<stage>/<author>/<name>.yaml, scenarios/<author>/<name>.yaml
                dest = conf / kind / (parts[1] if kind != "scenarios" else "") / parts[-1]
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(hub / rel, dest)
        shutil.copytree(root / "etc/crowdsec/patterns", conf / "patterns")
        for name in ("profiles.yaml", "simulation.yaml"):
            shutil.copyfile(root / "etc/crowdsec" / name, conf / name)
        (conf / "data").mkdir()
        (conf / "acquis.yaml").write_text("")
        with socket.socket() as s:  # a free port for the local API, which lives as long as the replay
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = {
            "common": {"daemonize": False, "log_media": "stdout", "log_level": "warning", "working_dir": d},
            "config_paths": {"config_dir": f"{d}/", "data_dir": f"{d}/data/", "hub_dir": f"{hub}/",
                             "index_path": str(hub / ".index.json"), "simulation_path": f"{d}/simulation.yaml",
                             "notification_dir": f"{d}/notifications/",
                             "plugin_dir": str(root / "usr/lib/crowdsec/plugins")},
            "crowdsec_service": {"acquisition_path": f"{d}/acquis.yaml", "parser_routines": 1},
            "db_config": {"type": "sqlite", "db_path": f"{d}/data/crowdsec.db", "log_level": "warning"},
            "api": {"client": {"credentials_path": f"{d}/local_api_credentials.yaml"},
                    "server": {"listen_uri": f"127.0.0.1:{port}", "profiles_path": f"{d}/profiles.yaml"}},
            "prometheus": {"enabled": False},
        }
        (conf / "config.yaml").write_text(json.dumps(config))  # YAML is a superset of JSON
        bin_ = root / "usr/bin"
        subprocess.run([str(bin_ / "cscli"), "-c", f"{d}/config.yaml", "machines", "add", "replay", "--auto",
                        "-f", f"{d}/local_api_credentials.yaml"], capture_output=True, check=True, timeout=60)
        subprocess.run([str(bin_ / "crowdsec"), "-c", f"{d}/config.yaml", "-dsn", f"file://{log.resolve()}",
                        "-type", "syslog", "-no-capi"], capture_output=True, check=True, timeout=timeout)
        with sqlite3.connect(conf / "data/crowdsec.db") as db:
            rows = db.execute("SELECT value FROM decisions WHERE type = 'ban' AND scope = 'Ip'").fetchall()
        return {r[0] for r in rows}
