// A run's results from its archive: the outputs (parsed), the protocol's default plots, and
// each output's description and units.
import { parseContents, parseOutput, parsePlots, traces } from "./outputs.js";
import { readText, readZip } from "./zip.js";

export async function loadResults(archiveUrl) {
  const response = await fetch(archiveUrl.split("#")[0], { credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not download the results (${response.status} ${response.statusText})`);
  const entries = readZip(await response.arrayBuffer());
  const plots = parsePlots((await readText(entries, "outputs-default-plots.csv")) || "");
  const contents = parseContents((await readText(entries, "outputs-contents.csv")) || "");
  const files = new Map();
  for (const name of entries.keys()) {
    const m = name.match(/(?:^|\/)outputs_(.+)\.csv$/);
    if (m) files.set(m[1], name);
  }
  const cache = new Map();
  async function output(name) {
    if (!files.has(name)) return null;
    if (!cache.has(name)) cache.set(name, parseOutput(await readText(entries, files.get(name))));
    return cache.get(name);
  }
  async function fileBlob(name) {
    const path = files.get(name);
    return path ? new Blob([await entries.get(path)()], { type: "text/csv" }) : null;
  }
  return { plots, contents, names: [...files.keys()].sort(), output, fileBlob };
}

/** The series of one plot of one run: [{label, x, y}], labelled with `prefix` and the key values. */
export async function plotSeries(results, plot, prefix = "") {
  const y = await results.output(plot.y);
  if (!y) return [];
  const x = plot.x ? await results.output(plot.x) : null;
  const xs = x ? (x.values || x.matrix[0]) : null;
  const ys = traces(xs, y);
  const key = plot.key ? await results.output(plot.key) : null;
  const keyValues = key && key.values ? Array.from(key.values) : null;
  return ys.map((trace, i) => ({
    label: `${prefix}${ys.length > 1 ? (keyValues ? `${plot.key}=${keyValues[i]}` : `${plot.y}[${i + 1}]`) : plot.y}`,
    x: xs || Float64Array.from(trace, (_, j) => j),
    y: trace,
  }));
}

export function axisLabel(results, name) {
  if (!name) return "index";
  const info = results.contents[name];
  return info ? `${info.description || name}${info.units ? ` (${info.units})` : ""}` : name;
}
