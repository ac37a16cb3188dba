// Compare runs: every plot any of the runs' protocols defines, with each run's traces overlaid on
// shared axes. The URL (?runs=a,b,c) reproduces the comparison.
import { gql } from "../api.js";
import { $, fill, h, markReady, showError, statusLabel, viewUrl } from "../dom.js";
import { onSubmit } from "../forms.js";
import { makePlot } from "../plot.js";
import { axisLabel, loadResults, plotSeries } from "../results.js";

const ids = (document.getElementById("main").dataset.runs || "").split(",").filter(Boolean);
const RUN = `... on Run { id uri status archiveUrl
  experiment { model { sha entity { name uri } } protocol { sha entity { name uri } } } }`;
const MAX_RUNS = 12;

function runIdFrom(text) {
  const t = text.trim().replace(/\/+$/, "");
  return t.split("/").pop();
}

function go(list) {
  location.assign(`/compare?runs=${list.join(",")}`);
}

onSubmit($("#add-run"), async (data) => {
  const id = runIdFrom(data.run);
  if (!id) throw Object.assign(new Error("give a run's address or id"), { field: "run" });
  go([...ids.filter((x) => x !== id), id]);
});

async function load() {
  if (!ids.length) {
    fill($("#compare-runs"), h("li", { class: "muted" }, "No runs chosen yet."));
    return;
  }
  if (ids.length > MAX_RUNS) showError($("#compare-error"), new Error(`Comparing the first ${MAX_RUNS} runs only.`));
  const chosen = ids.slice(0, MAX_RUNS);
  // One aliased lookup per run, in one request.
  const data = await gql(`query { ${chosen.map((id, i) => `r${i}: node(id: ${JSON.stringify(`runs/${id}`)}) { ${RUN} }`).join("\n")} }`);
  const runs = chosen.map((id, i) => (data[`r${i}`] ? { ...data[`r${i}`], shortId: id } : null));
  const missing = chosen.filter((_, i) => !runs[i]);
  if (missing.length) showError($("#compare-error"), new Error(`No run you can see with id ${missing.join(", ")}.`));
  const found = runs.filter(Boolean);
  const sameProtocol = new Set(found.map((r) => r.experiment.protocol?.entity.uri)).size === 1;
  const sameModel = new Set(found.map((r) => r.experiment.model?.entity.uri)).size === 1;
  const label = (r) => {
    const m = r.experiment.model?.entity.name ?? "?";
    const p = r.experiment.protocol?.entity.name ?? "?";
    if (sameProtocol && !sameModel) return m;
    if (sameModel && !sameProtocol) return p;
    return `${m} × ${p}`;
  };
  fill($("#compare-runs"), found.map((r) => h("li", {},
    h("a", { href: viewUrl(r.uri) }, `${r.experiment.model?.entity.name ?? "?"} × ${r.experiment.protocol?.entity.name ?? "?"}`), " ",
    statusLabel(r.status), " ",
    h("button", { type: "button", class: "secondary", "aria-label": `Remove ${label(r)}`, onclick: () => go(ids.filter((x) => x !== r.shortId)) }, "Remove"))));
  $("#share").classList.remove("hidden");
  $("#share-link").value = location.href;
  $("#copy-link").addEventListener("click", () => navigator.clipboard?.writeText(location.href));

  const withResults = found.filter((r) => r.archiveUrl && ["SUCCESS", "PARTIAL"].includes(r.status));
  const loaded = await Promise.all(withResults.map(async (r) => ({ run: r, results: await loadResults(r.archiveUrl) })));
  const specs = new Map();
  for (const { results } of loaded) {
    for (const plot of results.plots) if (!specs.has(plot.title)) specs.set(plot.title, plot);
  }
  const box = $("#compare-plots");
  fill(box);
  for (const [title, plot] of specs) {
    const series = [];
    let xLabel = "";
    let yLabel = "";
    for (const { run, results } of loaded) {
      const own = results.plots.find((p) => p.title === title) || plot;
      const part = await plotSeries(results, own, `${label(run)}: `);
      if (part.length) {
        series.push(...part);
        xLabel = xLabel || axisLabel(results, own.x);
        yLabel = yLabel || axisLabel(results, own.y);
      }
    }
    if (series.length) makePlot(box, { title, xLabel, yLabel, series, style: plot.style });
  }
  if (!specs.size) box.append(h("p", { class: "muted" }, "None of these runs has results to plot yet."));
}

load().catch((error) => showError($("#compare-error"), error)).finally(markReady);
