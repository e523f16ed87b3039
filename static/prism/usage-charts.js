// The charts of a usage page, drawn with the vendored uPlot (a global from uPlot.iife.min.js) from the
// JSON block the report carries (#usage-chart-data): {x: [day as Unix seconds], charts: {name: {title,
// series: [{label, values}]}}}, each drawn into its <figure data-chart="name">. htmx replaces the report
// when the period or the grouping changes; the charts are drawn again from the new block then.
// Costs arrive as decimal strings; they become numbers here, for drawing only.

import { chartTheme, onThemeChange, themedAxes } from "./chart-theme.js";

const HEIGHT = 220;
const plots = [];

function values(list) {
  return list.map((v) => (v == null ? null : Number(v)));
}

function drawChart(figure, x, chart) {
  figure.replaceChildren();
  if (!chart || chart.series.length === 0) {
    const empty = document.createElement("p");
    empty.className = "muted";
    const why = chart?.left_out?.length ? "no run here had a price" : "nothing to draw";
    empty.textContent = chart ? `${chart.title}: ${why}.` : "";
    figure.append(empty);
    return;
  }
  const theme = chartTheme();
  const options = {
    title: chart.title,
    width: Math.max(figure.clientWidth, 320),
    height: HEIGHT,
    scales: { x: { time: true } },
    axes: themedAxes([{}, {}], theme),
    series: [
      {},
      ...chart.series.map((line, n) => ({
        label: line.label,
        stroke: theme.series[n % theme.series.length],
        width: 2,
        spanGaps: false,
        points: { show: x.length < 60, fill: theme.background },
      })),
    ],
  };
  plots.push(new window.uPlot(options, [x, ...chart.series.map((line) => values(line.values))], figure));
}

function drawAll() {
  const block = document.getElementById("usage-chart-data");
  if (!block || !window.uPlot) return;
  while (plots.length) plots.pop().destroy();
  const data = JSON.parse(block.dataset.json);
  for (const figure of document.querySelectorAll("figure[data-chart]")) {
    drawChart(figure, data.x, data.charts[figure.dataset.chart]);
  }
}

drawAll();
document.body.addEventListener("htmx:afterSettle", drawAll);
onThemeChange(drawAll);
