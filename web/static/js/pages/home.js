// Home: counts (Query.counts), the newest versions (entities) and the newest runs (Query.runs).
import { gql } from "../api.js";
import { $, fill, formatDate, h, markReady, showError, statusLabel, viewUrl, visibilityBadge } from "../dom.js";

const RECENT = `query Home {
  recent: entities(first: 10) { edges { node { uri name kind owner { name } latestVersion { created visibility message } } } }
}`;
const RUNS = `query HomeRuns { runs(first: 10) { edges { node { uri status finishedAt queuedAt
  experiment { model { entity { name } } protocol { entity { name } } } } } } }`;

async function recentVersions() {
  const data = await gql(RECENT);
  const items = data.recent.edges.map((e) => e.node).filter((n) => n.latestVersion);
  fill($("#versions"), items.length ? items.map((n) => h("li", {},
    h("a", { href: viewUrl(n.uri) }, n.name), ` (${String(n.kind).toLowerCase()}) by ${n.owner.name}, `,
    formatDate(n.latestVersion.created), " ", visibilityBadge(n.latestVersion.visibility)))
    : h("li", { class: "muted" }, "Nothing published yet."));
}

async function recentRuns() {
  try {
    const data = await gql(RUNS);
    const runs = data.runs.edges.map((e) => e.node);
    fill($("#runs"), runs.length ? runs.map((r) => h("li", {},
      h("a", { href: viewUrl(r.uri) }, `${r.experiment.model?.entity.name ?? "?"} × ${r.experiment.protocol?.entity.name ?? "?"}`),
      " ", statusLabel(r.status), " ", h("span", { class: "muted" }, formatDate(r.finishedAt || r.queuedAt))))
      : h("li", { class: "muted" }, "No runs yet."));
  } catch (error) {
    showError($("#home-error"), error);
    fill($("#runs"), h("li", { class: "muted" }, "Runs could not be listed; see the ", h("a", { href: "/experiments" }, "experiment matrix"), "."));
  }
}

/** How many models, protocols and datasets the caller may see: one small query. */
async function counts() {
  const fields = ["models", "protocols", "datasets"];
  try {
    const data = await gql("query HomeCounts { counts { models protocols datasets } }");
    for (const field of fields) document.querySelector(`[data-count="${field}"]`).textContent = String(data.counts[field]);
  } catch {
    for (const field of fields) document.querySelector(`[data-count="${field}"]`).textContent = "";
  }
}

// The page is usable once the newest versions are listed; counts and runs fill in beside them.
recentVersions().catch((e) => showError($("#home-error"), e)).finally(markReady);
recentRuns();
counts();
