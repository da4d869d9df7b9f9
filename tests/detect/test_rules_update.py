"""Issue 17, item 6: ``garrison rules update`` keeps SigmaHQ's rules current.

A checkout-shaped folder of SigmaHQ's rules is installed first; then a release zip is served by a local web
server shaped like GitHub's (release download URL and release API with the asset's digest), compared rule by
rule with the version in use, tried on the stored events of a real OTRF recording, and switched to. A package
whose bytes don't match the published digest is refused.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from garrison.testing import free_port

RULES = "rules/windows/process_creation"
PICK = ["proc_creation_win_bitsadmin_download.yml", "proc_creation_win_bitsadmin_download_direct_ip.yml",
        "proc_creation_win_bitsadmin_download_susp_extensions.yml", "proc_creation_win_powershell_download_iex.yml",
        "proc_creation_win_bitsadmin_potential_persistence.yml"]
RECORDING = "otrf/datasets/atomic/windows/defense_evasion/host/cmd_bitsadmin_download_psh_script.zip"


def _g(data_dir: Path, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "garrison", "--data-dir", str(data_dir)]
    if config:
        cmd[3:3] = ["--config", str(config)]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=600)


def _checkout(data: Path, dest: Path, names: list[str]) -> Path:
    for n in names:
        (dest / RULES).mkdir(parents=True, exist_ok=True)
        shutil.copy(data / "sigma" / RULES / n, dest / RULES / n)
    return dest


class _Release(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *a) -> None:
        pass


@pytest.fixture
def release_server():
    port = free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Release)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield port
    srv.shutdown()


def test_update_from_a_folder_then_a_verified_release(tmp_path, data, release_server):
    d = tmp_path / "data"
    assert _g(d, "import", str(data / RECORDING)).returncode == 0
    present = [n for n in PICK if (data / "sigma" / RULES / n).exists()]
    assert len(present) >= 4, "the SigmaHQ rules this test uses have moved"
    v1 = _checkout(data, tmp_path / "checkout", present[:3])
    (v1 / "rules-threat-hunting").mkdir()  # not in any package: left out
    shutil.copy(data / "sigma" / RULES / present[3], v1 / "rules-threat-hunting" / present[3])

    r = _g(d, "rules", "update", "--from", str(v1), "--package", "core+", "--hours", "100000", "--enable", "--json")
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)
    ids = {yaml.safe_load((v1 / RULES / n).read_text())["id"] for n in present[:3]}
    levels = {yaml.safe_load((v1 / RULES / n).read_text())["level"] for n in present[:3]}
    assert levels <= {"medium", "high", "critical"}
    assert set(first["new"]) == ids and first["removed"] == [] and first["enabled"] is True
    download = yaml.safe_load((v1 / RULES / "proc_creation_win_bitsadmin_download.yml").read_text())["id"]
    assert first["dry_run"]["events"] > 300
    assert first["dry_run"]["detections"][download] >= 1  # the recording's bitsadmin download, found by the new rule

    # version 2, as a release zip: one rule removed, one changed, one added
    v2 = _checkout(data, tmp_path / "v2", [present[0], present[1], present[3]])
    changed = v2 / RULES / present[1]
    doc = yaml.safe_load(changed.read_text())
    doc["level"] = "critical" if doc["level"] != "critical" else "high"
    changed.write_text(yaml.safe_dump(doc))
    zpath = tmp_path / "sigma_core+.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted(v2.rglob("*.yml")):
            z.write(f, f.relative_to(v2).as_posix())
    blob = zpath.read_bytes()
    base = f"http://127.0.0.1:{release_server}"
    _Release.files = {
        "/SigmaHQ/sigma/releases/latest/download/sigma_core+.zip": blob,
        "/repos/SigmaHQ/sigma/releases/latest": json.dumps({"tag_name": "r2026-11-30", "assets": [
            {"name": "sigma_core+.zip", "digest": "sha256:" + hashlib.sha256(blob).hexdigest()}]}).encode(),
    }
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({"detect": {"sigma": {
        "update_url": base + "/SigmaHQ/sigma/releases/latest/download/{asset}", "update_api": base}}}))
    r = _g(d, "rules", "update", "--package", "core+", "--hours", "100000", "--json", config=cfg)
    assert r.returncode == 0, r.stderr
    second = json.loads(r.stdout)
    ids2 = {n: yaml.safe_load((v2 / RULES / n).read_text())["id"] for n in (present[0], present[1], present[3])}
    removed = yaml.safe_load((v1 / RULES / present[2]).read_text())["id"]
    assert second["version"] == "r2026-11-30" and second["name"] == "sigmahq-core-plus-r2026-11-30"
    assert second["sha256"] == hashlib.sha256(blob).hexdigest()
    assert second["previous"] == first["name"]
    assert second["new"] == [ids2[present[3]]] and second["removed"] == [removed]
    assert second["changed"] == [ids2[present[1]]] and second["unchanged"] == 1
    assert second["enabled"] is False  # tried, not switched: the old version stays in use
    listed = _g(d, "rules", "list").stdout
    assert first["name"] in listed and second["name"] in listed

    # switching is one command; one version of a family is enabled at a time
    assert _g(d, "rules", "enable", second["name"]).returncode == 0
    from garrison.detect.sigma.rulesets import installed
    from garrison.store import open_state

    enabled = [s.name for s in installed(open_state(d)) if s.enabled]
    assert enabled == [second["name"]]

    # a package whose bytes don't match the published digest is refused, and nothing is installed
    _Release.files["/SigmaHQ/sigma/releases/latest/download/sigma_core+.zip"] = blob + b"tampered"
    r = _g(d, "rules", "update", "--package", "core+", "--json", config=cfg)
    assert r.returncode != 0 and "does not match" in r.stderr
    assert len(installed(open_state(d))) == 2
