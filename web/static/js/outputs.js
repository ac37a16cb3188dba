// Reading experiment output files (`outputs_<name>.csv`, the functional-curation layout):
//   "# description" lines, then
//   "0" and one value                 for a scalar,
//   "1,N" and N values, one a line    for a vector,
//   rows of comma-separated values    for a 2-D array (no shape line).
// Also `outputs-default-plots.csv`, which lists the protocol's `plots` section.

export function parseOutput(text) {
  const lines = text.split(/\r?\n/);
  const comments = [];
  const rows = [];
  for (const line of lines) {
    if (!line.trim()) continue;
    if (line.startsWith("#")) comments.push(line.slice(1).trim());
    else rows.push(line.split(","));
  }
  const description = comments.join(" ");
  const rest = rows.slice(1);
  const first = rows[0] || [];
  if (first.length === 1 && first[0].trim() === "0" && rest.length === 1 && rest[0].length === 1) {
    return { description, shape: [], values: [Number(rest[0][0])] };
  }
  if (first.length === 2 && first[0].trim() === "1" && Number(first[1]) === rest.length && rest.every((r) => r.length === 1)) {
    return { description, shape: [rest.length], values: Float64Array.from(rest, (r) => Number(r[0])) };
  }
  const width = Math.max(0, ...rows.map((r) => r.length));
  if (rows.every((r) => r.length === 1)) {
    return { description, shape: [rows.length], values: Float64Array.from(rows, (r) => Number(r[0])) };
  }
  const matrix = rows.map((r) => Float64Array.from(r, Number));
  return { description, shape: [rows.length, width], matrix };
}

/**
 * The traces to draw for `y` against `x`: one per row or column of a 2-D `y`, whichever runs
 * along `x` (the files store either orientation).
 */
export function traces(x, y) {
  if (!y.matrix) return [y.values];
  const [rows, cols] = y.shape;
  const n = x ? x.length : cols;
  if (cols === n || !x) return y.matrix;
  if (rows === n) {
    return Array.from({ length: cols }, (_, c) => Float64Array.from(y.matrix, (row) => row[c]));
  }
  return y.matrix;
}

/** A plain array view of an output's values, whatever its shape (for tables). */
export function asRows(output) {
  if (output.matrix) return output.matrix;
  return Array.from(output.values, (v) => [v]);
}

/** `outputs-default-plots.csv`: one plot per line (title, file, data file, style, x, y, key). */
export function parsePlots(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#"));
  if (!lines.length) return [];
  const header = splitCsv(lines[0]).map((h) => h.toLowerCase());
  const at = (names) => header.findIndex((h) => names.some((n) => h.includes(n)));
  const title = at(["title"]);
  const style = at(["style"]);
  const first = at(["first variable"]);
  const second = at(["second variable"]);
  const key = at(["key"]);
  return lines.slice(1).map((line) => {
    const f = splitCsv(line);
    // The first variable is the x axis and the second the y axis; a plot of one variable is against its index.
    const a = first >= 0 ? f[first] : "";
    const b = second >= 0 ? f[second] : "";
    const [x, y] = b ? [a, b] : ["", a];
    return { title: f[title] || y, style: f[style] || "lines", y, x, key: key >= 0 ? f[key] || "" : "" };
  }).filter((p) => p.y);
}

/** `outputs-contents.csv`: name → {units, description, dimensions}. */
export function parseContents(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith("#"));
  if (!lines.length) return {};
  const header = splitCsv(lines[0]).map((h) => h.toLowerCase());
  const col = (name) => header.findIndex((h) => h.includes(name));
  const id = col("variable id");
  const name = col("variable name");
  const units = col("units");
  const out = {};
  for (const line of lines.slice(1)) {
    const f = splitCsv(line);
    const key = f[id >= 0 ? id : 0];
    out[key] = { description: name >= 0 ? f[name] : "", units: units >= 0 ? f[units] : "" };
  }
  return out;
}

function splitCsv(line) {
  const out = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { cur += '"'; i += 1; } else if (c === '"') quoted = false; else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { out.push(cur.trim()); cur = ""; } else cur += c;
  }
  out.push(cur.trim());
  return out;
}

export { splitCsv };
