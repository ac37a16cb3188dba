// One experiment (a model version × a protocol version) and all its runs.
import { gql } from "../api.js";
import { $, fill, formatDate, h, markReady, showError, statusLabel, viewUrl } from "../dom.js";

const id = document.getElementById("main").dataset.experimentId;

async function load() {
  const data = await gql(`query($id: ID!) { node(id: $id) { ... on Experiment {
    model { sha entity { name uri } } protocol { sha entity { name uri } }
    runs { uri status queuedAt finishedAt } } } }`, { id });
  const e = data.node;
  if (!e) { fill($("#experiment-title"), "Experiment not found"); fill($("#experiment-runs")); return; }
  fill($("#experiment-title"), h("a", { href: viewUrl(e.model.entity.uri) }, e.model.entity.name), " × ",
    h("a", { href: viewUrl(e.protocol.entity.uri) }, e.protocol.entity.name));
  fill($("#experiment-runs"), e.runs.length ? e.runs.map((r) => h("li", {}, h("a", { href: viewUrl(r.uri) }, formatDate(r.queuedAt)), " ",
    statusLabel(r.status), r.finishedAt ? ` finished ${formatDate(r.finishedAt)}` : "")) : h("li", { class: "muted" }, "No runs."));
}

load().catch((error) => showError($("#experiment-error"), error)).finally(markReady);
