"""Reports for the committee: attempts, serious incidents and breaches over any period, in plain English."""

from garrison.report.period import Period, parse_period
from garrison.report.render import FORMATS, archive, generate, list_archive, render, write

__all__ = ["FORMATS", "Period", "archive", "generate", "list_archive", "parse_period", "render", "write"]
