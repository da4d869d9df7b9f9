"""Issue 17: with the default configuration, every address fail2ban's sshd jail bans on loghub's real
OpenSSH log gets a brute-force finding and a ban, and no address fail2ban leaves alone is banned."""

from __future__ import annotations

import shutil

import pytest

from garrison.config import load_config
from garrison.evaluate.bans import SSHD_LOG, fail2ban_bans, garrison_bans
from garrison.evaluate.suites import bans
from tests.conftest import DATA


def test_default_policies_ban_a_first_brute_force_briefly_and_escalate():
    pols = load_config(None).respond.policies
    bf = next(p for p in pols if p["name"] == "ban brute-force sources")
    assert bf["min_level"] == "medium" and bf["duration"] == "15m"
    assert load_config(None).respond.escalation_factor == 2.0  # a repeat within 30 days doubles it


def test_every_address_fail2ban_bans_is_banned_and_no_other(data):
    assert shutil.which("fail2ban-regex"), "fail2ban is missing: make test-deps installs it"
    theirs = fail2ban_bans(DATA / SSHD_LOG)
    assert len(theirs) == 12  # fail2ban 1.0's sshd filter, maxretry 5 in findtime 10m
    ours = garrison_bans(DATA / SSHD_LOG)
    assert theirs <= ours, f"fail2ban bans these and Garrison doesn't: {sorted(theirs - ours)}"
    assert not ours - theirs, f"extra bans: {sorted(ours - theirs)}"
    (row,) = bans(DATA)
    assert (row.detected, row.positives, row.flagged) == (12, 12, 0)


@pytest.mark.parametrize("ip", ["183.62.140.253", "60.2.12.12", "103.207.39.16"])  # the biggest and two of the five-try
def test_the_ban_comes_from_a_brute_force_finding(data, ip, tmp_path):
    from garrison.pipeline.runner import build_live_pipeline, import_paths
    from garrison.respond.decisions import list_decisions
    from garrison.store import EventStore, open_state

    cfg = load_config(None, data_dir=str(tmp_path))
    engine = open_state(tmp_path)
    import_paths(build_live_pipeline(cfg, engine), EventStore(tmp_path, engine), [DATA / SSHD_LOG])
    (d,) = [x for x in list_decisions(engine, active_only=False) if x.value == ip]
    assert d.reason.startswith(("Brute force", "Password spraying")) and d.type == "ban"
