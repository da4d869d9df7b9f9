"""Proof with a real enforcer: Debian's crowdsec-custom-bouncer pulls Garrison's decisions.

.ci/run installs the package (`apt-get install --no-install-recommends crowdsec-custom-bouncer`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import yaml

from tests.e2e.test_serve_durability import _free_port, _start, _wait_http

BOUNCER = shutil.which("crowdsec-custom-bouncer") or "/usr/bin/crowdsec-custom-bouncer"


def _wait_for(path, text, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and text in path.read_text():
            return time.time()
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never reached the bouncer; calls so far: {path.read_text() if path.exists() else ''}")


def test_custom_bouncer_add_unban_and_expiry(tmp_path):
    assert shutil.which(BOUNCER) or __import__("os").path.exists(BOUNCER), \
        "crowdsec-custom-bouncer is missing: apt-get install --no-install-recommends crowdsec-custom-bouncer"
    http = _free_port()
    cfg = tmp_path / "g.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "store": {"flush_seconds": 0.2},
                                   "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None}}))
    g = [sys.executable, "-m", "garrison", "--config", str(cfg)]
    key = subprocess.run(g + ["bouncers", "add", "custom"], capture_output=True, text=True, check=True).stdout.strip()
    calls = tmp_path / "calls.log"
    script = tmp_path / "record.sh"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    script.chmod(0o755)
    bcfg = tmp_path / "bouncer.yaml"
    bcfg.write_text(yaml.safe_dump({
        "bin_path": str(script), "feed_via_stdin": False, "total_retries": 0, "scenarios_containing": [],
        "scenarios_not_containing": [], "origins": [], "piddir": str(tmp_path), "update_frequency": "1s",
        "cache_retention_duration": "1s", "daemonize": False, "log_mode": "stdout", "log_level": "info",
        "api_url": f"http://127.0.0.1:{http}/", "api_key": key,
        "prometheus": {"enabled": False, "listen_addr": "127.0.0.1", "listen_port": _free_port()}}))
    serve = _start(cfg, tmp_path / "serve.log")
    bouncer = None
    try:
        _wait_http(http)
        bouncer = subprocess.Popen([BOUNCER, "-c", str(bcfg)], stdout=open(tmp_path / "bouncer.log", "wb"),
                                   stderr=subprocess.STDOUT)
        time.sleep(1.5)
        subprocess.run(g + ["ban", "203.0.113.50", "--duration", "10m", "--reason", "ssh brute force"], check=True,
                       capture_output=True)
        _wait_for(calls, "add 203.0.113.50", 30)  # the latency itself is measured by bench/decisions
        subprocess.run(g + ["unban", "203.0.113.50"], check=True, capture_output=True)
        _wait_for(calls, "del 203.0.113.50", 30)
        subprocess.run(g + ["ban", "203.0.113.51", "--duration", "2s"], check=True, capture_output=True)
        _wait_for(calls, "add 203.0.113.51", 30)
        _wait_for(calls, "del 203.0.113.51", 30)  # expiry reaches the delete command
        assert "ssh brute force" in calls.read_text()
        listed = subprocess.run(g + ["bouncers", "list"], capture_output=True, text=True, check=True).stdout
        assert "custom" in listed and "never" not in listed
    finally:
        if bouncer is not None:
            bouncer.terminate()
            bouncer.wait(timeout=10)
        serve.terminate()
        serve.wait(timeout=30)
