"""Packet captures through tshark into Zeek-shaped records: real captures, and bad input (fuzzed)."""

from __future__ import annotations

import random
import shutil
import zipfile

import orjson
import pytest

from garrison.model import RawRecord, Reject
from garrison.sources.files import read_file
from garrison.sources.pcap import FIELDS, _record, is_capture
from tests.conftest import DATA, needs

NET = DATA / "otrf/datasets/atomic/windows/lateral_movement/network"
pytestmark = needs(shutil.which("tshark") is None, "tshark is not installed (make test-deps)")


def _records(path):
    out = list(read_file(path))
    return [orjson.loads(r.text) for r in out if isinstance(r, RawRecord)], [r for r in out if isinstance(r, Reject)]


def test_psexec_capture_gives_the_service_calls(data):
    recs, rejects = _records(NET / "empire_psexec_dcerpc_tcp_svcctl.zip")
    assert not rejects
    ops = {(r["endpoint"], r["operation"]) for r in recs if r["_path"] == "dce_rpc"}
    assert {("svcctl", "CreateServiceA"), ("svcctl", "StartServiceA"), ("svcctl", "DeleteService")} <= ops
    assert all(r["id.orig_h"].count(".") == 3 and r["ts"] > 1.5e9 for r in recs)


def test_zerologon_capture_gives_hundreds_of_netlogon_attempts(data):
    recs, _ = _records(NET / "mimikatz_CVE-2020-1472_Unauthenticated_NetrServerAuthenticate2.zip")
    auth = [r for r in recs if r.get("operation") == "NetrServerAuthenticate2"]
    assert len(auth) > 400 and {r["endpoint"] for r in auth} == {"netlogon"}


def test_smb_kerberos_and_http_records(data):
    recs, _ = _records(NET / "covenant_copy_smb_CreateRequest.zip")
    assert any(r["_path"] == "smb_files" and r["name"].endswith("GruntHTTP.exe") for r in recs)
    recs, _ = _records(DATA / "otrf/datasets/atomic/windows/credential_access/network/"
                       "empire_shell_rubeus_asktgt_ptt.zip")
    assert any(r["_path"] == "kerberos" and r.get("cipher") == "rc4-hmac" for r in recs)
    assert any(r["_path"] == "http" and r.get("method") for r in recs)


def test_a_capture_is_recognised_by_name_or_magic():
    assert is_capture("x.pcapng") and is_capture("trace", b"\xd4\xc3\xb2\xa1rest") and not is_capture("a.log", b"{}")


def test_garbage_named_pcap_is_one_reject(tmp_path):
    rng = random.Random(5)
    for i in range(20):
        p = tmp_path / f"junk{i}.pcap"
        p.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3000))))
        out = list(read_file(p))
        assert all(isinstance(r, (RawRecord, Reject)) for r in out)
        assert any(isinstance(r, Reject) and "tshark" in r.reason for r in out) or not out


def test_truncated_capture_keeps_what_was_read(tmp_path, data):
    with zipfile.ZipFile(NET / "empire_psexec_dcerpc_tcp_svcctl.zip") as z:
        raw = z.read(z.namelist()[0])
    p = tmp_path / "cut.pcap"
    p.write_bytes(raw[: len(raw) // 2])
    out = list(read_file(p))
    assert any(isinstance(r, RawRecord) for r in out)
    assert all(isinstance(r, (RawRecord, Reject)) for r in out)


def test_fuzz_rows(tmp_path):
    """Any row tshark could print becomes a record, None, or a ValueError the reader turns into a reject."""
    rng = random.Random(11)
    alphabet = "0123456789.|:abcXYZ \\/$-_"
    for _ in range(3000):
        row = {f: "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) if rng.random() < 0.4 else ""
               for f in FIELDS}
        try:
            rec = _record(row)
        except ValueError:
            continue
        assert rec is None or isinstance(rec["_path"], str)


def test_tshark_missing_is_a_clear_reject(tmp_path, monkeypatch, data):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out = list(read_file(NET / "empire_psexec_dcerpc_tcp_svcctl.zip"))
    assert out and all(isinstance(r, Reject) and "apt-get install tshark" in r.reason for r in out)  # one per capture


@pytest.mark.parametrize("suffix", [".cap", ".pcapng"])
def test_suffixes(suffix):
    assert is_capture("a" + suffix)
