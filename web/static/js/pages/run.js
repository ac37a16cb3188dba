// The run page: live status (GraphQL subscription), then the protocol's plots and every output
// as a table or download, read from the result archive.
import { gql, subscribe } from "../api.js";
import { $, fill, formatDate, h, markReady, showError, statusLabel, viewUrl } from "../dom.js";
import { makePlot } from "../plot.js";
import { asRows } from "../outputs.js";
import { axisLabel, loadResults, plotSeries } from "../results.js";

const runId = document.getElementById("main").dataset.runId;
// Cancelling and running again need an account: visitors who are not signed in are not offered them.
const signedIn = Boolean(document.getElementById("main").dataset.signedIn);
const FINAL = new Set(["SUCCESS", "PARTIAL", "FAILED", "INAPPLICABLE", "CANCELLED"]);
const RUN = `id uri status queue attempts progressDone progressTotal queuedAt startedAt finishedAt error archiveUrl
  missingTerms { iri shortName label }`;
const QUERY = `query Run($id: ID!) { node(id: $id) { ... on Run { ${RUN}
  experiment { id uri model { id sha entity { name uri } }
    protocol { id sha entity { name uri } interface { inputs { name units defaultValue } } } }
  outputs { name units description shape scalar } } } }`;

let run = null;
let shownResults = false;

function renderInputs() {
  const inputs = run.experiment.protocol?.interface?.inputs || [];
  fill($("#inputs"), inputs.length
    ? h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "sr-only" }, "Protocol inputs"),
      h("thead", {}, h("tr", {}, ["Input", "Value", "Units"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, inputs.map((i) => h("tr", {}, h("td", { class: "mono" }, i.name), h("td", { class: "num" }, i.defaultValue ?? ""), h("td", {}, i.units || ""))))))
    : h("p", { class: "muted" }, "The protocol has no inputs."));
}

function renderSummary() {
  const e = run.experiment;
  const model = e.model ? h("a", { href: viewUrl(e.model.entity.uri) }, e.model.entity.name) : "a model";
  const protocol = e.protocol ? h("a", { href: viewUrl(e.protocol.entity.uri) }, e.protocol.entity.name) : "a protocol";
  fill($("#run-title"), model, " × ", protocol);
  document.title = `${e.model?.entity.name ?? "Run"} × ${e.protocol?.entity.name ?? ""} · Weblab`;
  const progress = run.status === "RUNNING" && run.progressTotal
    ? h("progress", { max: run.progressTotal, value: run.progressDone, "aria-label": "Progress" }) : null;
  fill($("#run-summary"),
    h("dt", {}, "Status"), h("dd", { id: "run-status" }, statusLabel(run.status),
      run.status === "RUNNING" && run.progressTotal ? ` ${run.progressDone} of ${run.progressTotal} steps` : "", progress),
    h("dt", {}, "Queued"), h("dd", {}, formatDate(run.queuedAt), ` (${run.queue})`),
    run.startedAt ? [h("dt", {}, "Started"), h("dd", {}, formatDate(run.startedAt), run.attempts > 1 ? ` (attempt ${run.attempts})` : "")] : null,
    run.finishedAt ? [h("dt", {}, "Finished"), h("dd", {}, formatDate(run.finishedAt))] : null,
    h("dt", {}, "Versions"), h("dd", {}, h("span", { class: "mono" }, `model ${e.model?.sha.slice(0, 8) ?? "?"}, protocol ${e.protocol?.sha.slice(0, 8) ?? "?"}`),
      " · ", h("a", { href: viewUrl(e.uri) }, "every run of this experiment")));
  const message = $("#run-message");
  if (run.status === "INAPPLICABLE") {
    fill(message, h("div", { class: "notice" }, "The model lacks terms the protocol needs: ",
      run.missingTerms.map((t, i) => [i ? ", " : "", h("a", { href: `/models?term=${encodeURIComponent(t.iri)}` }, t.label || t.shortName)])));
  } else if (run.error) {
    fill(message, h("h2", {}, "What went wrong"), h("pre", { class: "error-text" }, run.error));
  } else {
    fill(message);
  }
  fill($("#run-actions"),
    run.archiveUrl ? h("a", { class: "button secondary", href: run.archiveUrl, download: "" }, "Download results archive") : null,
    FINAL.has(run.status) && run.archiveUrl ? h("a", { class: "button secondary", href: `/compare?runs=${run.uri.split("/").pop()}` }, "Compare with other runs") : null,
    signedIn && !FINAL.has(run.status) ? h("button", { type: "button", class: "danger", onclick: () => act("cancelRun") }, "Cancel run") : null,
    signedIn && FINAL.has(run.status) && run.status !== "INAPPLICABLE" ? h("button", { type: "button", class: "secondary", onclick: () => act("rerun") }, "Run again") : null);
}

