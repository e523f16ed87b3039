// The server panels' charts (templates/servers/_panel.html), drawn with the vendored uPlot (a global
// from uPlot.iife.min.js) from the JSON in each panel's data-series attribute, and drawn again whenever
// htmx swaps in fresh panels: the old charts are destroyed first, so nothing they listen to is left behind.

import { onThemeChange, themedAxes } from "./chart-theme.js";

const CHARTS = {
  requests: { unit: "requests", series: [["running", "Running", "#4f46e5"], ["waiting", "Waiting", "#d97706"]] },
  cache: { unit: "%", range: [0, 100], series: [["kv", "KV-cache use", "#0891b2"], ["hit", "Prefix-cache hits", "#16a34a"]] },
  throughput: { unit: "tokens/s", series: [["gen", "Generation", "#7c3aed"], ["prompt", "Prompt", "#64748b"]] },
};
const HEIGHT = 150;
const plots = new Map(); // chart element → its uPlot

function drawAll(root) {
  for (const holder of root.querySelectorAll(".server-chart[data-chart]")) {
    if (plots.has(holder)) continue;
    const chart = CHARTS[holder.dataset.chart];
    const source = holder.closest("[data-series]");
    if (!chart || !source) continue;
    const data = JSON.parse(source.dataset.series);
    const options = {
      width: Math.max(240, holder.clientWidth || 320),
      height: HEIGHT,
      scales: { x: { time: true }, y: chart.range ? { range: chart.range } : { range: (u, min, max) => [0, Math.max(1, max)] } },
      series: [{}, ...chart.series.map(([, label, stroke]) => ({ label, stroke, width: 1.5 }))],
      axes: themedAxes([{}, { label: chart.unit, size: 56 }]),
    };
    plots.set(holder, new uPlot(options, [data.t, ...chart.series.map(([key]) => data[key])], holder));
    holder.dataset.drawn = "true";
  }
}

function destroyWithin(root) {
  for (const [holder, plot] of plots) {
    if (root.contains(holder)) {
      plot.destroy();
      plots.delete(holder);
    }
  }
}

document.addEventListener("htmx:beforeSwap", (event) => destroyWithin(event.detail.target));
document.addEventListener("htmx:load", (event) => drawAll(event.detail.elt));
drawAll(document);
onThemeChange(() => { destroyWithin(document.body); drawAll(document); });
