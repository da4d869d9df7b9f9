"""Garrison's own Sigma pack (garrison/detect/rules): authentication families on real and built logs."""

from __future__ import annotations

import time
from collections import Counter

from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.load import load_rules
from garrison.detect.sigma.rulesets import builtin_pack
from garrison.model import RawRecord
from garrison.parse import ParseState, parse_record
from garrison.sources.files import read_file
from tests.conftest import DATA


def _engine():
    rs = load_rules([builtin_pack()])
    assert not rs.errors and len(rs.correlations) >= 5
    eng = SigmaEngine(rs.rules, rs.correlations)
    assert eng.report.loaded == len(rs.rules) and not eng.report.failed
    return eng


def _run(eng, records):
    st = ParseState(source="t")
    out = []
    for r in records:
        ev = parse_record(r, st)
        if ev is not None:
            out += eng.match(ev)
    return out + eng.flush()


def test_loghub_openssh_brute_force_and_spraying():
    """loghub's OpenSSH sample is a server under attack: the pack names the attackers."""
    dets = _run(_engine(), read_file(DATA / "loghub/OpenSSH/OpenSSH_2k.log"))
    by = Counter((d.rule_title, d.group.get("source.ip") if d.group else None) for d in dets)
    bf = {ip for (title, ip) in by if title.startswith("Brute force")}
    spray = {ip for (title, ip) in by if title.startswith("Password spraying")}
    assert "183.62.140.253" in bf and "187.141.143.180" in bf
    assert spray and spray <= bf
    # single failures are reported as informational attempts; everything above them is a correlation
    assert all(d.kind == "correlation" for d in dets if d.level != "informational")
    singles = [d for d in dets if d.level == "informational"]
    assert singles and all(d.rule_title == "Failed login from outside the organisation" for d in singles)


def _line(t: float, msg: str) -> RawRecord:
    return RawRecord(text=time.strftime("%b %d %H:%M:%S", time.gmtime(t)) + f" web01 sshd[7]: {msg}", source="t")


def test_success_after_brute_force_and_distributed():
    t0 = time.time() - 3600
    recs = [_line(t0 + i, f"Failed password for admin from 203.0.113.66 port {4000 + i} ssh2") for i in range(12)]
    recs.append(_line(t0 + 60, "Accepted password for admin from 203.0.113.66 port 4100 ssh2"))
    recs += [_line(t0 + 100 + i, f"Failed password for finance from 198.51.100.{i + 1} port 5000 ssh2") for i in range(11)]
    dets = _run(_engine(), recs)
    titles = Counter(d.rule_title for d in dets)
    assert titles["Successful login after brute force from the same source"] == 1
    crit = next(d for d in dets if d.level == "critical")
    assert crit.group == {"source.ip": "203.0.113.66"} and "attack.t1078" in crit.tags
    dist = [d for d in dets if d.rule_title.startswith("Distributed brute force")]
    assert [d.group for d in dist] == [{"user.name": "finance"}]


def test_entra_spraying_in_demo_logs(tmp_path):
    from garrison.simulate import write_demo_logs

    files = write_demo_logs(tmp_path, seed=3)
    dets = _run(_engine(), read_file(next(f for f in files if f.name == "entra-signin.json")))
    assert any(d.rule_title.startswith("Password spraying") for d in dets)


def test_credential_stuffing_many_addresses_many_unknown_accounts():
    """A leaked list replayed through proxies: 30 accounts that don't exist from 8 addresses is credential
    stuffing; the same accounts from one address is user enumeration, not stuffing."""
    t0 = time.time() - 3600
    recs = [_line(t0 + i * 5, f"Invalid user {name} from 203.0.113.{10 + i % 8} port {4000 + i}")
            for i, name in enumerate(f"leaked{n:02d}" for n in range(30))]
    titles = Counter(d.rule_title for d in _run(_engine(), recs))
    assert titles["Credential stuffing - a list of accounts tried from many addresses"] == 1
    assert not any(t.startswith("Credential stuffing step") for t in titles)  # steps stay hidden
    one = [_line(t0 + i * 5, f"Invalid user leaked{i:02d} from 203.0.113.10 port {4000 + i}") for i in range(30)]
    titles = Counter(d.rule_title for d in _run(_engine(), one))
    assert not any(t.startswith("Credential stuffing") for t in titles)
    assert titles["User enumeration - one source tries many accounts that don't exist"] >= 1


def test_refusals_of_mail_and_other_servers_are_attempts_of_their_kind():
    """Mail rejects and probes, DNS refusals and scan-detector reports from fail2ban's labelled lines become
    informational attempts in the report's categories: a mail attack is of the phishing kind, a probe a scan."""
    from garrison.model.detection import attempt_blocked, attempt_category

    lines = {"postfix": "NOQUEUE: reject: RCPT", "named-refused": "denied", "scanlogd": "ports",
             "sendmail-reject": "reject=5"}
    records = []
    for name, marker in lines.items():
        text = (DATA / "fail2ban/logs" / name).read_text(errors="replace").splitlines()
        records += [RawRecord(text=x, source=name) for x in text if marker in x and not x.startswith("#")][:3]
    dets = _run(_engine(), records)
    kinds = Counter((d.rule_title, attempt_category(d)) for d in dets if d.level == "informational")
    assert kinds[("Mail server refused a sender", "phishing")] >= 6
    assert kinds[("Probe refused by a server", "scan")] >= 6
    assert all(attempt_blocked(d) for d in dets if d.rule_title in ("Mail server refused a sender", "Probe refused by a server"))
