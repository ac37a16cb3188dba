// Interactive line plots on uPlot (canvas; stays smooth with 100k-point traces).
// Zoom: drag a box, the mouse wheel, or the keyboard (+/-); pan: arrow keys or shift-drag;
// reset: double-click, 0, or the button. Hovering shows every series' value in the legend.
// Export: PNG of the plot, CSV of its data.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { h } from "./dom.js";

const COLOURS = ["#0b57d0", "#d93025", "#188038", "#e37400", "#8430ce", "#007b83", "#b3261e", "#5f6368",
  "#1a73e8", "#f29900", "#9334e6", "#12b5cb"];

let cssLoaded = false;
function loadCss() {
  if (cssLoaded) return;
  cssLoaded = true;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/vendor/uplot/uPlot.min.css" }));
}

function sameX(series) {
  const x0 = series[0].x;
  return series.every((s) => s.x === x0 || (s.x.length === x0.length && s.x.every((v, i) => v === x0[i])));
}

function sortedByX(x, y) {
  for (let i = 1; i < x.length; i += 1) {
    if (x[i] < x[i - 1]) {
      const order = Array.from(x.keys()).sort((a, b) => x[a] - x[b]);
      return [Float64Array.from(order, (i2) => x[i2]), Float64Array.from(order, (i2) => y[i2])];
    }
  }
  return [x, y];
}

/** uPlot's data: one shared x and a y per series (series on other x values are joined, with gaps). */
export function alignedData(series) {
  if (sameX(series)) return [series[0].x, ...series.map((s) => s.y)];
  return uPlot.join(series.map((s) => sortedByX(s.x, s.y)));
}

function toCsv(labels, data) {
  const lines = [labels.map((l) => `"${String(l).replaceAll('"', '""')}"`).join(",")];
  const n = data[0].length;
  for (let i = 0; i < n; i += 1) lines.push(data.map((col) => (col[i] == null ? "" : col[i])).join(","));
  return `${lines.join("\n")}\n`;
}

function download(name, blob) {
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}

function slug(text) {
  return String(text || "plot").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "plot";
}

/**
 * Draw `series` ([{label, x, y}]) into `container`; returns the figure element. `style` "points" or
 * "linespoints" draws markers; the default is lines.
 */
export function makePlot(container, { title, xLabel = "", yLabel = "", series, style = "lines", height = 320 }) {
  loadCss();
  const data = alignedData(series);
  const points = style === "points" || style === "linespoints";
  const canvasBox = h("div", { class: "canvas", tabindex: "0", role: "img",
    "aria-label": `${title}: ${series.length} series of ${yLabel || "values"} against ${xLabel || "x"}. `
      + "Keys: plus and minus zoom, arrows pan, 0 resets." });
  const figure = h("figure", { class: "plot" }, h("figcaption", {}, title));
  const tools = h("div", { class: "tools" });
  figure.append(tools, canvasBox);
  container.append(figure);

  const opts = {
    width: Math.max(240, canvasBox.clientWidth || container.clientWidth || 600),
    height,
    scales: { x: { time: false } },
    axes: [{ label: xLabel }, { label: yLabel }],
    cursor: { drag: { x: true, y: true, uni: 30 }, points: { size: 6 } },
    series: [
      { label: xLabel || "x" },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLOURS[i % COLOURS.length],
        width: 1.5,
        spanGaps: true,
        points: { show: points, size: 5 },
        paths: style === "points" ? () => null : undefined,
      })),
    ],
    legend: { live: true },
  };
  const u = new uPlot(opts, data, canvasBox);
  // The full x range, from the (sorted) data: what reset returns to.
  const xs = data[0];
  const xRange = [xs[0], xs[xs.length - 1]];

  function reset() {
    u.batch(() => {
      u.setScale("x", { min: xRange[0], max: xRange[1] });
      u.setScale("y", { min: null, max: null });
    });
    u.redraw(true, true);
  }
  function zoomX(factor, centre = null) {
    const { min, max } = u.scales.x;
    const c = centre ?? (min + max) / 2;
    u.setScale("x", { min: c - (c - min) * factor, max: c + (max - c) * factor });
  }
  function panX(fraction) {
    const { min, max } = u.scales.x;
    const d = (max - min) * fraction;
    u.setScale("x", { min: min + d, max: max + d });
  }

  canvasBox.addEventListener("keydown", (e) => {
    const keys = { "+": () => zoomX(0.5), "=": () => zoomX(0.5), "-": () => zoomX(2), 0: reset,
      ArrowLeft: () => panX(-0.2), ArrowRight: () => panX(0.2) };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  });
  u.over.addEventListener("wheel", (e) => {
    e.preventDefault();
    const rect = u.over.getBoundingClientRect();
    zoomX(e.deltaY < 0 ? 0.8 : 1.25, u.posToVal(e.clientX - rect.left, "x"));
  }, { passive: false });
  u.over.addEventListener("dblclick", reset);
  // Shift-drag pans instead of zooming.
  u.over.addEventListener("mousedown", (e) => {
    if (!e.shiftKey) return;
    e.preventDefault();
    e.stopPropagation();
    const startX = e.clientX;
    const { min, max } = u.scales.x;
    const perPx = (max - min) / u.over.clientWidth;
    const move = (ev) => u.setScale("x", { min: min - (ev.clientX - startX) * perPx, max: max - (ev.clientX - startX) * perPx });
    const up = () => { window.removeEventListener("mousemove", move); window.removeEventListener("mouseup", up); };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  }, true);

  tools.append(
    h("button", { type: "button", class: "secondary", onclick: reset }, "Reset zoom"),
    h("button", { type: "button", class: "secondary", onclick: () => exportPng(u, title) }, "Download PNG"),
    h("button", { type: "button", class: "secondary", onclick: () => download(`${slug(title)}.csv`,
      new Blob([toCsv([xLabel || "x", ...series.map((s) => s.label)], data)], { type: "text/csv" })) }, "Download CSV"),
  );

  const resize = new ResizeObserver(() => {
    const width = Math.max(240, canvasBox.clientWidth);
    if (Math.abs(width - u.width) > 2) u.setSize({ width, height });
  });
  resize.observe(canvasBox);
  figure.uplot = u;
  return figure;
}

function exportPng(u, title) {
  const src = u.ctx.canvas;
  const out = document.createElement("canvas");
  const top = 30;
  out.width = src.width;
  out.height = src.height + top;
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = "#1b1f24";
  ctx.font = "bold 16px sans-serif";
  ctx.fillText(title, 10, 20);
  ctx.drawImage(src, 0, top);
  out.toBlob((blob) => download(`${slug(title)}.png`, blob), "image/png");
}
