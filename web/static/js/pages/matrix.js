// The experiment matrix: models × protocols, each cell's status by colour AND symbol.
// Read with one GraphQL request (experimentMatrix: rows, columns, compatibility and the newest run of
// every cell) and built as one table in a single pass (about 60 × 30 cells for the demo corpus); only one cell is
// in the tab order (roving tabindex) and the arrow keys move between cells. Cells that are queued
// or running are polled until they finish.
import { gql } from "../api.js";
import { RUN_FIELDS, latestRuns } from "../experiments.js";
import { $, fill, h, markReady, showError, viewUrl } from "../dom.js";

const main = document.getElementById("main");
const subset = main.dataset.subset || "public";
const signedIn = Boolean(main.dataset.signedIn);
const userName = main.dataset.user;
const nameFilter = (new URLSearchParams(location.search).get("q") || "").toLowerCase();
$("#subset-filter").value = nameFilter;

/** A chosen selection: `?models=id,id&protocols=id` (from the lists' checkboxes), or null for all. */
function chosenIds(kind) {
  const value = new URLSearchParams(location.search).get(kind);
  return value ? new Set(value.split(",").filter(Boolean)) : null;
}

const SYMBOL = { LOADING: "·", SUCCESS: "✓", PARTIAL: "◐", FAILED: "✕", INAPPLICABLE: "–", QUEUED: "…", RUNNING: "▶", CANCELLED: "⊘", NOTRUN: "○" };
const TERM = "iri shortName label";

// The whole matrix (rows, columns, and each cell's compatibility and newest run) in one request.
const MATRIX = `query($owner: String, $visibility: Visibility, $models: [ID!], $protocols: [ID!]) {
  matrix: experimentMatrix(owner: $owner, visibility: $visibility, models: $models, protocols: $protocols) {
    models { id uri entity { uri name } }
    protocols { id uri entity { uri name } }
    cells { modelId protocolId fits missingTerms { ${TERM} } latestRun { ${RUN_FIELDS} } experiment { id } } } }`;

async function loadMatrix() {
  const chosen = (kind) => { const ids = chosenIds(kind); return ids ? [...ids].map((id) => `${kind}/${id}`) : null; };
  const data = await gql(MATRIX, {
    owner: subset === "mine" ? userName : null,
    visibility: subset === "public" ? "PUBLIC" : subset === "moderated" ? "MODERATED" : null,
    models: chosen("models"), protocols: chosen("protocols") });
  const keep = (v) => !nameFilter || v.entity.name.toLowerCase().includes(nameFilter);
  const byName = (a, b) => a.name.localeCompare(b.name);
  const row = (v) => ({ name: v.entity.name, uri: v.entity.uri, versionUri: v.uri, versionId: v.id, cells: new Map() });
  const models = data.matrix.models.filter(keep).map(row).sort(byName);
  const protocols = data.matrix.protocols.filter(keep).map(row).sort(byName);
  const rowOf = new Map(models.map((m) => [m.versionId, m]));
  const columnOf = new Map(protocols.map((p) => [p.versionId, p]));
  for (const c of data.matrix.cells) {
    const model = rowOf.get(c.modelId);
    const protocol = columnOf.get(c.protocolId);
    if (!model || !protocol) continue; // filtered out by name
    model.cells.set(protocol.versionUri, { model, protocol, fits: c.fits, missing: c.missingTerms, run: c.latestRun, id: c.experiment.id });
  }
  return { models, protocols };
}

const cells = new Map(); // experiment id → {button, model, protocol, fits, missing, run}
const selected = new Set();
const tooltip = $("#tooltip");

