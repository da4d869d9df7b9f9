"""Render a report as HTML, PDF (WeasyPrint, A4, header, page numbers) or Markdown, and archive it.

Every generated report is kept under ``DATA/reports/`` and listed in the ``reports`` table, which the
console shows.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine, insert, select

from garrison.errors import GarrisonError
from garrison.report import charts as C
from garrison.report.figures import _us, LIST_ALL_UP_TO, CATEGORY_NAMES, Report, build, by_month_and_kind, highlighted
from garrison.report.period import Period
from garrison.report.words import GLOSSARY, breach_words, country_name, duration, incident_summary, narrative, short_kind, words_used
from garrison.store import state as S

FORMATS = ("html", "pdf", "md")
_env = Environment(loader=PackageLoader("garrison.report", "templates"), autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=False, lstrip_blocks=False)


def md_escape(value: Any) -> Any:
    """Every value the Markdown template writes: no HTML (a viewer would render it), no table or link syntax."""
    if not isinstance(value, str):
        return value
    out = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\|[]`":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\r", " ").replace("\n", " ")


_md_env = Environment(loader=PackageLoader("garrison.report", "templates"), autoescape=False, finalize=md_escape)


@dataclass(frozen=True)
class Rendered:
    format: str
    content: bytes
    extra_files: dict[str, bytes]  # Markdown: its chart images, by relative name


def _logo(path: str | None) -> str | None:
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        raise GarrisonError(f"report.logo: {p} is not a file (set report.logo in the config to an image)")
    mime = mimetypes.guess_type(p.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}"


def _context(r: Report, logo: str | None, training: str | None, fmt: str, awareness: dict[str, Any] | None = None,
             cluster: str | None = None) -> dict[str, Any]:
    summarised = len(r.incidents) > LIST_ALL_UP_TO
    return {"r": r, "story": narrative(r), "names": CATEGORY_NAMES, "duration": duration, "country": country_name, "logo": _logo(logo),
            "glossary": words_used(r), "breach_words": breach_words(r), "glossary_text": GLOSSARY, "training": training, "listed": highlighted(r),
            "summarised": summarised, "summary": by_month_and_kind(r, short_kind) if summarised else ([], []),
            # A printed report stays readable: the full list of a busy year is for the screen.
            "appendix": summarised and fmt != "pdf", "awareness": awareness, "cluster": cluster}


def render(r: Report, fmt: str, logo: str | None = None, training: str | None = None, stem: str = "report",
           awareness: dict[str, Any] | None = None, cluster: str | None = None) -> Rendered:
    if fmt not in FORMATS:
        raise GarrisonError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    ctx = _context(r, logo, training, fmt, awareness, cluster)
    charts = C.charts(r)
    if fmt == "md":
        files = {f"{stem}.charts/{c.name}.png": C.png(c) for c in charts}
        ctx["charts"] = [{"name": c.name, "caption": c.caption, "file": f"{stem}.charts/{c.name}.png"} for c in charts]
        return Rendered("md", _md_env.get_template("report.md.j2").render(**ctx).encode(), files)
    if fmt == "html":
        ctx["charts"] = [{"name": c.name, "caption": c.caption, "markup": Markup(C.svg(c))} for c in charts]
        return Rendered("html", _env.get_template("report.html.j2").render(**ctx).encode(), {})
    # In print the charts are images: WeasyPrint then neither parses nor styles each SVG node as part of the
    # page (a third of the PDF's time with inline SVG; bench/report).
    ctx["charts"] = [{"name": c.name, "caption": c.caption, "markup": Markup('<img class="chart" alt="{}" src="data:image/svg+xml;base64,{}">')
                      .format(c.caption, base64.b64encode(C.svg(c).encode()).decode())} for c in charts]
    html = _env.get_template("report.html.j2").render(**ctx)
    from weasyprint import HTML

    return Rendered("pdf", HTML(string=html).write_pdf(), {})


def generate(engine: Engine, period: Period, organization: str, fmt: str, logo: str | None = None,
             org_id: str | None = None, stem: str = "report") -> Rendered:
    """Figures from the store, rendered: what ``garrison report`` and the console call. ``stem`` names a
    Markdown report's chart folder (``STEM.charts/``), written beside it."""
    from garrison.awareness.results import committee_sentence, latest_by_department
    from garrison.cluster.member import committee_sentence as cluster_sentence

    r = build(engine, period, organization, incident_summary, org_id)
    span = (_us(period.start), _us(period.end, end=True))
    return render(r, fmt, logo, training=committee_sentence(engine, *span), stem=stem, awareness=latest_by_department(engine, *span),
                  cluster=cluster_sentence(engine, *span))


def write(rendered: Rendered, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(rendered.content)
    for rel, data in rendered.extra_files.items():
        (out.parent / rel).parent.mkdir(parents=True, exist_ok=True)
        (out.parent / rel).write_bytes(data)


def archive(engine: Engine, data_dir: Path, period: Period, rendered: Rendered, author: str) -> int:
    """Keep a copy under DATA/reports and list it; returns the archive id."""
    now = int(time.time() * 1e6)
    stem = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now / 1e6))}-{period.start}-{period.end}"
    path = data_dir / "reports" / f"{stem}.{rendered.format}"
    write(rendered, path)
    with engine.begin() as c:
        rid = c.execute(insert(S.reports).values(
            created_at=now, period_start=period.start.isoformat(), period_end=period.end.isoformat(),
            label=period.label, format=rendered.format, path=str(path.relative_to(data_dir)), author=author,
            sha256=hashlib.sha256(rendered.content).hexdigest(), bytes=len(rendered.content))).inserted_primary_key[0]
    return int(rid)


def list_archive(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    with engine.connect() as c:
        return [dict(r) for r in c.execute(select(S.reports).order_by(S.reports.c.id.desc()).limit(limit)).mappings()]
