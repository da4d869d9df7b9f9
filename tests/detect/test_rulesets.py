"""Rule sets: install from a zip file and from a local HTTP server; list, enable, disable; routing data."""

from __future__ import annotations

import functools
import json
import hashlib
import http.server
import subprocess
import sys
import threading
import zipfile

import pytest
import yaml

from garrison.config import load_config
from garrison.detect.sigma.routing import load_routing
from garrison.detect.sigma.rulesets import active_paths, disabled_rules, install, installed
from garrison.errors import GarrisonError
from garrison.store import open_state
from tests.conftest import DATA


def _release_zip(path):
    """A small SigmaHQ-style release package: rules/ with real SigmaHQ rule files."""
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted((DATA / "sigma/rules/windows/process_creation").glob("proc_creation_win_certutil_*.yml"))[:5]:
            zf.write(f, f"rules/windows/process_creation/{f.name}")
    return path


def _cli(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path / "data"), *args],
                          capture_output=True, text=True)


def test_install_from_file_list_disable_enable(tmp_path):
    z = _release_zip(tmp_path / "sigma_core.zip")
    r = _cli(tmp_path, "rules", "install", str(z))
    assert r.returncode == 0, r.stderr
    assert "installed rule set sigma_core: 5 rules" in r.stdout
    r = _cli(tmp_path, "rules", "list")
    assert "sigma_core" in r.stdout and "yes" in r.stdout
    listed = json.loads(_cli(tmp_path, "rules", "list", "--rules", "--json").stdout)
    mine = next(s for s in listed["rule_sets"] if s["name"] == "sigma_core")
    assert mine["enabled"] is True and mine["rules"] == 5 and mine["not_loadable"] == 0
    assert sum(1 for r in listed["rules"] if r["set"] == "sigma_core") == 5
    assert _cli(tmp_path, "rules", "disable", "sigma_core").returncode == 0
    engine = open_state(tmp_path / "data")
    assert [s.enabled for s in installed(engine)] == [False]
    cfg = load_config(None, data_dir=str(tmp_path / "data"))
    assert all("sigma_core" not in str(p) for p in active_paths(engine, cfg))
    assert _cli(tmp_path, "rules", "enable", "sigma_core").returncode == 0
    assert any("sigma_core" in str(p) for p in active_paths(engine, cfg))
    rid = yaml.safe_load(next((tmp_path / "data/rulesets/sigma_core").rglob("*.yml")).read_text())["id"]
    assert _cli(tmp_path, "rules", "disable", rid).returncode == 0
    assert disabled_rules(engine) == {rid}


def test_install_from_local_http_server(tmp_path):
    (tmp_path / "served").mkdir()
    z = _release_zip(tmp_path / "served" / "sigma_all_rules.zip")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    url = f"http://127.0.0.1:{srv.server_port}/{z.name}"
    try:
        engine = open_state(tmp_path / "data")
        with pytest.raises(GarrisonError, match="no checksum published"):
            install(engine, tmp_path / "data", url)
        with pytest.raises(GarrisonError, match="does not match"):
            install(engine, tmp_path / "data", url, sha256="0" * 64)
        assert installed(engine) == []
        digest = hashlib.sha256(z.read_bytes()).hexdigest()
        (tmp_path / "served" / (z.name + ".sha256")).write_text(f"{digest}  {z.name}\n")
        s = install(engine, tmp_path / "data", url)  # the published checksum
        assert s.name == "sigma_all_rules" and len(list((tmp_path / "data/rulesets/sigma_all_rules").rglob("*.yml"))) == 5
        assert install(engine, tmp_path / "data", url, sha256=digest.upper()).name == "sigma_all_rules"
        (tmp_path / "served" / (z.name + ".sha256")).write_text("f" * 64)
        with pytest.raises(GarrisonError, match="does not match"):
            install(engine, tmp_path / "data", url)
        with pytest.raises(GarrisonError, match="HTTP 404"):
            install(engine, tmp_path / "data", f"http://127.0.0.1:{srv.server_port}/missing.zip")
    finally:
        srv.shutdown()


def test_rule_archive_bomb_is_refused_with_bounded_disk(tmp_path):
    """A 1 MB zip that would unpack to gigabytes is refused after a bounded write (it used to write 1.1 GB)."""
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("rules/big.yml", "w") as f:
            for _ in range(1024):
                f.write(b"#" * (1 << 20))
        zf.writestr("rules/run.sh", "rm -rf /\n")
    assert z.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(GarrisonError, match="larger than|bomb"):
        install(open_state(tmp_path / "data"), tmp_path / "data", str(z))
    assert not (tmp_path / "data" / "rulesets" / "bomb").exists()


def test_hostile_archive_is_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../outside.yml", "title: x\n")
    with pytest.raises(GarrisonError, match="outside the rule set"):
        install(open_state(tmp_path / "data"), tmp_path / "data", str(z))
    assert not (tmp_path / "outside.yml").exists()


def test_windows_routing_matches_sigmahq_thor_config():
    """Every Windows category and service of SigmaHQ's tests/thor.yml routes to the same channels and EventIDs."""
    thor = yaml.safe_load((DATA / "sigma/tests/thor.yml").read_text())["logsources"]
    routing = load_routing()
    services = {v["service"]: [s.split(":", 1)[1].lower() for s in v["sources"]]
                for v in thor.values() if v.get("product") == "windows" and "sources" in v and v.get("service")}
    for svc, chans in services.items():
        (route,) = routing.routes("windows", None, svc)
        assert sorted(k[1] for k in route.keys) == sorted(chans), svc
    for v in thor.values():
        if v.get("product") != "windows" or "category" not in v:
            continue
        eids = v.get("conditions", {}).get("EventID")
        eids = eids if isinstance(eids, list) else [eids]
        svc = v["rewrite"]["service"]
        keys = {k for r in routing.routes("windows", v["category"], None) for k in r.keys}
        for ch in services[svc]:
            for e in eids:
                assert ("w", ch, e) in keys, (v["category"], ch, e)
