"""The committee report: every headline figure from a store with known counts, the words for a period with
no serious incident, and all three formats from a store filled by garrison simulate. The PDF is checked
as a person would read it: pdftotext for its words, pdftoppm for its pages."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import date, datetime, timezone

import pytest

from tests.conftest import needs
from sqlalchemy import insert

from garrison.report import generate, parse_period, render
from garrison.report.figures import build
from garrison.report.words import incident_summary
from garrison.store import open_state
from garrison.store import state as S

PERIOD = "2026-07-01..2026-09-30"
needs_poppler = needs(shutil.which("pdftotext") is None, "poppler-utils (make test-deps installs it)")


def _us(d: str, hour: int = 12) -> int:
    return int(datetime.fromisoformat(d).replace(hour=hour, tzinfo=timezone.utc).timestamp() * 1e6)


def _store(tmp_path, serious: bool = True):
    engine = open_state(tmp_path)
    rows = []
    for day, cat, out, n in [("2026-07-01", "password_guessing", "blocked", 30000),
                             ("2026-07-01", "password_guessing", "not_blocked", 10000),
                             ("2026-08-15", "scan", "blocked", 45000), ("2026-09-30", "web_attack", "not_blocked", 5000),
                             ("2026-06-30", "scan", "blocked", 7000),  # the period before: for comparison only
                             ("2026-10-01", "scan", "blocked", 99999)]:  # after: not counted
        rows.append(dict(day=day, organization_id="default", category=cat, outcome=out, n=n))
    with engine.begin() as c:
        c.execute(insert(S.daily_attempts), rows)
        c.execute(insert(S.daily_counts), [dict(day=d, organization_id="default", input_type="file",
                                                dataset="sshd", outcome="", n=1) for d in ("2026-01-01", "2026-07-01")])
        c.execute(insert(S.daily_origins), [dict(day="2026-07-01", organization_id="default", country="CN",
                                                 network="CHINANET", n=20000),
                                            dict(day="2026-08-15", organization_id="default", country="RU", network="", n=30000)])
        if serious:
            for i, (outcome, status) in enumerate([("tp_breach", "closed"), ("tp_stopped", "closed"),
                                                   ("false_positive", "closed"), (None, "investigating")], 1):
                first = _us("2026-08-0%d" % i)
                c.execute(insert(S.incidents).values(
                    id=i, title=f"t{i}", severity="critical" if i == 1 else "high", status=status, outcome=outcome,
                    organization_id="default", created_at=first + 90_000_000, updated_at=first, first_seen=first,
                    last_seen=first, raised_at=first + 45_000_000, contained_at=first + 3_690_000_000 if status == "closed" else None,
                    risk=100, reason="critical rule"))
                c.execute(insert(S.detections).values(
                    id=i, timestamp=first, day="2026-08-0%d" % i, organization_id="default", rule_id="r", rule_title="r",
                    level="high", kind="sigma", tags='["attack.t1505.003"]' if i == 1 else '["attack.t1110.003"]'))
                c.execute(insert(S.incident_detections).values(incident_id=i, detection_id=i))
                c.execute(insert(S.incident_entities).values(incident_id=i, kind="host", value="web01"))
    return engine


def test_every_headline_figure_from_known_counts(tmp_path):
    engine = _store(tmp_path)
    r = build(engine, parse_period(PERIOD), "Exeshire County Council", incident_summary)
    assert r.period.days == 92 and r.bucket == "week"
    assert r.attempts == 90000 and r.blocked == 75000 and round(r.per_day) == 978
    assert r.by_category == {"password_guessing": 40000, "scan": 45000, "web_attack": 5000, "phishing": 0,
                             "malware": 0, "other": 0}
    assert r.previous_attempts == 7000
    assert r.serious == 3 and r.breaches == 1  # the false positive is not a serious incident
    assert [i.detect_seconds for i in r.incidents] == [45.0, 45.0, 45.0]
    assert r.incidents[0].contain_seconds == pytest.approx(3600 + 45)
    assert r.incidents[0].summary.startswith("A back door (web shell) was planted on the website on web01; the attacker succeeded")
    assert r.countries == [("RU", 30000), ("CN", 20000)] and r.networks == [("CHINANET", 20000)]
    md = render(r, "md").content.decode()
    for text in ("90,000", "978", "75,000 (83%)", "| 3 |", "2026-08-01", "45 seconds", "61 minutes", "Glossary",
                 "**web shell**", "Exeshire County Council", "1186% more than in the period"):
        assert text in md, text
    assert "1 breach confirmed; 1 still being investigated" in md and "none succeeded" not in md
    assert "3 serious incidents needed the security team's investigation" in md and "attempts were serious" not in md


def test_open_incidents_are_never_reported_as_none_succeeded(tmp_path):
    """A day with serious incidents still open: the report says they are being investigated, not that
    nothing succeeded; the average is over the days with records; plurals are right (issue 17)."""
    engine = open_state(tmp_path)
    first = _us("2026-09-29")
    with engine.begin() as c:
        c.execute(insert(S.daily_attempts), [dict(day="2026-09-29", organization_id="default",
                                                  category="password_guessing", outcome="blocked", n=29529)])
        c.execute(insert(S.daily_counts), [dict(day=d, organization_id="default", input_type="file", dataset="sshd",
                                                outcome="", n=1) for d in ("2026-09-28", "2026-09-29")])
        for i in (1, 2):
            c.execute(insert(S.incidents).values(
                id=i, title=f"t{i}", severity="critical", status="new" if i == 1 else "investigating", outcome=None,
                organization_id="default", created_at=first, updated_at=first, first_seen=first, last_seen=first,
                raised_at=first + 1_000_000, risk=300, reason="critical rule"))
    r = build(engine, parse_period("2026-09-01..2026-09-30"), "Exeshire", incident_summary)
    assert r.still_open == 2 and not r.none_succeeded and r.days_recorded == 3 and round(r.per_day) == 9843
    for fmt in ("md", "html"):
        text = render(r, fmt).content.decode()
        assert "none succeeded" not in text and "2 still being investigated; none confirmed as a breach so far" in text
        assert "a median of 1 second after" in text and "1 seconds" not in text
        assert "about 9,843 a day over the 3 days with records" in text
    html = render(r, "html").content.decode()
    assert 'class="fig open"' in html and 'none succeeded' not in html


def test_no_comparison_with_a_period_not_recorded(tmp_path):
    engine = _store(tmp_path)
    with engine.begin() as c:
        c.execute(S.daily_counts.delete().where(S.daily_counts.c.day == "2026-01-01"))
    r = build(engine, parse_period(PERIOD), "Exeshire", incident_summary)
    assert r.previous_attempts == 0 and not [t for t in r.trend if t["series"] == "previous period"]
    assert "more than in the period" not in render(r, "md").content.decode()


def test_no_serious_incident_is_said_in_words(tmp_path):
    engine = _store(tmp_path, serious=False)
    md = generate(engine, parse_period(PERIOD), "Exeshire", "md").content.decode()
    assert "No attempt was serious enough to need an investigation, and none succeeded." in md
    assert "There were no serious incidents in this period" in md
    assert "none succeeded" in md.split("## Summary")[0]  # in the headline figures too


@needs_poppler
def test_pdf_reads_right(tmp_path):
    engine = _store(tmp_path)
    pdf = generate(engine, parse_period(PERIOD), "Exeshire County Council", "pdf").content
    f = tmp_path / "r.pdf"
    f.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(f), "-"], capture_output=True, text=True, check=True).stdout
    for words in ("Cyber-security report", "Exeshire County Council", "1 July 2026 to 30 September 2026", "90,000",
                  "attempts in all", "blocked automatically", "serious incidents", "Page 1 of", "Glossary",
                  "A back door (web shell)", "Where attacks come from", "What is being done"):
        assert words in text, words
    info = subprocess.run(["pdfinfo", str(f)], capture_output=True, text=True, check=True).stdout
    assert "595.276 x 841.89 pts (A4)" in info
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(f), str(tmp_path / "p")], check=True)
    assert (tmp_path / "p-1.png").stat().st_size > 10_000


def test_periods():
    today = date(2026, 12, 2)
    assert parse_period("30d", today).start == date(2026, 11, 3)
    p = parse_period("12m", today)
    assert (p.start, p.end) == (date(2025, 12, 3), today) and p.previous().end == date(2025, 12, 2)
    q = parse_period("2026-Q3", today)
    assert (q.start, q.end, q.days) == (date(2026, 7, 1), date(2026, 9, 30), 92)
    assert parse_period("2026-02", today).end == date(2026, 2, 28)
    from garrison.errors import GarrisonError
    for bad in ("13x", "2026-Q5", "2026-10-01..2026-09-01", "0d"):
        with pytest.raises(GarrisonError):
            parse_period(bad, today)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, data):
    from garrison.config import load_config
    from garrison.pipeline.runner import build_live_pipeline
    from garrison.simulate.load import import_simulated
    from garrison.simulate.generate import simulate
    from garrison.store import EventStore

    tmp = tmp_path_factory.mktemp("rep")
    today = datetime.now(timezone.utc).date()
    sim = simulate(tmp / "logs", days=3, seed=5, staff=500, scale=0.3, start=today.replace(day=1) if today.day > 3
                   else today - __import__("datetime").timedelta(days=3))
    cfg = load_config(None, data_dir=str(tmp / "data"), enrich={"inventory": str(sim.out / "inventory.yaml")})
    engine = open_state(cfg.data_path)
    import_simulated(build_live_pipeline(cfg, engine), EventStore(cfg.data_path, engine), sim.out)
    return cfg, engine


@pytest.mark.parametrize("period", ["12m", "30d", f"{datetime.now(timezone.utc).year}-Q{(datetime.now(timezone.utc).month - 1) // 3 + 1}"])
@pytest.mark.parametrize("fmt", ["html", "pdf", "md"])
def test_formats_from_a_simulated_store(simulated, period, fmt, tmp_path):
    cfg, engine = simulated
    t0 = time.perf_counter()
    out = generate(engine, parse_period(period), "Exeshire", fmt)
    assert out.content
    if fmt == "html":
        html = out.content.decode()
        assert "<svg" in html and "http://" not in html.split("<svg")[0] and "serious incidents" in html
    if fmt == "md":
        assert all(name.endswith(".png") for name in out.extra_files) and len(out.extra_files) >= 2
    if fmt == "pdf":
        assert out.content.startswith(b"%PDF")
    assert time.perf_counter() - t0 >= 0  # timings are the bench's business (bench/report)


def test_cli_writes_and_archives(simulated, tmp_path):
    from click.testing import CliRunner

    from garrison.cli.main import cli

    cfg, _ = simulated
    res = CliRunner().invoke(cli, ["--data-dir", str(cfg.data_path), "report", "--period", "30d", "--out",
                                   str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.md").read_text().startswith("# Cyber-security report")
    assert (tmp_path / "r.charts" / "attempts.png").exists()
    listing = CliRunner().invoke(cli, ["--data-dir", str(cfg.data_path), "reports"])
    assert "md" in listing.output and "cli" in listing.output


def test_monthly_report_is_emailed_once(tmp_path):
    """The schedule sends last month's PDF to a real (local) SMTP server, once, and archives it."""
    import email

    from aiosmtpd.controller import Controller

    from garrison.config import load_config
    from garrison.report.schedule import due, send_monthly
    from tests.e2e.test_serve_durability import _free_port
    from tests.respond.test_notify_and_exports import _Mailbox

    box, port = _Mailbox(), _free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        engine = _store(tmp_path)
        cfg = load_config(None, data_dir=str(tmp_path), notify={"smtp_host": "127.0.0.1", "smtp_port": port},
                          report={"organization_name": "Exeshire", "mail_to": ["committee@council.example"],
                                  "monthly_day": 2})
        assert due(engine, cfg, date(2026, 9, 1)) is None  # before the day
        rid = send_monthly(engine, cfg, date(2026, 9, 2))
        assert rid is not None and send_monthly(engine, cfg, date(2026, 9, 20)) is None  # once a month
    finally:
        smtp.stop()
    (msg,) = box.messages
    assert msg[1] == ["committee@council.example"]
    parsed = email.message_from_string(msg[2])
    assert "August 2026" in parsed["Subject"]
    (pdf,) = [p for p in parsed.walk() if p.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "cyber-security-report-2026-08.pdf" and pdf.get_payload(decode=True).startswith(b"%PDF")
    from garrison.report import list_archive
    (row,) = list_archive(engine)
    assert row["author"] == "schedule" and (tmp_path / row["path"]).exists()


def test_a_busy_period_is_summarised_by_month_and_kind(tmp_path):
    """Past 40 serious incidents: a month-by-kind grid, every breach and the most severe listed, and the full
    list in an appendix on screen (not in the PDF)."""
    engine = _store(tmp_path)
    with engine.begin() as c:
        for i in range(10, 70):
            first = _us("2026-09-%02d" % (1 + i % 28))
            c.execute(insert(S.incidents).values(
                id=i, title="t", severity="high", status="closed", outcome="tp_stopped", organization_id="default",
                created_at=first, updated_at=first, first_seen=first, last_seen=first, raised_at=first, risk=100,
                reason="critical rule"))
            c.execute(insert(S.detections).values(id=i, timestamp=first, day="2026-09-01", organization_id="default",
                                                  rule_id="r", rule_title="r", level="high", kind="sigma",
                                                  tags='["attack.t1110.003"]'))
            c.execute(insert(S.incident_detections).values(incident_id=i, detection_id=i))
    r = build(engine, parse_period(PERIOD), "Exeshire", incident_summary)
    assert r.serious == 63
    md = render(r, "md").content.decode()
    assert "There were 63 serious incidents" in md
    grid = md.split("| Month |")[1].split("\n\n")[0]
    assert "Aug 2026 |" in grid and "Sep 2026 |" in grid and "Password spraying" in grid
    assert "## Appendix: every serious incident" in md
    listed = md.split("## Serious incidents")[1].split("## Where attacks")[0].count("| 2026-0")
    assert listed == 20  # the 20 listed one by one (HIGHLIGHTS); the grid names its months "Sep 2026"


def test_every_breach_is_listed_however_many():
    from garrison.report.figures import HIGHLIGHTS, IncidentRow, Report, highlighted

    r = Report(parse_period(PERIOD), "Exeshire", datetime.now(timezone.utc))
    r.incidents = [IncidentRow(i, "2026-09-%02d" % (1 + i % 28), "critical" if i % 2 else "high", "s",
                               "tp_breach" if i < 30 else "tp_stopped", None, None) for i in range(100)]
    listed = highlighted(r)
    assert sum(i.outcome == "tp_breach" for i in listed) == 30 and len(listed) == 30 > HIGHLIGHTS
    r.incidents = [i for i in r.incidents if i.outcome != "tp_breach"]
    listed = highlighted(r)
    assert len(listed) == HIGHLIGHTS and {i.severity for i in listed} == {"critical"}


def test_countries_are_named_in_words():
    from garrison.report.words import country_name

    assert [country_name(c) for c in ("RU", "KR", "IR", "GB", "cn", "XX", "")] == [
        "Russia", "South Korea", "Iran", "United Kingdom", "China", "XX", ""]


def test_markdown_report_escapes_what_it_writes():
    """A host name like <svg/onload=...> arrives escaped in the Markdown report, and can't break its tables."""
    from garrison.report.render import _md_env, md_escape

    assert md_escape("<svg/onload=alert(1)>") == "&lt;svg/onload=alert(1)&gt;"
    assert md_escape("a|b [x](javascript:y)") == "a\\|b \\[x\\](javascript:y)"
    out = _md_env.from_string("| {{ host }} |").render(host="<img src=x onerror=alert(1)>|x")
    assert "<img" not in out and "&lt;img" in out and "\\|x" in out
