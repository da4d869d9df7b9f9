"""Correlation rules: every type, group-by, aliases, timespan, chaining, generate and bounded state.

Shaped on the examples of the Sigma correlation specification (failed logins, recon commands, ...).
"""

from __future__ import annotations


from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.load import load_rules

BASE = """
title: Failed logon
name: failed_logon
id: 0e95725d-7320-415d-80f7-004da920fc11
logsource: {product: windows, service: security}
level: low
detection: {sel: {EventID: 4625}, condition: sel}
---
title: Successful logon
name: successful_logon
id: 0e95725d-7320-415d-80f7-004da920fc12
logsource: {product: windows, service: security}
level: low
detection: {sel: {EventID: 4624}, condition: sel}
---
title: Recon whoami
name: recon_whoami
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\\\\whoami.exe'}, condition: sel}
---
title: Recon ipconfig
name: recon_ipconfig
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\\\\ipconfig.exe'}, condition: sel}
---
title: Outbound bytes
name: outbound
logsource: {product: windows, category: network_connection}
detection: {sel: {Initiated: 'true'}, condition: sel}
"""

S = 1_000_000


def build(corr: str, tmp_path, max_groups: int = 100_000) -> SigmaEngine:
    f = tmp_path / "rules.yml"
    f.write_text(BASE + "---\n" + corr)
    rs = load_rules([f])
    assert not rs.errors, rs.errors
    return SigmaEngine(rs.rules, rs.correlations, max_groups=max_groups)


def sec(eid: int, **data) -> dict:
    ev = {"winlog.channel": "Security", "winlog.event_id": eid, "event.original": "x"}
    ev.update({f"winlog.event_data.{k}": v for k, v in data.items()})
    return ev


def sysmon(eid: int, **data) -> dict:
    ev = {"winlog.channel": "Microsoft-Windows-Sysmon/Operational", "winlog.event_id": eid, "event.original": "x"}
    ev.update({f"winlog.event_data.{k}": v for k, v in data.items()})
    return ev


def run(eng, events):
    out = []
    for ts, ev in events:
        out += eng.match(ev, ts)
    return out + eng.flush()


def corrs(dets):
    return [d for d in dets if d.kind == "correlation"]


def test_event_count_group_by_timespan(tmp_path):
    eng = build("""title: Many failed logons
name: many_failed
correlation: {type: event_count, rules: [failed_logon], group-by: [TargetUserName], timespan: 1m, condition: {gte: 5}}
level: high
""", tmp_path)
    events = [(i * S, sec(4625, TargetUserName="bob")) for i in range(5)]
    events += [(i * S, sec(4625, TargetUserName="alice")) for i in range(4)]
    events += [(i * 20 * S, sec(4625, TargetUserName="carol")) for i in range(5)]  # spread over 80 s
    out = run(eng, events)
    c = corrs(out)
    assert [d.group for d in c] == [{"TargetUserName": "bob"}]
    assert len(c[0].evidence) == 5 and c[0].level == "high"
    # generate is false: the base rule's own matches are not reported
    assert all(d.kind == "correlation" for d in out)


def test_value_count(tmp_path):
    eng = build("""title: Spray
correlation: {type: value_count, rules: [failed_logon], group-by: [IpAddress], timespan: 5m,
              condition: {gte: 3, field: TargetUserName}}
""", tmp_path)
    ev = [(i * S, sec(4625, IpAddress="203.0.113.9", TargetUserName=u)) for i, u in enumerate(["a", "a", "b", "b"])]
    assert corrs(run(eng, ev)) == []
    eng = build("""title: Spray
correlation: {type: value_count, rules: [failed_logon], group-by: [IpAddress], timespan: 5m,
              condition: {gte: 3, field: TargetUserName}}
""", tmp_path)
    ev = [(i * S, sec(4625, IpAddress="203.0.113.9", TargetUserName=u)) for i, u in enumerate(["a", "b", "a", "c"])]
    (c,) = corrs(run(eng, ev))
    assert c.group == {"IpAddress": "203.0.113.9"}


def test_temporal_any_order(tmp_path):
    eng = build("""title: Recon
correlation: {type: temporal, rules: [recon_whoami, recon_ipconfig], group-by: [Computer], timespan: 2m}
""", tmp_path)
    ev = [(0, sysmon(1, Image=r"C:\\w\\ipconfig.exe", Computer="h1")), (30 * S, sysmon(1, Image=r"C:\\w\\whoami.exe", Computer="h1")),
          (0, sysmon(1, Image=r"C:\\w\\whoami.exe", Computer="h2")), (300 * S, sysmon(1, Image=r"C:\\w\\ipconfig.exe", Computer="h2"))]
    assert [c.group for c in corrs(run(eng, ev))] == [{"Computer": "h1"}]


def test_temporal_ordered_and_generate(tmp_path):
    eng = build("""title: Brute force then success
correlation: {type: temporal_ordered, rules: [failed_logon, successful_logon], group-by: [TargetUserName],
              timespan: 10m, generate: true}
""", tmp_path)
    ok = [(0, sec(4625, TargetUserName="bob")), (60 * S, sec(4624, TargetUserName="bob"))]
    wrong_order = [(0, sec(4624, TargetUserName="eve")), (60 * S, sec(4625, TargetUserName="eve"))]
    out = run(eng, ok + wrong_order)
    assert [c.group for c in corrs(out)] == [{"TargetUserName": "bob"}]
    assert sum(1 for d in out if d.kind == "sigma") == 4  # generate: true keeps the base detections


