// The leaderboard's chart of rating against median cost per answer (the price–quality frontier), drawn
// with the vendored uPlot from the JSON block the board template carries. Drawn on load and again after
// every htmx swap of the board (filters, sorting, paging).

import { chartTheme, onThemeChange, themedAxes } from "./chart-theme.js";

let chart = null;

// The models no cheaper model beats, cheapest first: the frontier a team chooses along.
export function frontier(points) {
  const byCost = [...points].sort((a, b) => a.cost - b.cost || b.rating - a.rating);
  const best = [];
  for (const point of byCost) {
    if (!best.length || point.rating > best[best.length - 1].rating) best.push(point);
  }
  return best;
}

function dollars(value) {
  if (value === 0) return "$0";
  return "$" + (value >= 0.01 ? value.toFixed(2) : value.toPrecision(2));
}

function paint(u, points, theme) {
  const hosted = theme.series[0];
  const selfHosted = theme.series[2]; // amber, as the table's self-hosted rows are marked
  const ctx = u.ctx;
  const px = window.uPlot.pxRatio || 1;
  const at = (p) => [u.valToPos(p.cost, "x", true), u.valToPos(p.rating, "y", true)];
  ctx.save();
  const line = frontier(points);
  if (line.length > 1) {
    ctx.strokeStyle = theme.muted;
    ctx.setLineDash([6 * px, 4 * px]);
    ctx.lineWidth = px;
    ctx.beginPath();
    line.forEach((p, i) => (i ? ctx.lineTo(...at(p)) : ctx.moveTo(...at(p))));
    ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.font = `${12 * px}px system-ui, sans-serif`;
  ctx.textAlign = "left"; // uPlot leaves the axes' alignment on the context
  ctx.textBaseline = "alphabetic";
  for (const p of points) {
    const [x, y] = at(p);
    const low = u.valToPos(p.low, "y", true);
    const high = u.valToPos(p.high, "y", true);
    const colour = p.self_hosted ? selfHosted : hosted;
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = 1.5 * px;
    ctx.beginPath(); // the 95% interval, with caps
    ctx.moveTo(x, low); ctx.lineTo(x, high);
    ctx.moveTo(x - 4 * px, low); ctx.lineTo(x + 4 * px, low);
    ctx.moveTo(x - 4 * px, high); ctx.lineTo(x + 4 * px, high);
    ctx.stroke();
    ctx.beginPath();
    ctx.arc(x, y, (p.self_hosted ? 6 : 4.5) * px, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = theme.text;
    // A name that would run past the plot's right edge goes on the point's left.
    const past = x + 8 * px + ctx.measureText(p.name).width > u.bbox.left + u.bbox.width;
    ctx.textAlign = past ? "right" : "left";
    ctx.fillText(p.name, past ? x - 8 * px : x + 8 * px, y - 6 * px);
  }
  ctx.restore();
}

export function drawChart(root = document) {
  const holder = root.querySelector("#board-chart");
  const source = root.querySelector("#board-chart-data");
  if (chart) {
    chart.destroy();
    chart = null;
  }
  if (!holder || !source || !window.uPlot) return;
  const { points } = JSON.parse(source.dataset.json);
  holder.replaceChildren();
  holder.dataset.points = String(points.length);
  if (!points.length) return;
  const costs = points.map((p) => p.cost);
  const [cheapest, dearest] = [Math.min(...costs), Math.max(...costs)];
  const log = cheapest > 0 && dearest / cheapest > 20;
  const xRange = log
    ? [cheapest / 2, dearest * 2]
    : [Math.max(0, cheapest - (dearest - cheapest || dearest || 1) * 0.15), dearest + (dearest - cheapest || dearest || 1) * 0.25];
  const lows = points.map((p) => p.low);
  const highs = points.map((p) => p.high);
  const span = Math.max(...highs) - Math.min(...lows) || 100;
  const yRange = [Math.min(...lows) - span * 0.1, Math.max(...highs) + span * 0.1];
  const theme = chartTheme();
  const options = {
    width: holder.clientWidth || 640,
    height: 320,
    legend: { show: false },
    cursor: { show: false },
    scales: {
      x: { time: false, distr: log ? 3 : 1, range: () => xRange },
      y: { range: () => yRange },
    },
    axes: themedAxes([
      // On a log scale uPlot leaves some ticks unlabelled: their splits come as null.
      { label: "Median cost per answer (US$)" + (log ? ", log scale" : ""), values: (u, splits) => splits.map((v) => (v == null ? null : dollars(v))) },
      { label: "Rating", size: 60 },
    ], theme),
    series: [{}, { label: "Models", paths: () => null, points: { show: false } }],
    hooks: { draw: [(u) => paint(u, points, theme)] },
  };
  chart = new window.uPlot(options, [xRange, [null, null]], holder);
  holder.dataset.drawn = "true";
  holder.dataset.scale = log ? "log" : "linear";
}

drawChart();
document.body.addEventListener("htmx:afterSettle", () => drawChart());
onThemeChange(() => drawChart());
window.addEventListener("resize", () => {
  const holder = document.querySelector("#board-chart");
  if (chart && holder) chart.setSize({ width: holder.clientWidth || 640, height: 320 });
});