function describe(cell) {
  const where = `${cell.model.name} × ${cell.protocol.name}`;
  if (!cell.fits && (!cell.run || cell.run.status === "INAPPLICABLE")) {
    return `${where}: inapplicable, the model lacks ${cell.missing.map((t) => t.label || t.shortName).join(", ") || "required terms"}`;
  }
  if (cell.run === undefined) return `${where}: status loading`;
  if (!cell.run) return `${where}: not run${signedIn ? "; select to run it" : ""}`;
  const { status } = cell.run;
  const progress = status === "RUNNING" && cell.run.progressTotal ? ` (${cell.run.progressDone} of ${cell.run.progressTotal})` : "";
  return `${where}: ${status.toLowerCase()}${progress}${cell.run.error ? `: ${cell.run.error.split("\n")[0]}` : ""}`;
}

function paint(cell) {
  let status = "NOTRUN";
  if (!cell.fits && (!cell.run || cell.run.status === "INAPPLICABLE")) status = "INAPPLICABLE";
  else if (cell.run === undefined) status = "LOADING";
  else if (cell.run) status = cell.run.status;
  const b = cell.button;
  b.className = status === "NOTRUN" || status === "LOADING" ? "" : `cell-${status}`;
  b.textContent = SYMBOL[status] || "?";
  if (status === "RUNNING") {
    const pct = cell.run.progressTotal ? Math.round((100 * cell.run.progressDone) / cell.run.progressTotal) : 50;
    b.style.background = `linear-gradient(to top, var(--running-fill) ${pct}%, var(--running-rest) ${pct}%)`;
  } else {
    b.style.background = "";
  }
  b.setAttribute("aria-label", describe(cell));
  b.setAttribute("aria-pressed", String(selected.has(cell.id)));
  b.dataset.status = status;
}

async function activate(cell, event) {
  if (event.shiftKey || event.ctrlKey || event.metaKey) {
    if (!cell.run || !["SUCCESS", "PARTIAL"].includes(cell.run.status)) return;
    if (selected.has(cell.id)) selected.delete(cell.id); else selected.add(cell.id);
    cell.button.style.outline = selected.has(cell.id) ? "3px solid #fb8c00" : "";
    paint(cell);
    $("#compare-selected").disabled = selected.size < 2;
    return;
  }
  if (cell.run === undefined && cell.fits) return; // its status is still loading
  if (cell.run && cell.run.status !== "INAPPLICABLE") { location.assign(viewUrl(cell.run.uri)); return; }
  if (!cell.fits || !signedIn) return;
  const data = await gql(`mutation($m: ID!, $p: ID!) { runExperiment(model: $m, protocol: $p) {
      __typename ... on Run { ${RUN_FIELDS} } ... on Error { message } } }`, { m: cell.model.versionId, p: cell.protocol.versionId });
  const result = data.runExperiment;
  if (result.message) { showError($("#matrix-error"), new Error(result.message)); return; }
  cell.run = result;
  paint(cell);
  poll();
}

let polling = null;
function poll() {
  if (polling) return;
  polling = setInterval(async () => {
    const active = [...cells.values()].filter((c) => c.run && ["QUEUED", "RUNNING"].includes(c.run.status));
    if (!active.length) { clearInterval(polling); polling = null; return; }
    try {
      const runs = await latestRuns(active.map((c) => c.id));
      for (const c of active) { if (runs.has(c.id)) { c.run = runs.get(c.id); paint(c); } }
    } catch { /* try again at the next tick */ }
  }, 2000);
}

function showTip(cell, target) {
  tooltip.textContent = describe(cell);
  tooltip.classList.remove("hidden");
  const r = target.getBoundingClientRect();
  tooltip.style.left = `${Math.min(r.right + 6, innerWidth - 280)}px`;
  tooltip.style.top = `${r.bottom + 6}px`;
}

