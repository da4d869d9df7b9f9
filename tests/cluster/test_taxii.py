"""Issue 22's hub over TAXII 2.1, with the other side's own client: a hub (``garrison serve``, cluster.role: hub)
issues member keys; the hospital pushes its bans with ``garrison share push``; the airport polls them with
``garrison share poll`` into its indicator lists; taxii2-client pages the collection and stix2-validator passes
every object served; a wrong key is refused, and a raw event pushed is refused with the reason."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest
import yaml
from stix2validator import ValidationOptions, validate_parsed_json
from taxii2client.v21 import Server, as_pages

from garrison.detect.intel import load_intel
from tests.e2e.test_serve_durability import _free_port, _start, _wait_http


def _g(data_dir, *args):
    return subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(data_dir), *args], capture_output=True, text=True,
                          env=os.environ, check=True).stdout


@pytest.fixture
def hub(tmp_path):
    http = _free_port()
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "hub"), "cluster": {"role": "hub", "page_size": 2},
                                   "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None}}))
    keys = {}
    for name in ("hospital", "airport"):
        keys[name] = subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "cluster", "members", "add", name],
                                    capture_output=True, text=True, env=os.environ, check=True).stdout.strip()
        (tmp_path / f"{name}.key").write_text(keys[name])
    proc = _start(cfg, tmp_path / "hub.log")
    _wait_http(http, timeout=60)
    yield f"http://127.0.0.1:{http}", keys
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def test_push_poll_and_standard_clients(tmp_path, hub):
    url, keys = hub
    for ip in ("203.0.113.50", "203.0.113.51", "198.51.100.9"):
        _g(tmp_path / "hospital", "ban", ip, "--duration", "2h", "--reason", "ssh brute force")
    pushed = json.loads(_g(tmp_path / "hospital", "share", "push", "--hub", url, "--member", "hospital", "--key-file",
                           str(tmp_path / "hospital.key"), "--json"))
    assert pushed == {"total": 8, "success": 8, "failure": 0}  # identity, marking, three indicators and their sightings
    polled = json.loads(_g(tmp_path / "airport", "share", "poll", "--hub", url, "--member", "airport", "--key-file",
                           str(tmp_path / "airport.key"), "--json"))
    assert polled == {"objects": 8}
    idx = load_intel([tmp_path / "airport" / "intel" / "feeds"])
    assert idx.ip("203.0.113.50") and idx.ip("198.51.100.9") and not idx.errors
    assert json.loads(_g(tmp_path / "airport", "share", "poll", "--hub", url, "--member", "airport", "--key-file",
                         str(tmp_path / "airport.key"), "--json")) == {"objects": 0}  # nothing new since

    server = Server(url + "/taxii2/", user="airport", password=keys["airport"])
    (root,) = server.api_roots
    shared = next(c for c in root.collections if c.can_write)
    pages = list(as_pages(shared.get_objects, per_request=2))
    objs = [o for p in pages for o in p.get("objects", [])]
    assert len(pages) == 4 and len(objs) == 8  # the hub's page size is 2: paging through next
    for o in objs:
        r = validate_parsed_json(o, ValidationOptions(strict=False))
        assert r.is_valid and not r.errors, r.as_dict()

    bad = httpx.get(url + "/taxii2/", auth=("airport", "wrong-key"))
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("application/taxii+json")
    raw = {"type": "x-raw-event", "id": "x-raw-event--1", "spec_version": "2.1", "message": "sshd[1]: Failed password for alice"}
    r = httpx.post(f"{url}/taxii2/cluster/collections/{shared.id}/objects/", auth=("hospital", keys["hospital"]),
                   content=json.dumps({"objects": [raw]}), headers={"Content-Type": "application/taxii+json;version=2.1"})
    st = r.json()
    assert r.status_code == 202 and st["failure_count"] == 1 and "not shared through the hub" in st["failures"][0]["message"]
    assert httpx.get(f"{url}/taxii2/cluster/status/{st['id']}/", auth=("hospital", keys["hospital"])).json()["failure_count"] == 1
    members = [json.loads(x) for x in _g(tmp_path / "hub", "cluster", "members", "list", "--json").splitlines()]
    assert {m["name"] for m in members if m["last_seen"]} == {"hospital", "airport"}
