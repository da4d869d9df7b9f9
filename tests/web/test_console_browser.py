"""The console in a real browser: Playwright drives Debian's Chromium against a running garrison serve
whose store holds a simulated day. Sign in, read the overview, open an incident from the queue, comment on
it and close it, run a search, ban an address. Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
import signal
from pathlib import Path

import pytest

from tests.conftest import needs
import yaml

from garrison.config import load_config
from garrison.pipeline.runner import build_live_pipeline
from garrison.simulate.load import import_simulated
from garrison.simulate.generate import simulate
from garrison.store import EventStore, open_state
from garrison.web.auth import add_user
from tests.e2e.test_serve_durability import _free_port, _start, _wait_http

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("GARRISON_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
PW = "correct horse battery staple"
pytestmark = needs(not Path(CHROMIUM).exists(), "Debian's chromium (make test-deps installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    sim = simulate(tmp / "logs", days=1, seed=7, staff=1500, scale=0.4)
    http = _free_port()
    cfg_path = tmp / "g.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "data_dir": str(tmp / "data"), "enrich": {"inventory": str(sim.out / "inventory.yaml")},
        "report": {"organization_name": "Exeshire County Council"},
        "ingest": {"http": f"127.0.0.1:{http}", "syslog_udp": None, "syslog_tcp": None}}))
    cfg = load_config(str(cfg_path))
    engine = open_state(cfg.data_path)
    import_simulated(build_live_pipeline(cfg, engine), EventStore(cfg.data_path, engine), sim.out)
    add_user(engine, "alice", PW, "analyst")
    proc = _start(cfg_path, tmp / "serve.log")
    try:
        _wait_http(http, timeout=120)
        yield f"http://127.0.0.1:{http}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


@contextmanager
def _browser_page(server, bypass_csp=False, user_agent=None):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        context = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=server,  # a laptop screen
                                      bypass_csp=bypass_csp, **({"user_agent": user_agent} if user_agent else {}))
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        browser.close()
        assert not errors, errors


@pytest.fixture
def page(server):
    with _browser_page(server) as pg:
        yield pg


@pytest.fixture
def audit_page(server):
    """The console with its Content-Security-Policy bypassed, so that axe-core can be injected."""
    with _browser_page(server, bypass_csp=True) as pg:
        yield pg


def _sign_in(page):
    page.goto("/console/")
    assert "/console/login" in page.url
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PW)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")


def test_overview(page):
    _sign_in(page)
    page.goto("/console/?range=7d")
    funnel = page.locator("#funnel")
    assert int(funnel.locator("b[data-k=attempts]").inner_text().replace(",", "")) > 1000
    assert int(funnel.locator("b[data-k=incidents]").inner_text().replace(",", "")) >= 1
    page.locator("#attempts-chart svg").first.wait_for(timeout=20_000)  # Vega drew the chart, from local files
    assert page.locator("#attempts-chart svg .mark-rect path").count() > 0
    assert page.get_by_role("heading", name="Top attacking countries").is_visible()
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_incident_comment_and_close(page):
    _sign_in(page)
    page.goto("/console/incidents")
    first = page.locator("table.queue tbody a").first
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/console/incidents/*")
    assert page.get_by_role("heading", name="Timeline").is_visible() or page.locator("#tl-h").is_visible()
    single = page.locator("ol.timeline > li:not(.group) > details")
    group = page.locator("ol.timeline > li.group > details")
    assert single.count() or group.count()
    if single.count():
        single.first.locator("summary").click()
        assert page.locator("ol.timeline pre.raw").first.is_visible()
    if group.count():  # repeats are one row, "Rule ×N, first–last", opening to each
        group.first.locator("summary").click()
        assert "×" in group.first.locator("summary").inner_text()
        assert group.first.locator("ol.timeline li").first.is_visible()
    page.get_by_label("Comment", exact=True).fill("Checked the bastion's auth log; account reset.")
    page.get_by_role("button", name="Add comment").click()
    assert "comment added" in page.locator(".notice").inner_text()
    assert page.get_by_text("Checked the bastion's auth log; account reset.").is_visible()
    page.get_by_label("Close as").select_option("tp_stopped")
    page.get_by_role("button", name="Close", exact=True).click()
    assert "closed as" in page.locator(".notice").inner_text()
    assert "closed" in page.locator("p.meta").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "incident.png"), full_page=True)
    assert title


def test_search_and_click_to_filter(page):
    _sign_in(page)
    page.goto("/console/search")
    page.get_by_label("Query").fill("event.dataset:sshd AND event.outcome:failure")
    page.get_by_label("Time range").select_option("7d")
    page.get_by_role("button", name="Search").click()
    hits = int(page.locator("#hits").inner_text().replace(",", ""))
    assert hits > 100
    page.locator("#hist-chart svg").first.wait_for(timeout=20_000)
    page.locator("button.val[data-field='source.ip']").first.click()
    page.wait_for_load_state()
    assert "source.ip:" in page.get_by_label("Query").input_value()
    assert 0 < int(page.locator("#hits").inner_text().replace(",", "")) < hits
    page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
    with page.expect_download() as dl:
        page.get_by_role("link", name="Export CSV").click()
    assert dl.value.suggested_filename.endswith(".csv")


def test_ban_an_address(page):
    _sign_in(page)
    page.goto("/console/bans")
    page.get_by_label("Target").fill("203.0.113.77")
    page.get_by_label("Reason").fill("scanning the website")
    page.get_by_role("button", name="Ban", exact=True).click()
    assert "203.0.113.77 banned" in page.locator(".notice").inner_text()
    row = page.locator("tr", has_text="ip:203.0.113.77").first
    assert "scanning the website" in row.inner_text()
    page.screenshot(path=str(ARTIFACTS / "bans.png"), full_page=True)
    row.get_by_role("button", name="Lift").click()
    assert "lifted" in page.locator(".notice").inner_text()


AXE = Path(__file__).resolve().parents[2] / ".ci/node/node_modules/axe-core/axe.min.js"


@needs(not AXE.exists(), "axe-core (make test installs it with npm)")
def test_pages_meet_wcag_aa_and_fit_a_laptop(audit_page):
    """axe-core's WCAG 2 A and AA rules (contrast included) on every page, at 1366x768."""
    page = audit_page
    page.goto("/console/login")
    pages = ["/console/login"]
    _sign_in(page)
    page.goto("/console/incidents")
    first = page.locator("table.queue tbody a").first.get_attribute("href")
    pages += ["/console/?range=7d", "/console/incidents", first, "/console/search?q=event.dataset:sshd&range=7d",
              "/console/bans", "/console/rules", "/console/sources", "/console/reports"]
    problems = {}
    for url in pages:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {runOnly: {type: 'tag', values: "
                               "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
        bad = [(v["id"], len(v["nodes"]), v["nodes"][0]["target"]) for v in result["violations"]]
        if bad:
            problems[url] = bad
        wide = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        if wide:  # wide tables scroll inside their own box
            problems.setdefault(url, []).append(("page wider than a 1366 px screen", 0, []))
    assert not problems, problems
