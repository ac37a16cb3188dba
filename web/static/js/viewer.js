// The file viewer: CellML and other XML highlighted, protocols highlighted with our grammar,
// CSV as a table, anything else as text. Files over a size limit are offered for download only,
// so the page stays quick.
import hljs from "../vendor/highlight/core.min.js";
import xml from "../vendor/highlight/languages/xml.min.js";
import protocol from "./protocol-language.js";
import { splitCsv } from "./outputs.js";
import { fill, h } from "./dom.js";

hljs.registerLanguage("xml", xml);
hljs.registerLanguage("protocol", protocol);

const MAX_VIEW_BYTES = 2 * 1024 * 1024;
const MAX_ROWS = 1000;
let cssLoaded = false;

function loadCss() {
  if (cssLoaded) return;
  cssLoaded = true;
  document.head.append(h("link", { rel: "stylesheet", href: "/static/vendor/highlight/a11y-light.min.css" }));
}

export function languageOf(path, format = "") {
  const p = path.toLowerCase();
  const f = String(format).toLowerCase();
  if (p.endsWith(".cellml") || p.endsWith(".xml") || p.endsWith(".sbml") || p.endsWith(".rdf") || f.includes("cellml") || f.includes("xml")) return "xml";
  if (p.endsWith(".txt") && (f.includes("protocol") || f === "")) return "protocol";
  if (p.endsWith(".csv") || f.includes("csv")) return "csv";
  return "text";
}

export function csvTable(text, caption) {
  const lines = text.split(/\r?\n/).filter((l) => l.length);
  const shown = lines.slice(0, MAX_ROWS + 1);
  const comment = shown.filter((l) => l.startsWith("#")).map((l) => l.slice(1).trim());
  const rows = shown.filter((l) => !l.startsWith("#")).map(splitCsv);
  const numeric = (cell) => cell !== "" && !Number.isNaN(Number(cell));
  const headerRow = rows.length > 1 && rows[0].some((c) => !numeric(c)) ? rows.shift() : null;
  const table = h("table", {},
    h("caption", { class: "sr-only" }, caption),
    headerRow && h("thead", {}, h("tr", {}, headerRow.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", { class: numeric(c) ? "num" : "" }, c))))));
  return h("div", {},
    comment.length ? h("p", { class: "muted" }, comment.join(" ")) : null,
    h("div", { class: "table-wrap" }, table),
    lines.length > MAX_ROWS + 1 ? h("p", { class: "muted" }, `Showing the first ${MAX_ROWS} of ${lines.length} lines; download the file for all of it.`) : null);
}

/** Show the file at `url` in `container`. */
export async function showFile(container, url, path, { format = "", size = 0 } = {}) {
  loadCss();
  const link = h("a", { href: url, download: path.split("/").pop() }, `Download ${path}`);
  if (size > MAX_VIEW_BYTES) {
    fill(container, h("p", {}, `${path} is ${(size / 1048576).toFixed(1)} MB, too large to show here. `, link));
    return;
  }
  fill(container, h("p", { class: "loading" }, `Loading ${path}`));
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    fill(container, h("p", { class: "notice error", role: "alert" }, `Could not load ${path}: ${response.status} ${response.statusText}`));
    return;
  }
  const text = await response.text();
  const language = languageOf(path, format);
  let body;
  if (language === "csv") {
    body = csvTable(text, path);
  } else {
    const code = h("code", { class: `language-${language}` });
    if (language === "text") code.textContent = text;
    else code.innerHTML = hljs.highlight(text, { language, ignoreIllegals: true }).value; // hljs escapes the text
    code.classList.add("hljs");
    body = h("pre", { tabindex: "0", "aria-label": `Contents of ${path}` }, code);
  }
  fill(container, h("p", {}, link), h("div", { class: "viewer" }, body));
}

/** A unified diff, coloured by line (added, removed, hunk headers). */
export function diffView(text) {
  const lines = text.split("\n");
  const code = h("code", {}, lines.map((line) => {
    let cls = "";
    if (line.startsWith("+") && !line.startsWith("+++")) cls = "add";
    else if (line.startsWith("-") && !line.startsWith("---")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    return h("span", { class: cls }, `${line}\n`);
  }));
  return h("div", { class: "viewer diff" }, h("pre", { tabindex: "0", "aria-label": "Differences" }, code));
}
