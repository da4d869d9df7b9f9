"""Each value modifier, wildcard, condition form and keyword search of the Sigma specification."""

from __future__ import annotations

import base64

import pytest
from sigma.collection import SigmaCollection

from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.load import load_rules  # noqa: F401 - registers the 'utf16le' alias


def engine(detection: str, logsource: str = "{product: windows, category: process_creation}",
           placeholders=None) -> SigmaEngine:
    rule = f"""
title: test
id: 6f1d5e4c-0000-4000-8000-000000000001
logsource: {logsource}
level: high
detection:
{detection}
"""
    coll = SigmaCollection.from_yaml(rule)
    eng = SigmaEngine(coll.rules, placeholders=placeholders)
    assert eng.report.loaded == 1, (eng.report.failed, eng.report.unrouted)
    return eng


def proc(**data) -> dict:
    ev = {"winlog.channel": "Microsoft-Windows-Sysmon/Operational", "winlog.event_id": 1,
          "event.original": " ".join(f"{k}={v}" for k, v in data.items())}
    ev.update({f"winlog.event_data.{k}": v for k, v in data.items()})
    return ev


def hits(eng, ev) -> bool:
    return bool(eng.match(ev))


@pytest.mark.parametrize("det,yes,no", [
    ("  sel:\n    Image|contains: 'Temp'\n  condition: sel", {"Image": r"C:\temp\x.exe"}, {"Image": r"C:\tmp\x.exe"}),
    ("  sel:\n    Image|startswith: 'C:\\\\Win'\n  condition: sel", {"Image": r"c:\windows\a.exe"}, {"Image": r"d:\windows\a.exe"}),
    ("  sel:\n    Image|endswith: '\\\\cmd.exe'\n  condition: sel", {"Image": r"C:\W\CMD.EXE"}, {"Image": r"C:\W\cmd.exe.bak"}),
    ("  sel:\n    CommandLine|contains|all: ['-nop', '-enc']\n  condition: sel", {"CommandLine": "ps -nop -w h -enc AAA"}, {"CommandLine": "ps -nop"}),
    ("  sel:\n    CommandLine|re: '-e(nc|ncodedcommand) [A-Za-z0-9+/=]{8,}'\n  condition: sel", {"CommandLine": "x -enc SQBFAFgAKAA="}, {"CommandLine": "x -enc SQB"}),
    ("  sel:\n    CommandLine|re|i: 'INVOKE-MIMIKATZ'\n  condition: sel", {"CommandLine": "invoke-mimikatz"}, {"CommandLine": "invoke-mimi"}),
    ("  sel:\n    CommandLine|re|m: '^second$'\n  condition: sel", {"CommandLine": "first\nsecond\nthird"}, {"CommandLine": "first second"}),
    ("  sel:\n    CommandLine|re|s: 'a.b'\n  condition: sel", {"CommandLine": "a\nb"}, {"CommandLine": "ab"}),
    ("  sel:\n    CommandLine|windash|contains: ' -exec bypass'\n  condition: sel", {"CommandLine": "powershell /exec bypass"}, {"CommandLine": "powershell exec bypass"}),
    ("  sel:\n    SourceIp|cidr: '10.0.0.0/8'\n  condition: sel", {"SourceIp": "10.2.3.4"}, {"SourceIp": "11.2.3.4"}),
    ("  sel:\n    SourceIp|cidr: 'fd00::/8'\n  condition: sel", {"SourceIp": "fd12::1"}, {"SourceIp": "fe80::1"}),
    ("  sel:\n    Image|exists: true\n  condition: sel", {"Image": "x"}, {"Other": "x"}),
    ("  sel:\n    Image|exists: false\n  condition: sel", {"Other": "x"}, {"Image": "x"}),
    ("  sel:\n    Image|cased: 'Evil.exe'\n  condition: sel", {"Image": "Evil.exe"}, {"Image": "evil.exe"}),
    ("  sel:\n    Image|neq: 'good.exe'\n  condition: sel", {"Image": "bad.exe"}, {"Image": "GOOD.exe"}),
    ("  sel:\n    Size|lt: 10\n  condition: sel", {"Size": "9"}, {"Size": 10}),
    ("  sel:\n    Size|lte: 10\n  condition: sel", {"Size": 10}, {"Size": "11"}),
    ("  sel:\n    Size|gt: 10\n  condition: sel", {"Size": 11}, {"Size": "10"}),
    ("  sel:\n    Size|gte: 10\n  condition: sel", {"Size": "10"}, {"Size": 9}),
    ("  sel:\n    ParentImage|fieldref: Image\n  condition: sel", {"Image": "a.exe", "ParentImage": "A.EXE"}, {"Image": "a.exe", "ParentImage": "b.exe"}),
    ("  sel:\n    Image: 'C:\\\\W\\\\?md.exe'\n  condition: sel", {"Image": r"C:\W\cmd.exe"}, {"Image": r"C:\W\cmmd.exe"}),
    ("  sel:\n    Image: 'C:\\\\*\\\\cmd.exe'\n  condition: sel", {"Image": r"C:\Windows\System32\cmd.exe"}, {"Image": r"D:\W\cmd.exe"}),
    ("  sel:\n    Image: 'star\\*lit'\n  condition: sel", {"Image": "star*lit"}, {"Image": "starXlit"}),
    ("  sel:\n    Image: null\n  condition: sel", {"Other": 1}, {"Image": "x"}),
    ("  sel:\n    Image: ''\n  condition: sel", {"Image": ""}, {"Image": "x"}),
    ("  sel:\n    EventID: 1\n    IntegrityLevel: 4096\n  condition: sel", {"IntegrityLevel": "4096"}, {"IntegrityLevel": "8192"}),
    ("  sel:\n    Flag: true\n  condition: sel", {"Flag": True}, {"Flag": False}),
])
def test_modifier(det, yes, no):
    eng = engine(det)
    assert hits(eng, proc(**yes))
    assert not hits(eng, proc(**no))


