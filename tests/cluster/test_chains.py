"""Issue 22's technique chains: one operator's playbook at two members, seen on the hub from sanitised incident
summaries alone. The hospital is hit by Empire's PsExec lateral movement, the airport by Empire's SMBExec (OTRF
recordings: different hosts, users and tools, the same chain of ATT&CK techniques); each shares its incidents as
summaries through a real hub (``garrison serve``, cluster.role: hub) and gets a cluster incident on its own incident
naming the other. Nothing of either recording's hosts or users reaches the hub, whose objects pass stix2-validator.
An unrelated Empire WMI stager, which shares only PowerShell, obfuscation and discovery with them, does not match."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml
from stix2validator import ValidationOptions, validate_parsed_json

from garrison.cluster import chains
from garrison.cluster.hub import INCIDENTS, SHARED, add_objects
from garrison.store import open_state
from garrison.store import state_cluster as C
from tests.cluster.test_taxii import hub  # noqa: F401  (the fixture)
from tests.conftest import DATA

HOST = DATA / "otrf" / "datasets" / "atomic" / "windows" / "lateral_movement" / "host"
SIGMA = DATA / "sigma" / "rules" / "windows"
RECORDINGS = {"hospital": "empire_psexec_dcerpc_tcp_svcctl", "airport": "empire_smbexec_dcerpc_smb_svcctl",
              "other": "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"}


def _g(cfg: Path, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), *args], capture_output=True, text=True,
                          env=os.environ, check=True).stdout


def test_lcs_and_chain_of():
    assert chains.lcs(["A", "B", "C", "D"], ["B", "X", "C", "D"]) == ["B", "C", "D"]
    assert chains.lcs([], ["A"]) == [] and chains.lcs(["A"], ["B"]) == []
    tags = [["attack.execution", "attack.t1059.001"], ["attack.t1021.002", "attack.t1059.003"], ["attack.t1021"]]
    assert chains.chain_of(tags) == ["T1059", "T1021"]
    # a keyed id: the same incident under another member's key is another id, so the hub cannot tell which incident
    assert chains.keyed_id("k1", 7) == chains.keyed_id("k1", 7) != chains.keyed_id("k2", 7)
    assert chains.keyed_id("k1", 7) != chains.keyed_id("k1", 8)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The three recordings imported with SigmaHQ's Windows rules, each into its own data directory (in parallel)."""
    assert HOST.is_dir() and SIGMA.is_dir(), f"the shared OTRF recordings and SigmaHQ rules are needed under {DATA}"
    tmp = tmp_path_factory.mktemp("chains")
    cfgs = {}
    for name in RECORDINGS:
        cfgs[name] = tmp / f"{name}.yaml"
        cfgs[name].write_text(yaml.safe_dump({"data_dir": str(tmp / name), "detect": {"sigma": {"rule_dirs": [str(SIGMA)]}},
                                              "awareness": {"organisation": name.capitalize()}}))
    procs = [subprocess.Popen([sys.executable, "-m", "garrison", "--config", str(cfgs[n]), "import", str(HOST / f"{r}.zip")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ) for n, r in RECORDINGS.items()]
    for p in procs:
        assert p.wait(300) == 0, p.stderr.read().decode()[-2000:] if p.stderr else ""
    return tmp, cfgs


def _summaries(cfg: Path, key: str) -> list:
    doc = yaml.safe_load(cfg.read_text())
    engine = open_state(Path(doc["data_dir"]))
    return [orjson.loads(o.serialize()) for o in chains.summaries(engine, key, "identity--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
                                                                  "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", 3, 0)]


def test_an_unrelated_stager_does_not_match(imported, tmp_path):
    """On the hub's own code: PsExec against SMBExec matches, PsExec against the WMI stager does not."""
    tmp, cfgs = imported
    engine = open_state(tmp_path / "hub")
    for name in ("hospital", "other"):
        add_objects(engine, SHARED, _summaries(cfgs[name], name), name)
    with engine.connect() as c:
        assert not c.execute(C.cluster_objects.select().where(C.cluster_objects.c.collection == INCIDENTS)).first()


def test_same_chain_at_two_members(imported, hub, tmp_path):  # noqa: F811
    url, keys = hub
    tmp, cfgs = imported
    for name in ("hospital", "airport"):
        doc = yaml.safe_load(cfgs[name].read_text())
        (tmp_path / f"{name}.key").write_text(keys[name])
        doc["cluster"] = {"hub_url": url, "member": name, "key_file": str(tmp_path / f"{name}.key"),
                          "share": ["bans", "phishing", "incidents"]}
        cfgs[name].write_text(yaml.safe_dump(doc))
    first = json.loads(_g(cfgs["hospital"], "cluster", "sync", "--json"))
    assert first["pushed"] > 0 and first["incidents"] == 0  # alone with its chain: nothing yet
    second = json.loads(_g(cfgs["airport"], "cluster", "sync", "--json"))
    assert second["incidents"] == 1, second
    again = json.loads(_g(cfgs["hospital"], "cluster", "sync", "--json"))
    assert again["incidents"] == 1, again

    for me, other in (("hospital", "airport"), ("airport", "hospital")):
        found = []
        for line in _g(cfgs[me], "incidents", "list", "--json").splitlines():
            inc = json.loads(_g(cfgs[me], "incidents", "show", str(json.loads(line)["id"]), "--json"))
            found += [c["text"] for c in inc["comments"] if c["author"] == "cluster"]
        assert len(found) == 1 and f"Also seen at: {other}" in found[0] and "T1021 → " in found[0], found

    # what the hub holds: valid STIX, and none of the recordings' hosts, users or domain
    hub_db = (tmp_path / "hub" / "state.db").read_bytes().lower()
    for secret in (b"workstation", b"wardog", b"pgustavo", b"theshire", b"mordor", b"empire"):
        assert secret not in hub_db, secret
    engine = open_state(tmp_path / "hub")
    with engine.connect() as c:
        bodies = [orjson.loads(r[0]) for r in c.execute(C.cluster_objects.select().with_only_columns(C.cluster_objects.c.body))]
    opts = ValidationOptions(version="2.1", strict=False)
    assert all(validate_parsed_json(b, opts).is_valid for b in bodies)
    incidents = [b for b in bodies if "technique-chain" in b.get("labels", [])]
    assert len(incidents) == 1 and incidents[0]["description"] == "Seen at: airport, hospital"
