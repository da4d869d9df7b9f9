"""Bans against fail2ban's on the same log: loghub's real OpenSSH_2k.log, fail2ban's own sshd filter.

fail2ban itself (Debian's package) reads the file through ``fail2ban-regex``; its default jail bans a source
with 5 failures within 10 minutes (maxretry, findtime). Garrison imports the same file with its default
configuration, and its decisions are compared address by address.
"""

from __future__ import annotations

import ast
import shutil
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
