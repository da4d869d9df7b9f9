"""The CrowdSec hub's own scenario tests (``crowdsec-hub/tests``), for the classes Garrison covers.

A test names its scenario(s), a log file and, in ``scenario.assert``, the alerts CrowdSec must raise with
their source addresses (``len(results) == 0`` when it must raise none). Garrison reads the same log through
its parsers and its whole detection stage (its own Sigma pack and the web detector), and passes when it
raises a detection of the scenario's class for each expected source; a test that expects no alert passes
when Garrison raises none of that class. Single attempts (informational) don't count: a class needs its
correlation or a detector's verdict.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from garrison.config import load_config
from garrison.model import RawRecord
from garrison.model.detection import Detection

# scenario name fragment -> Garrison class
CLASSES: list[tuple[str, str]] = [
    ("ssh-slow-bf", "ssh brute force"), ("ssh-bf", "ssh brute force"), ("ssh-time-based-bf", "ssh brute force"),
    ("http-sqli-probing", "web injection probing"), ("http-xss-probing", "web injection probing"),
    ("http-path-traversal-probing", "web injection probing"), ("http-sensitive-files", "sensitive files"),
    ("http-probing", "http probing"), ("http-admin-interface-probing", "http probing"),
    ("http-cve-probing", "cve probes"), ("cve", "cve probes"), ("log4j", "cve probes"),
    ("iptables-scan-multi_ports", "port scan"), ("pf-scan-multi_ports", "port scan"),
    ("windows-bf", "windows brute force"), ("impossible-travel", "impossible travel"),
    ("modsecurity", "web attacks a WAF saw"),
]
_WEB = ("garrison.web.",)
HTTP_LOG_TYPES = {"nginx", "apache2", "apache", "caddy", "traefik", "litespeed", "bunkerweb", "haproxy", "iis",
                  "http", "nginx-proxy-manager", "openresty"}


def _is_ip(value: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def _is(cls: str) -> Callable[[Detection], bool]:
    def tagged(d: Detection, *prefixes: str) -> bool:
        return any(t.lower().startswith(prefixes) for t in d.tags)

    checks: dict[str, Callable[[Detection], bool]] = {
        "ssh brute force": lambda d: d.kind == "correlation" and tagged(d, "attack.t1110"),
        "windows brute force": lambda d: d.kind == "correlation" and tagged(d, "attack.t1110"),
        "web injection probing": lambda d: d.rule_id.startswith(_WEB),
        "sensitive files": lambda d: d.rule_id == "9c1e7a52-5d3b-4d4e-9a7f-6a1f0b2c3d61" or tagged(d, "attack.t1595.003")
        or d.rule_id.startswith(_WEB),
        "http probing": lambda d: tagged(d, "attack.t1595") and d.level != "informational" or d.rule_id.startswith(_WEB),
        "cve probes": lambda d: d.rule_id.startswith(_WEB) or tagged(d, "attack.t1595", "attack.t1190"),
        "port scan": lambda d: tagged(d, "attack.t1046") and d.level != "informational",
        "impossible travel": lambda d: "impossible" in d.rule_title.lower(),
        "web attacks a WAF saw": lambda d: str(d.event.get("event.dataset", "")).startswith("waf.")
        and tagged(d, "attack.t1190"),
    }
    return checks[cls]


@dataclass
class HubTest:
    name: str
    cls: str
    log: Path
    sources: list[str]  # expected alert sources; empty when the test expects no alert


def _class_of(scenarios: list[str]) -> str | None:
    for s in scenarios:
        name = s.rsplit("/", 1)[-1].removesuffix(".yaml").lower()
        for frag, cls in CLASSES:
            if frag in name:
                return cls
    return None


def hub_tests(data: Path) -> list[HubTest]:
    out = []
    for d in sorted((data / "crowdsec-hub/tests").iterdir()):
        cfg_file, assert_file = d / "config.yaml", d / "scenario.assert"
        if not cfg_file.is_file() or not assert_file.is_file():
            continue
        cfg = yaml.safe_load(cfg_file.read_text()) or {}
        cls = _class_of([s for s in cfg.get("scenarios") or [] if s])
        log = d / str(cfg.get("log_file") or f"{d.name}.log")
        if cls is None or not log.is_file():
            continue
        text = assert_file.read_text()
        sources = sorted(set(re.findall(r'Sources\["([^"]+)"\]', text)) | set(re.findall(r'"([^"]+)" in results\[\d+\]'
                                                                                          r'\.Overflow\.GetSources', text)))
        if not sources and "len(results) == 0" not in text or any(not _is_ip(s) for s in sources):
            continue  # an alert on a user, a range or a local account, not a source address: not comparable
        if cls == "cve probes" and str(cfg.get("log_type")) not in HTTP_LOG_TYPES:
            continue  # local privilege escalation (pkexec, glibc) or mail client exploits: not web probes
        out.append(HubTest(d.name, cls, log, sources))
    return out


def _detections(log: Path, work: Path) -> list[Detection]:
    from garrison.detect.detectors.travel import TravelStage
    from garrison.detect.detectors.web import web_attack_stage
    from garrison.detect.sigma.stage import build_sigma_stage
    from garrison.pipeline import build_pipeline
    from garrison.sources.files import read_file
    from garrison.store import open_state

    cfg = load_config(None, data_dir=str(work))
    engine = open_state(work)
    pipe = build_pipeline(cfg, [])
    sigma = build_sigma_stage(cfg, engine)
    if sigma is not None:
        pipe.stages.append(sigma)
    pipe.stages.append(web_attack_stage)
    pipe.stages.append(TravelStage())
    recs = [r for r in read_file(log, None, cfg.ingest.max_line_bytes) if isinstance(r, RawRecord)]
    batch = pipe.process(recs)
    if sigma is not None:
        batch.detections += sigma.engine.flush()  # correlations judged at the end of their window
    return batch.detections


def run_hub(data: Path) -> list[tuple[HubTest, bool, list[str]]]:
    """(test, passed, sources Garrison flagged with that class) for every test in scope."""
    results = []
    for t in hub_tests(data):
        with tempfile.TemporaryDirectory() as tmp:
            dets = _detections(t.log, Path(tmp))
        match = _is(t.cls)
        flagged = sorted({str(e.get("source.ip")) for d in dets if match(d) for e in (d.event, *d.evidence)
                          if e.get("source.ip")})
        ok = all(s in flagged for s in t.sources) if t.sources else not flagged
        results.append((t, ok, flagged))
    return results
