"""Each suite returns rows of (suite, class, detected, positives, flagged, negatives) measured on public data.

- fail2ban: labelled lines per service; a `match: true` line counts when Garrison classifies it as a failed
  authentication from the labelled host; a `match: false` line that is so classified is a false positive.
- crs: OWASP CRS regression requests per attack class; `expect_ids` must be flagged with that class,
  `no_expect_ids` must not. A `no_expect_ids` case only says that one CRS rule must stay quiet, and many are
  attacks another rule catches ("RCE from test 932230 combined with html entities"), so the near-misses that
  CRS's authors describe as benign ("False positive test against URL") are also counted on their own.
- csic: CSIC 2010 normal and anomalous requests (any class).
- httpparams: HttpParams values per attack type, and the normal ones.
- panther: Panther's Entra ID and Microsoft 365 rule tests for the behaviours Garrison covers (see
  ``garrison.evaluate.panther``).
- otrf: the OTRF atomic Windows recordings (see ``garrison.evaluate.otrf``).
- crowdsec: the CrowdSec hub's scenario tests whose scenario is a class Garrison covers (see
  ``garrison.evaluate.crowdsec``).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from garrison.detect.detectors.web import classify
from garrison.errors import GarrisonError
from garrison.model import Event, RawRecord
from garrison.parse import ParseState, parse_record
from garrison.parse.util import clean_ip


@dataclass
class Row:
    suite: str
    cls: str
    detected: int
    positives: int
    flagged: int
    negatives: int

    @property
    def recall(self) -> float:
        return self.detected / self.positives if self.positives else float("nan")

    @property
    def fp_rate(self) -> float:
        return self.flagged / self.negatives if self.negatives else float("nan")


# fail2ban's jails that are not about logging in: web probes and bad bots, DNS and port scans, spam, repeat
# offenders. Their lines are attempts of other kinds; they are reported apart from the login services.
F2B_NOT_LOGIN = {"apache-badbots", "apache-botsearch", "apache-fakegooglebot", "apache-modsecurity", "apache-nohome",
                 "apache-noscript", "apache-overflows", "apache-shellshock", "counter-strike", "exim-spam",
                 "named-refused", "nginx-bad-request", "nginx-botsearch", "nginx-forbidden", "nginx-limit-req", "nsd",
                 "php-url-fopen", "portsentry", "recidive", "scanlogd", "sendmail-reject", "squid", "suhosin",
                 "zzz-generic-example"}
_ATTEMPT_CATEGORIES = {"authentication", "network", "email", "web", "intrusion_detection"}


def fail2ban_lines(data: Path) -> Iterator[tuple[str, dict[str, Any], str, Event | None]]:
    """(service, label, line, Garrison's event or None) for every labelled line, each file parsed as one stream."""
    for f in sorted((data / "fail2ban/logs").iterdir()):
        if not f.is_file():
            continue
        lines = f.read_text(errors="replace").splitlines()
        st = ParseState(source=f.name)
        for i, line in enumerate(lines[:-1]):
            m = re.match(r"#\s*failJSON:\s*(\{.*\})\s*$", line)
            nxt = lines[i + 1]
            if not m or nxt.startswith("#") or not nxt.strip():
                continue
            try:
                meta = json.loads(m.group(1))
            except json.JSONDecodeError:
                continue
            try:
                ev = parse_record(RawRecord(text=nxt, source=f.name), st)
            except GarrisonError:
                ev = None
            yield f.name, meta, nxt, ev


def _from(ev: Event, host: str | None) -> bool:
    return host is None or ev.get("source.ip") in (host, clean_ip(host)) or ev.get("source.domain") == host


def fail2ban(data: Path) -> list[Row]:
    """Per service, two measures: ``fail2ban-login`` counts a line when Garrison reads it as a failed login from
    the labelled host; ``fail2ban`` when it reads it as any refused attempt from that host (a failed login, a
    rejected mail relay or recipient probe, a handshake that went nowhere).

    fail2ban labels a line per filter mode (normal, ddos, aggressive...), so the same line can be labelled a
    match in one section of a file and not in another. Garrison has no modes: it reads every kind it knows
    and names it. A line labelled a match in any mode is a positive; its 'no match' copies under a milder
    mode are not counted as negatives."""
    c: Counter[tuple[str, str, str]] = Counter()
    lines = list(fail2ban_lines(data))
    matched = {(svc, line) for svc, meta, line, _ev in lines if meta.get("match")}
    for svc, meta, line, ev in lines:
        if not meta.get("match") and (svc, line) in matched:
            continue
        failed_login = bool(ev) and ev.get("event.category") == "authentication" and ev.get("event.outcome") == "failure"
        attempt = bool(ev) and ev.get("event.outcome") == "failure" and ev.get("event.category") in _ATTEMPT_CATEGORIES
        if meta.get("match"):
            c[(svc, "pos", "")] += 1
            c[(svc, "tp", "login")] += failed_login and _from(ev, meta.get("host"))  # type: ignore[arg-type]
            c[(svc, "tp", "any")] += attempt and _from(ev, meta.get("host"))  # type: ignore[arg-type]
        else:
            c[(svc, "neg", "")] += 1
            c[(svc, "fp", "login")] += failed_login
            c[(svc, "fp", "any")] += attempt
    rows = []
    for svc in sorted({k[0] for k in c}):
        for suite, m in (("fail2ban", "any"), ("fail2ban-login", "login")):
            rows.append(Row(suite, svc, c[(svc, "tp", m)], c[(svc, "pos", "")], c[(svc, "fp", m)], c[(svc, "neg", "")]))
    return rows


def fail2ban_summary(rows: list[Row]) -> list[Row]:
    """The login services and the other jails, each as one row per measure."""
    out = []
    for suite, label in (("fail2ban-login", "failed login"), ("fail2ban", "any attempt")):
        for other in (False, True):
            sel = [r for r in rows if r.suite == suite and (r.cls in F2B_NOT_LOGIN) == other]
            name = f"{'other jails' if other else 'login services'} ({len(sel)}): {label}"
            out.append(Row("fail2ban", name, *(sum(getattr(r, k) for r in sel)
                                               for k in ("detected", "positives", "flagged", "negatives"))))
    return out


CRS_CLASSES = {"930": "lfi", "931": "rfi", "932": "rce", "933": "php", "941": "xss", "942": "sqli", "944": "java"}
_BORING_HEADERS = {"host", "accept", "user-agent", "cookie", "referer", "content-type", "content-length", "connection",
                   "accept-encoding", "accept-language", "proxy-connection", "keep-alive", "te", "cache-control", "pragma"}


# How CRS's authors describe a near-miss that is benign, and words that say it is an attack after all.
_BENIGN_DESC = re.compile(r"false.?positive|\bfp\b|should\s*n[o']t|must\s*n[o']t|legitimate|benign|negative\s+test|"
                          r"true\s+negative|normal|not\s+(?:be\s+)?(?:blocked|match|detected|trigger)|no\s+match|\bvalid\b|"
                          r"innocent|harmless", re.I)
_ATTACK_DESC = re.compile(r"attack|injection|bypass|evasion|exploit|payload\s*list|positive\s+test|false.?negative|\brce\b",
                          re.I)


# The CRS rules that run at its default paranoia level 1 (tag 'paranoia-level/1' in CRS v4's rule files), for the
# classes below target across all levels: a level-1 figure is what a site running CRS as shipped would catch.
# The tests of higher-level rules expect what CRS itself switches off by default ("Cut orange quarters into
# crosswise slices" is a positive for 932236, paranoia level 2).
CRS_PL1: dict[str, frozenset[str]] = {cls: frozenset(ids.split()) for cls, ids in {
    "sqli": "942100 942140 942151 942160 942170 942190 942220 942230 942240 942250 942270 942280 942290 942320 942350 "
            "942360 942500 942540 942550 942560",
    "rce": "932120 932125 932130 932140 932160 932170 932171 932175 932180 932230 932235 932250 932260 932261 932270 "
           "932280 932330 932370 932380",
    "php": "933100 933110 933120 933130 933140 933150 933160 933170 933180 933200 933210",
    "rfi": "931100 931110 931120",
}.items()}


@dataclass(frozen=True)
class CrsCase:
    cls: str
    rule_id: str
    expected: bool  # expect_ids: the attack is there
    benign: bool  # a no_expect_ids case its authors describe as benign
    parts: dict[str, str]


def crs_cases(data: Path) -> Iterator[CrsCase]:
    """Every CRS regression stage with an expectation, in one of Garrison's attack classes."""
    for f in sorted((data / "crs/tests").glob("REQUEST-9*/*.yaml")):
        cls = CRS_CLASSES.get(f.parent.name.split("-")[1])
        if cls is None:
            continue
        for test in (yaml.safe_load(f.read_text()) or {}).get("tests", []):
            desc = str(test.get("desc") or "")
            for st in test.get("stages", []):
                inp, log = st.get("input", {}), ((st.get("output") or {}).get("log") or {})
                if "expect_ids" not in log and "no_expect_ids" not in log:
                    continue
                sp = urlsplit(str(inp.get("uri", "") or ""))
                h = {str(k).lower(): str(v) for k, v in (inp.get("headers") or {}).items()}
                ua = h.get("user-agent", "")
                parts = {"path": sp.path, "query": sp.query, "body": str(inp.get("data", "") or ""),
                         "cookie": h.get("cookie", ""), "referer": h.get("referer", ""),
                         "user_agent": "" if "OWASP" in ua else ua}
                parts.update({"h:" + k: v for k, v in h.items() if k not in _BORING_HEADERS})
                expected = "expect_ids" in log
                benign = not expected and bool(_BENIGN_DESC.search(desc)) and not _ATTACK_DESC.search(desc)
                yield CrsCase(cls, f.stem, expected, benign, parts)


def crs(data: Path) -> list[Row]:
    c: Counter[tuple[str, str]] = Counter()
    for case in crs_cases(data):
        got = case.cls in {x.cls for x in classify(case.parts)}
        if case.expected:
            c[(case.cls, "pos")] += 1
            c[(case.cls, "tp")] += got
        else:
            c[(case.cls, "neg")] += 1
            c[(case.cls, "fp")] += got
            c[(case.cls, "bneg")] += case.benign
            c[(case.cls, "bfp")] += case.benign and got
        if case.rule_id in CRS_PL1.get(case.cls, ()):
            c[(case.cls, "pl1" + ("pos" if case.expected else "neg"))] += 1
            c[(case.cls, "pl1" + ("tp" if case.expected else "fp"))] += got
    rows = [Row("crs", cls, c[(cls, "tp")], c[(cls, "pos")], c[(cls, "fp")], c[(cls, "neg")])
            for cls in CRS_CLASSES.values()]
    rows += [Row("crs", f"{cls}, CRS paranoia 1", c[(cls, "pl1tp")], c[(cls, "pl1pos")], c[(cls, "pl1fp")],
                 c[(cls, "pl1neg")]) for cls in CRS_PL1]
    rows += [Row("crs", f"{cls}, benign near-misses", 0, 0, c[(cls, "bfp")], c[(cls, "bneg")])
             for cls in CRS_CLASSES.values() if c[(cls, "bneg")]]
    return rows


def _csic_requests(path: Path) -> Iterator[dict[str, str]]:
    cur: list[str] = []

    def parts(lines: list[str]) -> dict[str, str]:
        _, uri, _ = lines[0].split(" ", 2)
        sp = urlsplit(uri)
        i = 1
        while i < len(lines) and lines[i]:
            i += 1
        return {"path": sp.path, "query": sp.query, "body": "\n".join(x for x in lines[i + 1:] if x)}
    with gzip.open(path, "rt", encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if re.match(r"^(GET|POST|PUT) ", line) and cur:
                yield parts(cur)
                cur = []
            cur.append(line)
    if cur:
        yield parts(cur)


def csic(data: Path) -> list[Row]:
    d = data / "web/csic2010"
    pos = sum(1 for _ in _csic_requests(d / "anomalousTrafficTest.txt.gz"))
    tp = sum(1 for p in _csic_requests(d / "anomalousTrafficTest.txt.gz") if classify(p))
    neg = fp = 0
    for p in _csic_requests(d / "normalTrafficTraining.txt.gz"):
        neg += 1
        fp += bool(classify(p))
    return [Row("csic2010", "any", tp, pos, fp, neg)]


HTTPPARAMS = {"sqli": "sqli", "xss": "xss", "path-traversal": "lfi", "cmdi": "rce"}


def httpparams(data: Path) -> list[Row]:
    c: Counter[str] = Counter()
    with open(data / "web/httpparams/payload_full.csv", encoding="utf-8", errors="replace") as f:
        for r in csv.DictReader(f):
            got = {x.cls for x in classify({"query": r["payload"]})}
            if r["label"] == "norm":
                c["neg"] += 1
                c["fp"] += bool(got)
            else:
                cls = HTTPPARAMS[r["attack_type"]]
                c["pos:" + cls] += 1
                c["tp:" + cls] += cls in got
    rows = [Row("httpparams", cls, c["tp:" + cls], c["pos:" + cls], 0, 0) for cls in HTTPPARAMS.values()]
    return rows + [Row("httpparams", "normal values", 0, 0, c["fp"], c["neg"])]


def crowdsec(data: Path) -> list[Row]:
    """CrowdSec hub tests in Garrison's classes: a passed test is 'detected'; tests that expect no alert
    and got one of the class are 'wrongly flagged'."""
    from garrison.evaluate.crowdsec import run_hub

    by: dict[str, list[int]] = {}
    for t, passed, _ in run_hub(data):
        r = by.setdefault(t.cls, [0, 0, 0, 0])
        if t.sources:
            r[0] += passed
            r[1] += 1
        else:
            r[2] += not passed
            r[3] += 1
    return [Row("crowdsec-hub", cls, *v) for cls, v in sorted(by.items())]


def panther(data: Path) -> list[Row]:
    """Panther's Entra ID and Microsoft 365 rule tests for behaviours Garrison covers."""
    from garrison.evaluate.panther import run_panther

    by: dict[str, list[int]] = {}
    for c in run_panther(data):
        r = by.setdefault(c.behaviour, [0, 0, 0, 0])
        if c.expected:
            r[0] += c.fired
            r[1] += 1
        else:
            r[2] += c.fired
            r[3] += 1
    return [Row("panther", cls, *v) for cls, v in sorted(by.items())]


def bans(data: Path) -> list[Row]:
    """Addresses fail2ban (and CrowdSec) ban on loghub's OpenSSH log that Garrison bans too ('detected'), and
    Garrison's bans of addresses the other tool doesn't ban ('wrongly flagged', out of the other addresses that
    failed a login). A row is left out when its tool is missing (make test-deps provides both)."""
    from garrison.evaluate.bans import SSHD_LOG, crowdsec_bans, fail2ban_bans, garrison_bans

    log = data / SSHD_LOG
    tools = {"fail2ban sshd jail": fail2ban_bans(log), "crowdsec linux": crowdsec_bans(log)}
    if all(theirs is None for theirs in tools.values()):
        return []
    ours = garrison_bans(log)
    seen = {ev["source.ip"] for ev in _sshd_failures(log)}
    return [Row("bans", tool, len(theirs & ours), len(theirs), len(ours - theirs), len(seen - theirs))
            for tool, theirs in tools.items() if theirs is not None]


def _sshd_failures(path: Path) -> list[Event]:
    st = ParseState(source=str(path))
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            ev = parse_record(RawRecord(text=line, source=str(path)), st)
        except GarrisonError:
            continue
        if ev and ev.get("event.outcome") == "failure" and ev.get("source.ip"):
            out.append(ev)
    return out


def otrf(data: Path) -> list[Row]:
    """Per tactic folder: recordings with a detection of their ATT&CK tactic ('detected'), and with a high or
    critical one ('otrf-high'); then the Windows and network pack's incidents on a simulated benign week
    ('wrongly flagged' out of its days)."""
    import tempfile

    from garrison.config import load_config
    from garrison.evaluate.otrf import benign_days, evaluate

    if not (data / "otrf").is_dir():
        return []
    with tempfile.TemporaryDirectory(prefix="garrison-otrf-") as d:
        outcomes = list(evaluate(load_config(None, data_dir=d), data))
        week = benign_days(Path(d) / "benign")
    rows = []
    for suite, attr in (("otrf", "hit"), ("otrf-high", "hit_high")):
        folders = sorted({o.recording.folder for o in outcomes})
        for folder in [*folders, "all"]:
            sel = [o for o in outcomes if folder in ("all", o.recording.folder)]
            rows.append(Row(suite, folder, sum(getattr(o, attr) for o in sel), len(sel), 0, 0))
    rows.append(Row("otrf-benign", "pack incidents/days", 0, 0, week.pack_incidents, week.days))
    return rows


SUITES = {"fail2ban": fail2ban, "crs": crs, "csic2010": csic, "httpparams": httpparams, "crowdsec": crowdsec,
          "panther": panther, "bans": bans, "otrf": otrf}
