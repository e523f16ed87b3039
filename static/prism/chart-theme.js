// The colours charts draw with, from the page's theme (prism.css's variables), so that a chart reads in
// dark mode as well as in light; theme.js announces a change with `prism:theme`, and charts draw again.

const LIGHT = ["#4f46e5", "#059669", "#d97706", "#dc2626", "#0891b2", "#7c3aed", "#65a30d", "#db2777"];
const DARK = ["#8b93f8", "#34d399", "#fbbf24", "#f87171", "#22d3ee", "#c4b5fd", "#a3e635", "#f472b6"];

export function chartTheme() {
  const style = getComputedStyle(document.documentElement);
  const colour = (name) => style.getPropertyValue(name).trim();
  const dark = style.colorScheme.includes("dark");
  const series = dark ? DARK : LIGHT;
  return { dark, text: colour("--fg"), muted: colour("--muted"), grid: colour("--line"), background: colour("--card"), series };
}

// uPlot axes in the theme's colours: labels and ticks in the text colour, the grid in the lines' colour.
export function themedAxes(axes, theme = chartTheme()) {
  return axes.map((axis) => ({
    stroke: theme.text,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.grid, width: 1 },
    ...axis,
  }));
}

export function onThemeChange(redraw) {
  document.addEventListener("prism:theme", () => redraw());
}
