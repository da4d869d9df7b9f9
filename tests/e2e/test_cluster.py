"""Issue 22 end to end: three Garrisons as separate processes with separate data directories — the hub, run by the
council (also a member of its own hub), a hospital and an airport. One address guesses passwords at the hospital
and then at the airport; both get an incident naming the other, the council bans the address by policy, the hub is
killed and restarted in between and loses nothing, and no raw event of the hospital or the airport is in the
council's or the hub's store."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.e2e.test_serve_durability import _free_port, _start, _wait_http

ATTACKER = "203.0.113.77"


def _g(cfg: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), *args], capture_output=True, text=True,
                          env=os.environ, check=True).stdout


def _lines(path: Path, ip: str, user: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    path.write_text("".join(
        f"<38>1 {(now - datetime.timedelta(seconds=60 - i * 4)).strftime('%Y-%m-%dT%H:%M:%S.000Z')} gw1 sshd 1234 - - "
        f"Failed password for invalid user {user}{i} from {ip} port {40000 + i} ssh2\n" for i in range(12)))


def _org(tmp: Path, name: str, hub_url: str, key: str, role: str = "off") -> tuple[Path, int]:
    http = _free_port()
    (tmp / f"{name}.key").write_text(key)
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "data_dir": str(tmp / name), "store": {"flush_seconds": 0.2}, "service": {"scheduler_seconds": 0.5},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None},
        "awareness": {"organisation": name.capitalize()}, "web": {"secure_cookies": False},
        "cluster": {"role": role, "hub_url": hub_url, "member": name, "key_file": str(tmp / f"{name}.key"), "sync_seconds": 1}}))
    return cfg, http


def _incidents(cfg: Path) -> list[dict]:
    return [json.loads(x) for x in _g(cfg, "incidents", "list", "--json").splitlines() if x.strip()]


def _wait(what, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.3)
    return what()


def test_one_attacker_at_two_members(tmp_path):
    hub_port = _free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub_cfg = tmp_path / "council.yaml"
    keys = {}
    # the hub's members, keys issued before it starts (the council is a member of its own hub)
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump({"data_dir": str(tmp_path / "council")}))
    for m in ("council", "hospital", "airport"):
        keys[m] = _g(tmp_path / "seed.yaml", "cluster", "members", "add", m).strip()
    cfgs = {m: _org(tmp_path, m, hub_url, keys[m], "hub" if m == "council" else "off") for m in ("council", "hospital", "airport")}
    hub_cfg, _ = cfgs["council"]
    doc = yaml.safe_load(hub_cfg.read_text())
    doc["ingest"]["http"] = f"127.0.0.1:{hub_port}"
    hub_cfg.write_text(yaml.safe_dump(doc))
    _lines(tmp_path / "hospital.log", ATTACKER, "nurse")
    _g(cfgs["hospital"][0], "import", str(tmp_path / "hospital.log"))
    procs = {}
    try:
        procs["council"] = _start(hub_cfg, tmp_path / "council.log")
        _wait_http(hub_port, 60)
        procs["hospital"] = _start(cfgs["hospital"][0], tmp_path / "hospital-serve.log")
        _wait_http(cfgs["hospital"][1], 60)
        hub_db = tmp_path / "council" / "state.db"
        assert _wait(lambda: ATTACKER.encode() in hub_db.read_bytes() if hub_db.exists() else False, 30)  # the hospital shared it

        procs["council"].send_signal(signal.SIGKILL)  # the hub goes down
        procs["council"].wait(30)
        _lines(tmp_path / "airport.log", ATTACKER, "pilot")
        _g(cfgs["airport"][0], "import", str(tmp_path / "airport.log"))
        procs["airport"] = _start(cfgs["airport"][0], tmp_path / "airport-serve.log")
        _wait_http(cfgs["airport"][1], 60)
        time.sleep(2)  # the airport's exchanges fail while the hub is down, and are retried
        procs["council"] = _start(hub_cfg, tmp_path / "council.log")
        _wait_http(hub_port, 60)
        back = time.time()

        def also(member: str, other: str):
            """An incident of the member's about the attacker that says the other member saw it too."""
            for i in _incidents(cfgs[member][0]):
                inc = json.loads(_g(cfgs[member][0], "incidents", "show", str(i["id"]), "--json"))
                if any(e["value"] == ATTACKER for e in inc["entities"]) and (
                        other in inc["title"] or any("Also seen at" in c["text"] and other in c["text"] for c in inc["comments"])):
                    return inc
            return None
        at_airport = _wait(lambda: also("airport", "hospital"), 60)
        at_hospital = _wait(lambda: also("hospital", "airport"), 60)
        assert at_airport and at_hospital, (tmp_path / "council.log").read_text()[-2000:]
        to_incidents = time.time() - back

        def council_ban():
            rows = [json.loads(x) for x in _g(hub_cfg, "decisions", "--json").splitlines() if x.strip()]
            return [d for d in rows if d["value"] == ATTACKER and d["origin"] == "feed"]
        bans = _wait(council_ban, 60)
        assert bans and bans[0]["reason"].startswith("cluster: banned by ")
        to_ban = time.time() - back
        assert to_incidents < 60 and to_ban < 60
        print(f"after the hub came back: incidents at both members in {to_incidents:.1f} s, the council's ban in {to_ban:.1f} s")
        from garrison.web.auth import add_user
        from garrison.store import open_state

        add_user(open_state(tmp_path / "council"), "alice", "a-long-password-1", "analyst")
        with httpx.Client(base_url=hub_url, headers={"Origin": hub_url}) as web:
            web.post("/console/login", data={"username": "alice", "password": "a-long-password-1"})
            view = web.get("/console/cluster").text
        assert all(m in view for m in ("hospital", "airport")) and "The same attacker at" in view and ATTACKER in view
        report = tmp_path / "airport-report.md"
        _g(cfgs["airport"][0], "report", "--period", "30d", "--format", "md", "--out", str(report))
        assert "also hit neighbouring organisations in our regional cluster" in report.read_text()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(60)
    for place in ("council",):  # no raw event of the hospital or the airport anywhere in the council's or hub's data
        for f in (tmp_path / place).rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert b"Failed password" not in data and b"nurse3" not in data and b"pilot3" not in data, f