function render(models, protocols) {
  const grid = [];
  const table = h("table", { class: "matrix" },
    h("caption", { class: "sr-only" }, "Experiment status: models in rows, protocols in columns"),
    h("thead", {}, h("tr", {}, h("th", { class: "corner", scope: "col" }, h("span", { class: "sr-only" }, "Model")),
      protocols.map((p) => h("th", { scope: "col" }, h("a", { href: viewUrl(p.uri), title: p.name }, p.name))))));
  const tbody = h("tbody");
  for (const [r, m] of models.entries()) {
    const row = h("tr", {}, h("th", { scope: "row" }, h("a", { href: viewUrl(m.uri), title: m.name }, m.name)));
    grid.push([]);
    for (const [c, p] of protocols.entries()) {
      const cell = m.cells.get(p.versionUri);
      const button = h("button", { type: "button", tabindex: r === 0 && c === 0 ? "0" : "-1", dataset: { r, c } });
      cell.button = button;
      grid[r].push(button);
      paint(cell);
      row.append(h("td", {}, button));
    }
    tbody.append(row);
  }
  table.append(tbody);
  table.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-r]");
    if (b) activate(cellAt(b), e).catch((err) => showError($("#matrix-error"), err));
  });
  table.addEventListener("keydown", (e) => {
    const b = e.target.closest("button[data-r]");
    if (!b) return;
    let r = Number(b.dataset.r);
    let c = Number(b.dataset.c);
    if ((e.key === "Enter" || e.key === " ") && e.shiftKey) {
      e.preventDefault();
      activate(cellAt(b), { shiftKey: true }).catch((err) => showError($("#matrix-error"), err));
      return;
    }
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (!(e.key in moves)) return;
    e.preventDefault();
    r = Math.max(0, Math.min(grid.length - 1, r + moves[e.key][0]));
    c = Math.max(0, Math.min(grid[0].length - 1, c + moves[e.key][1]));
    b.tabIndex = -1;
    grid[r][c].tabIndex = 0;
    grid[r][c].focus();
  });
  for (const type of ["mouseover", "focusin"]) {
    table.addEventListener(type, (e) => {
      const b = e.target.closest("button[data-r]");
      if (b) showTip(cellAt(b), b); else tooltip.classList.add("hidden");
    });
  }
  table.addEventListener("mouseleave", () => tooltip.classList.add("hidden"));
  table.addEventListener("focusout", () => tooltip.classList.add("hidden"));
  fill($("#matrix"), table);

  function cellAt(b) {
    return models[Number(b.dataset.r)].cells.get(protocols[Number(b.dataset.c)].versionUri);
  }
}

async function load() {
  if (subset === "mine" && !signedIn) {
    fill($("#matrix"), h("p", {}, h("a", { href: "/login?next=/experiments?subset=mine" }, "Sign in"), " to see your experiments."));
    return;
  }
  const { models, protocols } = await loadMatrix();
  const allCells = models.flatMap((m) => [...m.cells.values()]);
  if (!models.length || !protocols.length) {
    fill($("#matrix"), h("p", {}, `No ${models.length ? "protocols" : "models"} in this selection.`));
    return;
  }
  for (const cell of allCells) cells.set(cell.id, cell);
  render(models, protocols);
  summarise(models, protocols, allCells, false);
  markReady();
  performance.mark("complete");
  document.documentElement.dataset.complete = "true";
  poll();
}

function summarise(models, protocols, allCells, loading) {
  const counts = {};
  for (const cell of allCells) {
    const s = cell.button?.dataset.status;
    if (s && s !== "LOADING") counts[s] = (counts[s] || 0) + 1;
  }
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = Object.entries(counts).map(([k, v]) => `${v} ${k === "NOTRUN" ? "not run" : k.toLowerCase()}`);
  if (loading) parts.push("loading run statuses");
  const chosen = chosenIds("models") || chosenIds("protocols");
  fill($("#matrix-summary"), chosen ? ["Your chosen selection (", h("a", { href: "/experiments?subset=all" }, "show everything"), "). "] : "",
    `${plural(models.length, "model")} × ${plural(protocols.length, "protocol")}`, parts.length ? `: ${parts.join(", ")}.` : ".");
}

$("#compare-selected").addEventListener("click", () => {
  const runs = [...selected].map((id) => cells.get(id).run.uri.split("/").pop());
  location.assign(`/compare?runs=${runs.join(",")}`);
});

load().catch((error) => showError($("#matrix-error"), error)).finally(markReady);