def test_base64_and_base64offset():
    eng = engine("  sel:\n    CommandLine|base64: 'http://'\n  condition: sel")
    assert hits(eng, proc(CommandLine=base64.b64encode(b"http://").decode()))
    eng = engine("  sel:\n    CommandLine|base64offset|contains: 'http://'\n  condition: sel")
    for prefix in (b"", b"a", b"ab"):
        enc = base64.b64encode(prefix + b"http://evil").decode()
        assert hits(eng, proc(CommandLine=f"powershell -enc {enc}")), prefix
    assert not hits(eng, proc(CommandLine=base64.b64encode(b"ftp://x").decode()))


@pytest.mark.parametrize("mod,encoding", [("wide", "utf-16-le"), ("utf16le", "utf-16-le"), ("utf16be", "utf-16-be"),
                                          ("utf16", "utf-16")])
def test_utf16_family(mod, encoding):
    eng = engine(f"  sel:\n    CommandLine|{mod}|base64offset|contains: 'ping'\n  condition: sel")
    enc = base64.b64encode("ping 1.2.3.4".encode(encoding)).decode()
    assert hits(eng, proc(CommandLine=enc))
    assert not hits(eng, proc(CommandLine=base64.b64encode(b"ping").decode()))


def test_expand_placeholders():
    eng = engine("  sel:\n    User|expand: '%Admins%'\n  condition: sel", placeholders={"Admins": ["root", "administrator"]})
    assert hits(eng, proc(User="Administrator"))
    assert not hits(eng, proc(User="guest"))


def test_expand_without_placeholder_values_is_reported():
    coll = SigmaCollection.from_yaml("""
title: t
logsource: {product: windows, category: process_creation}
detection: {sel: {User|expand: '%Missing%'}, condition: sel}
""")
    eng = SigmaEngine(coll.rules)
    assert eng.report.loaded == 0 and "placeholder %Missing%" in eng.report.failed[0][1]


@pytest.mark.parametrize("mod,value,ok,bad", [("minute", 5, "2026-01-01T10:05:00Z", "2026-01-01T10:06:00Z"),
                                              ("hour", 10, "2026-01-01T10:05:00Z", "2026-01-01T11:05:00Z"),
                                              ("day", 1, "2026-01-01T10:05:00Z", "2026-01-02T10:05:00Z"),
                                              ("week", 1, "2026-01-01T10:05:00Z", "2026-01-20T10:05:00Z"),
                                              ("month", 1, "2026-01-01T10:05:00Z", "2026-02-01T10:05:00Z"),
                                              ("year", 2026, "2026-01-01T10:05:00Z", "2025-01-01T10:05:00Z")])
def test_time_modifiers(mod, value, ok, bad):
    eng = engine(f"  sel:\n    UtcTime|{mod}: {value}\n  condition: sel")
    assert hits(eng, proc(UtcTime=ok))
    assert not hits(eng, proc(UtcTime=bad))


