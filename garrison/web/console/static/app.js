// Garrison console: charts (Vega-Lite via the locally served vega-embed), click-to-filter, live overview.
"use strict";
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"];
const embedOpts = { actions: false, renderer: "svg" };

function attemptsSpec(series, categories, range) {
  const unit = range === "24h" ? "yearmonthdatehours" : range === "12m" ? "yearmonth" : "yearmonthdate";
  return {
    width: "container", height: 240, data: { values: series },
    mark: { type: "bar", tooltip: true },
    encoding: {
      x: { field: "t", timeUnit: unit, type: "ordinal", title: null },
      y: { aggregate: "sum", field: "n", type: "quantitative", title: "Attempts" },
      color: { field: "category", type: "nominal", title: "Kind", scale: { domain: categories, range: PALETTE } },
      tooltip: [{ field: "t", timeUnit: unit, type: "temporal", title: "When" }, { field: "category", type: "nominal" },
                { aggregate: "sum", field: "n", type: "quantitative", title: "attempts", format: "," }]
    }
  };
}

function histSpec(values) {
  return {
    width: "container", height: 120, data: { values: values },
    mark: { type: "bar", color: "#0072B2", tooltip: true },
    encoding: { x: { field: "t", type: "temporal", title: null }, y: { field: "n", type: "quantitative", title: "Hits" } }
  };
}

function draw() {
  if (!window.vegaEmbed) return;
  const a = document.getElementById("attempts-chart");
  if (a) vegaEmbed(a, attemptsSpec(JSON.parse(a.dataset.series), JSON.parse(a.dataset.categories), a.dataset.range), embedOpts);
  const h = document.getElementById("hist-chart");
  if (h) vegaEmbed(h, histSpec(JSON.parse(h.dataset.hist)), embedOpts);
}

function quote(v) { return /^[\w.:\/-]+$/.test(v) ? v : '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"'; }

function clickToFilter() {
  document.querySelectorAll("button.val").forEach(b => b.addEventListener("click", () => {
    const q = document.getElementById("q");
    const term = b.dataset.field + ":" + quote(b.dataset.value);
    q.value = q.value.trim() ? q.value.trim() + " AND " + term : term;
    q.form.submit();
  }));
}

function live() {
  const f = document.getElementById("funnel");
  if (!f) return;
  const status = document.getElementById("live-status");
  setInterval(async () => {
    try {
      const r = await fetch(f.dataset.live, { credentials: "same-origin" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const body = await r.json();
      f.querySelectorAll("b[data-k]").forEach(b => { b.textContent = body.funnel[b.dataset.k].toLocaleString("en-GB"); });
      status.textContent = "Updated " + new Date().toLocaleTimeString("en-GB") + ".";
    } catch (e) { status.textContent = "Live update failed (" + e.message + "); retrying."; }
  }, 15000);
}

document.addEventListener("DOMContentLoaded", () => { draw(); clickToFilter(); live(); });