def test_chaining_event_count_into_temporal_ordered(tmp_path):
    eng = build("""title: Many failed
name: many_failed
correlation: {type: event_count, rules: [failed_logon], group-by: [TargetUserName], timespan: 10m, condition: {gte: 3}}
---
title: Success after many failures
correlation: {type: temporal_ordered, rules: [many_failed, successful_logon], group-by: [TargetUserName], timespan: 30m}
level: critical
""", tmp_path)
    ev = [(i * S, sec(4625, TargetUserName="bob")) for i in range(3)] + [(100 * S, sec(4624, TargetUserName="bob"))]
    ev += [(200 * S, sec(4624, TargetUserName="amy"))]
    c = corrs(run(eng, ev))
    assert [(d.rule_title, d.group) for d in c] == [("Success after many failures", {"TargetUserName": "bob"})]
    assert c[0].level == "critical"


def test_aliases(tmp_path):
    eng = build("""title: Same address fails then logs in
correlation:
  type: temporal_ordered
  rules: [failed_logon, successful_logon]
  group-by: [src]
  timespan: 5m
  aliases:
    src: {failed_logon: IpAddress, successful_logon: SourceNetworkAddress}
""", tmp_path)
    ev = [(0, sec(4625, IpAddress="198.51.100.4")), (10 * S, sec(4624, SourceNetworkAddress="198.51.100.4"))]
    assert [c.group for c in corrs(run(eng, ev))] == [{"src": "198.51.100.4"}]


def _bytes_engine(tmp_path, kind: str, cond: str):
    return build(f"""title: Exfil
correlation: {{type: {kind}, rules: [outbound], group-by: [SourceIp], timespan: 1h, condition: {cond}}}
""", tmp_path)


def _net(ts, n):
    return (ts, sysmon(3, Initiated="true", SourceIp="10.0.0.5", Bytes=n))


def test_value_sum(tmp_path):
    eng = _bytes_engine(tmp_path, "value_sum", "{gt: 1000, field: Bytes}")
    assert corrs(run(eng, [_net(0, 400), _net(S, 400)])) == []
    eng = _bytes_engine(tmp_path, "value_sum", "{gt: 1000, field: Bytes}")
    assert len(corrs(run(eng, [_net(0, 400), _net(S, 400), _net(2 * S, 400)]))) == 1


def test_value_avg(tmp_path):
    eng = _bytes_engine(tmp_path, "value_avg", "{gte: 500, field: Bytes}")
    assert len(corrs(run(eng, [_net(0, 100), _net(S, 900)]))) == 1


def test_value_percentile(tmp_path):
    eng = build("""title: p90 bytes
correlation: {type: value_percentile, rules: [outbound], group-by: [SourceIp], timespan: 1h,
              condition: {field: Bytes, percentile: 90, gte: 900}}
""", tmp_path)
    events = [_net(i * S, v) for i, v in enumerate([100, 100, 100, 100, 100, 100, 100, 100, 1000, 1000])]
    assert len(corrs(run(eng, events))) == 1


def test_value_median_and_lt_judged_when_window_closes(tmp_path):
    eng = build("""title: few small
correlation: {type: value_median, rules: [outbound], group-by: [SourceIp], timespan: 1m,
              condition: {field: Bytes, lt: 50}}
""", tmp_path)
    assert corrs(run(eng, [_net(0, 10), _net(S, 20), _net(2 * S, 900), _net(3 * S, 950)])) == []  # median 455
    eng = build("""title: few small
correlation: {type: value_median, rules: [outbound], group-by: [SourceIp], timespan: 1m,
              condition: {field: Bytes, lt: 50}}
""", tmp_path)
    assert len(corrs(run(eng, [_net(0, 10), _net(S, 20), _net(2 * S, 900)]))) == 1  # median 20, judged at close
    eng = build("""title: few events
correlation: {type: event_count, rules: [outbound], group-by: [SourceIp], timespan: 1m, condition: {lt: 3}}
""", tmp_path)
    out = run(eng, [_net(0, 1), _net(S, 1), _net(120 * S, 1)])  # window 1 closes with 2 events
    assert len(corrs(out)) == 2  # the first window (2 < 3) on arrival of the third, the last at flush


def test_bounded_state(tmp_path):
    eng = build("""title: Many failed
correlation: {type: event_count, rules: [failed_logon], group-by: [TargetUserName], timespan: 1h, condition: {gte: 2}}
""", tmp_path, max_groups=100)
    out = run(eng, [(i, sec(4625, TargetUserName=f"user{i}")) for i in range(1000)])
    assert corrs(out) == []
    corr = eng.correlation.correlations[0]
    assert corr.evicted == 900 and len(corr.groups) == 0  # flushed at the end; never more than 100 held


def test_correlation_in_another_file(tmp_path):
    (tmp_path / "base.yml").write_text(BASE)
    (tmp_path / "corr.yml").write_text("""title: Many failed
correlation: {type: event_count, rules: [failed_logon], group-by: [TargetUserName], timespan: 1m, condition: {gte: 2}}
""")
    rs = load_rules([tmp_path])
    assert not rs.errors and len(rs.correlations) == 1
    eng = SigmaEngine(rs.rules, rs.correlations)
    assert len(corrs(run(eng, [(0, sec(4625, TargetUserName="x")), (S, sec(4625, TargetUserName="x"))]))) == 1


def test_unknown_reference_is_reported(tmp_path):
    (tmp_path / "corr.yml").write_text("""title: Dangling
correlation: {type: event_count, rules: [no_such_rule], group-by: [x], timespan: 1m, condition: {gte: 2}}
""")
    rs = load_rules([tmp_path])
    assert rs.errors and "no_such_rule" in rs.errors[0][1]