def test_conditions():
    det = """  sel_a:
    Image|endswith: '\\\\a.exe'
  sel_b:
    Image|endswith: '\\\\b.exe'
  filter_x:
    User: system
  _private:
    User: nobody
  condition: (1 of sel_* and not filter_x) or all of them"""
    eng = engine(det)
    assert hits(eng, proc(Image=r"C:\a.exe", User="alice"))
    assert hits(eng, proc(Image=r"C:\b.exe", User="alice"))
    assert not hits(eng, proc(Image=r"C:\a.exe", User="SYSTEM"))
    assert not hits(eng, proc(Image=r"C:\c.exe", User="alice"))
    eng = engine("  sel:\n    Image|endswith: '.exe'\n  _ignored:\n    User: nobody\n  condition: all of them")
    # identifiers starting with '_' are excluded from 'them'
    assert hits(eng, proc(Image="x.exe", User="alice"))


def test_all_of_pattern_and_list_linking():
    eng = engine("  sel_1:\n    Image|endswith: '.exe'\n  sel_2:\n    User: [alice, bob]\n  condition: all of sel_*")
    assert hits(eng, proc(Image="x.exe", User="bob"))
    assert not hits(eng, proc(Image="x.exe", User="carol"))


def test_keywords():
    eng = engine("  keywords:\n    - 'mimikatz'\n    - 'sekurlsa*logonpasswords'\n  condition: keywords")
    assert hits(eng, proc(CommandLine="run SEKURLSA::logonpasswords now"))
    assert hits(eng, proc(Image="mimikatz.exe"))
    assert not hits(eng, proc(Image="notepad.exe"))


def test_list_values_in_events_and_other_sources():
    eng = engine("  sel:\n    answers|contains: 'evil.example'\n  condition: sel", "{product: zeek, service: dns}")
    ev = {"event.dataset": "zeek.dns", "event.original": '{"answers":["a.example","x.evil.example"]}'}
    assert hits(eng, ev)


def test_unsupported_regex_is_rejected_with_reason(tmp_path):
    """A regex RE2 can't run (look-around, back-references) is refused at load with file and reason."""

    f = tmp_path / "bad.yml"
    f.write_text("title: t\nlogsource: {product: windows, category: process_creation}\n"
                 "detection: {sel: {CommandLine|re: '(?=lookahead)x'}, condition: sel}\n")
    good = tmp_path / "good.yml"
    good.write_text("title: g\nlogsource: {product: windows, category: process_creation}\n"
                    "detection: {sel: {CommandLine|re: 'x+y'}, condition: sel}\n")
    rs = load_rules([tmp_path])
    assert len(rs.rules) == 1 and rs.rules[0].title == "g"
    (path, reason), = rs.errors
    assert path.endswith("bad.yml") and "(?=lookahead)x" in reason and "invalid" in reason


def test_catastrophic_regex_cannot_hang_the_engine():
    """'(a+)+$' on 'aaa…!' never finishes on a backtracking engine; on RE2 it is linear."""
    import threading

    eng = engine("  sel:\n    CommandLine|re: '(a+)+$'\n  condition: sel")
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(hits(eng, proc(CommandLine="a" * 50_000 + "!"))), daemon=True)
    t.start()
    t.join(120)  # a liveness guard so that a regression fails instead of hanging CI, not a timing check
    assert result == [False]


def test_filter_meta_rule(tmp_path):
    """A Sigma filter (meta rule) removes its matches from the rules it names."""

    (tmp_path / "rule.yml").write_text("""
title: Whoami
id: 6f1d5e4c-0000-4000-8000-0000000000aa
logsource: {product: windows, category: process_creation}
detection: {sel: {Image|endswith: '\\\\whoami.exe'}, condition: sel}
""")
    (tmp_path / "filter.yml").write_text("""
title: Admins may run whoami
logsource: {product: windows, category: process_creation}
filter:
  rules: [6f1d5e4c-0000-4000-8000-0000000000aa]
  selection: {User: admin}
  condition: not selection
""")
    rs = load_rules([tmp_path])
    assert len(rs.filters) == 1 and not rs.errors
    eng = SigmaEngine(rs.rules)
    assert hits(eng, proc(Image=r"C:\\w\\whoami.exe", User="bob"))
    assert not hits(eng, proc(Image=r"C:\\w\\whoami.exe", User="admin"))
