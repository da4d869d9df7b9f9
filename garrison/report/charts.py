"""The report's charts as Vega-Lite specifications (built with Altair).

One specification serves both outputs: the console draws it interactively with vega-embed, and the
HTML, PDF and Markdown reports embed it as SVG or PNG rendered by vl-convert. Colours are the Okabe-Ito
palette, which people with the common colour-vision deficiencies can tell apart; every chart carries a
one-line caption saying what it shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt

from garrison.report.figures import CATEGORY_NAMES, Report
from garrison.report.words import country_name

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]
FONT = "DejaVu Sans"


@dataclass(frozen=True)
class Chart:
    name: str
    caption: str
    spec: dict[str, Any]


def _theme(chart: alt.TopLevelMixin, width: int = 640, height: int = 240) -> dict[str, Any]:
    spec: dict[str, Any] = chart.properties(width=width, height=height).configure(
        font=FONT, background="white").configure_axis(labelColor="#222", titleColor="#222", gridColor="#ddd"
                                                     ).configure_legend(labelColor="#222", titleColor="#222"
                                                                        ).configure_view(stroke=None).to_dict()
    spec.pop("$schema", None)  # vega-embed and vl-convert know the version; no fetch of a schema URL
    return spec


def attempts_chart(r: Report) -> Chart:
    unit = {"day": "yearmonthdate", "week": "yearmonthdate", "month": "yearmonth"}[r.bucket]
    this = [row for row in r.trend if row["series"] == "this period"]
    prev = [row for row in r.trend if row["series"] == "previous period"]
    order = [CATEGORY_NAMES[k] for k in CATEGORY_NAMES]
    x = alt.X(f"{unit}(bucket):T", title=None, axis=alt.Axis(format="%d %b" if r.bucket != "month" else "%b %Y"))
    bars = alt.Chart(alt.Data(values=this)).mark_bar().encode(
        x=x, y=alt.Y("sum(n):Q", title=f"Attempts per {r.bucket}", stack="zero"),
        color=alt.Color("category:N", title="Kind of attempt", scale=alt.Scale(domain=order, range=OKABE_ITO[:6]),
                        sort=order),
        order=alt.Order("category:N"),
        tooltip=[alt.Tooltip(f"{unit}(bucket):T", title=r.bucket.title()), "category:N",
                 alt.Tooltip("sum(n):Q", title="attempts", format=",")])
    layers: list[Any] = [bars]
    if any(row["n"] for row in prev):
        layers.append(alt.Chart(alt.Data(values=prev)).mark_line(color="#000000", strokeDash=[5, 3], point=True).encode(
            x=x, y="sum(n):Q", tooltip=[alt.Tooltip("sum(n):Q", title="previous period", format=",")]))
    caption = f"Attempts per {r.bucket} over {r.period.label}, by kind" + (
        " (bars); the dashed line is the period before, for comparison." if len(layers) > 1 else ".")
    return Chart("attempts", caption, _theme(alt.layer(*layers)))


def countries_chart(r: Report) -> Chart:
    rows = [{"country": country_name(c), "n": n} for c, n in r.countries]
    chart = alt.Chart(alt.Data(values=rows)).mark_bar(color=OKABE_ITO[0]).encode(
        y=alt.Y("country:N", sort="-x", title=None), x=alt.X("n:Q", title="Attempts"),
        tooltip=["country:N", alt.Tooltip("n:Q", format=",")])
    return Chart("countries", f"The countries attempts came from most often over {r.period.label} "
                              f"(by the attacker's address).", _theme(chart, 640, max(60, 22 * len(rows))))


def charts(r: Report) -> list[Chart]:
    # No separate by-kind chart: the attempts chart stacks the kinds and the table beside it gives the totals.
    out = [attempts_chart(r)]
    if r.countries:
        out.append(countries_chart(r))
    return out


def svg(chart: Chart) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.spec))


def png(chart: Chart, scale: float = 2.0) -> bytes:
    import vl_convert as vlc

    return bytes(vlc.vegalite_to_png(chart.spec, scale=scale))
