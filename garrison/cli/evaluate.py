"""``garrison evaluate-suites``: detection figures on the peers' own labelled test suites."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from garrison.cli._context import out
from garrison.evaluate.suites import SUITES, fail2ban_summary


@click.command("evaluate-suites")
@click.option("--data", type=click.Path(exists=True, file_okay=False),
              default=lambda: os.environ.get("GARRISON_SHARED_DATA", "../shared/data"), show_default="../shared/data",
              help="Folder holding the public data sets.")
@click.option("--suite", "names", multiple=True, type=click.Choice(sorted(SUITES)), help="Only these suites.")
@click.option("--per-service", is_flag=True, help="fail2ban: also a row per service (any attempt).")
def evaluate_suites(data: str, names: tuple[str, ...], per_service: bool) -> None:
    """Print detection and false-positive rates on fail2ban, OWASP CRS, CSIC 2010 and HttpParams."""
    t = Table(title="Garrison on the peers' test suites")
    for c in ("suite", "class", "detected", "rate", "flagged", "FP rate"):  # flagged: wrongly, of the negatives
        left = c in ("suite", "class")
        t.add_column(c, justify="left" if left else "right", no_wrap=left)
    for name in names or sorted(SUITES):
        rows = SUITES[name](Path(data))
        if name == "fail2ban":
            rows = fail2ban_summary(rows) + ([r for r in rows if r.suite == "fail2ban"] if per_service else [])
        for r in rows:
            t.add_row(r.suite, r.cls, f"{r.detected:,}/{r.positives:,}" if r.positives else "-",
                      f"{r.recall:.1%}" if r.positives else "-",
                      f"{r.flagged:,}/{r.negatives:,}" if r.negatives else "-",
                      f"{r.fp_rate:.1%}" if r.negatives else "-")
    out.print(t)


COMMANDS = [evaluate_suites]
