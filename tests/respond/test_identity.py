"""Issue 19: response actions on Entra ID accounts through Graph (the stand-in), from the CLI and policies."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from garrison.config import load_config
from garrison.respond.identity import do_asked, lift_expired_blocks, list_actions, perform
from garrison.store import open_state
from garrison.testing.microsoft import StandIn, serve


@pytest.fixture
def env(tmp_path):
    s = StandIn()
    server, ca = serve(s, tmp_path / "tls")
    def cfg(**extra):
        m = s.connector_config(tmp_path / "secret", ca, actions=True, protected_accounts=["BreakGlass@council.example"])
        doc = {"data_dir": str(tmp_path / "data"), "microsoft": m}
        for k, v in extra.items():
            if "." in k:
                a, b = k.split(".")
                doc.setdefault(a, {})[b] = v
            else:
                m[k] = v
        p = tmp_path / "g.yaml"
        p.write_text(yaml.safe_dump(doc))
        return p
    yield s, cfg
    server.should_exit = True


def _cli(cfg, *args):
    return subprocess.run([sys.executable, "-m", "garrison", "--config", str(cfg), "act", *args], capture_output=True,
                          text=True)


def test_cli_actions_reach_graph_and_are_audited(env):
    s, cfg = env
    p = cfg()
    r = _cli(p, "revoke-sessions", "kim.ward@council.example", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "done"
    assert _cli(p, "block", "kim.ward@council.example", "--duration", "1h").returncode == 0
    assert _cli(p, "confirm-compromised", "kim.ward@council.example").returncode == 0
    assert _cli(p, "remove-inbox-rule", "kim.ward@council.example", "--rule-id", "AQAAAJ5dZqA=").returncode == 0
    assert [a["action"] for a in s.actions] == ["revokeSignInSessions", "updateUser", "confirmCompromised",
                                                "deleteMessageRule"]
    assert s.actions[1]["body"] == {"accountEnabled": False}
    assert s.actions[3]["rule"] == "AQAAAJ5dZqA="
    rows = [json.loads(x) for x in _cli(p, "list", "--json").stdout.splitlines()]
    assert {r["status"] for r in rows} == {"done"} and len(rows) == 4


def test_protected_accounts_are_never_acted_on(env):
    s, cfg = env
    r = _cli(cfg(), "block", "breakglass@council.example", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["status"] == "refused"
    assert s.actions == []


def test_dry_run_and_actions_off(env):
    s, cfg = env
    r = _cli(cfg(**{"respond.dry_run": True}), "revoke-sessions", "a@council.example", "--json")
    assert json.loads(r.stdout)["status"] == "simulated" and s.actions == []
    r = _cli(cfg(actions=False), "revoke-sessions", "a@council.example")
    assert r.returncode != 0 and "microsoft.actions" in r.stderr


def test_a_refused_secret_fails_loudly(env):
    s, cfg = env
    s.secret_expired = True
    r = _cli(cfg(), "revoke-sessions", "a@council.example")
    assert r.returncode != 0 and "AADSTS7000222" in r.stderr
    assert s.secret not in r.stderr


def test_asked_then_approved_and_a_block_lifts_itself(env):
    s, cfg = env
    config = load_config(cfg())
    engine = open_state(config.data_path)
    from garrison.respond.identity import ask

    with engine.begin() as c:
        ask(c, "block_signin", "kim.ward@council.example", "policy test", until=1)
    (row,) = list_actions(engine)
    assert row["status"] == "asked" and s.actions == []
    done = do_asked(engine, config, row["id"], "alice")
    assert done["status"] == "done" and done["done_by"] == "alice"
    assert lift_expired_blocks(engine, config) == 1
    assert [a["body"] for a in s.actions] == [{"accountEnabled": False}, {"accountEnabled": True}]
    assert perform(engine, config, "revoke_sessions", "x@council.example", "bob", "r")["status"] == "done"