async function act(mutation) {
  try {
    const data = await gql(`mutation($run: ID!) { ${mutation}(run: $run) { __typename ... on Run { id uri status } ... on Error { message } } }`, { run: run.id });
    const result = data[mutation];
    if (result.message) throw new Error(result.message);
    if (result.uri && result.uri !== run.uri) location.assign(viewUrl(result.uri));
    else await refresh();
  } catch (error) {
    showError($("#run-error"), error);
  }
}

// What the plots and outputs sections say instead of "appear when the run has finished" once a run
// has ended without results.
const NO_RESULTS = {
  FAILED: "The run failed before producing outputs; see what went wrong above.",
  INAPPLICABLE: "The experiment cannot run on this model, so there are no outputs.",
  CANCELLED: "The run was cancelled before producing outputs.",
};

async function showResults() {
  if (shownResults || !FINAL.has(run.status)) return;
  if (!run.archiveUrl || !["SUCCESS", "PARTIAL"].includes(run.status)) {
    const why = NO_RESULTS[run.status] || "The run left no result archive.";
    fill($("#plots"), h("p", { class: "muted" }, why));
    fill($("#outputs"), h("p", { class: "muted" }, why));
    return;
  }
  shownResults = true;
  const results = await loadResults(run.archiveUrl);
  const plotsBox = $("#plots");
  fill(plotsBox);
  if (!results.plots.length) plotsBox.append(h("p", { class: "muted" }, "The protocol defines no plots."));
  for (const plot of results.plots) {
    const series = await plotSeries(results, plot);
    if (!series.length) continue;
    makePlot(plotsBox, { title: plot.title, xLabel: axisLabel(results, plot.x), yLabel: axisLabel(results, plot.y), series, style: plot.style });
  }
  const described = new Map((run.outputs || []).map((o) => [o.name, o]));
  fill($("#outputs"), h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, "Outputs"),
    h("thead", {}, h("tr", {}, ["Output", "Description", "Units", "Shape", "Value"].map((c) => h("th", { scope: "col" }, c)),
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Table or download")))),
    h("tbody", {}, results.names.map((name) => {
      const info = described.get(name) || {};
      const contents = results.contents[name] || {};
      return h("tr", {},
        h("td", { class: "mono" }, name),
        h("td", {}, info.description || contents.description || ""),
        h("td", {}, info.units || contents.units || ""),
        h("td", {}, info.shape ? (info.shape.length ? info.shape.join(" × ") : "scalar") : ""),
        h("td", { class: "num" }, info.scalar ?? ""),
        h("td", {},
          h("button", { type: "button", class: "link", "aria-label": `Show ${name} as a table`, onclick: () => showTable(results, name) }, "table"), " · ",
          h("button", { type: "button", class: "link", "aria-label": `Download ${name}`, onclick: async () => saveBlob(await results.fileBlob(name), `outputs_${name}.csv`) }, "download")));
    })))));
}

async function showTable(results, name) {
  const out = await results.output(name);
  const rows = asRows(out);
  const shown = rows.slice(0, 500);
  fill($("#output-table"), h("h3", { tabindex: "-1", id: "output-table-heading" }, name),
    h("div", { class: "viewer" }, h("table", {}, h("tbody", {}, shown.map((r) => h("tr", {}, Array.from(r, (v) => h("td", { class: "num" }, String(v)))))))),
    rows.length > shown.length ? h("p", { class: "muted" }, `First ${shown.length} of ${rows.length} rows; download the file for all.`) : null);
  $("#output-table-heading").focus();
}

function saveBlob(blob, name) {
  if (!blob) return;
  const a = h("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}

async function refresh() {
  const data = await gql(QUERY, { id: runId });
  if (!data.node) {
    fill($("#run-title"), "Run not found");
    showError($("#run-error"), new Error("There is no such run that you can see."));
    return false;
  }
  run = data.node;
  renderSummary();
  renderInputs();
  return true;
}

async function start() {
  if (!(await refresh())) return;
  if (FINAL.has(run.status)) {
    await showResults().catch((error) => showError($("#plots"), error));
    return;
  }
  let done = false;
  let poller = null;
  async function finish() {
    done = true;
    stop();
    clearInterval(poller);
    await refresh();
    await showResults().catch((error) => showError($("#plots"), error));
  }
  const stop = subscribe(`subscription($run: ID!) { runUpdates(run: $run) { ${RUN} } }`, { run: run.id }, async (data) => {
    const update = data.runUpdates;
    if (done) return;
    Object.assign(run, update);
    renderSummary();
    if (FINAL.has(update.status)) await finish();
  }, () => {
    // No live updates (a proxy may block WebSockets): ask every few seconds instead.
    if (poller || done) return;
    poller = setInterval(async () => {
      await refresh();
      if (FINAL.has(run.status) && !done) await finish();
    }, 3000);
  });
}

start().catch((error) => showError($("#run-error"), error)).finally(markReady);
