// Home: counts and the newest versions and runs, in one GraphQL request.
import { gql } from "../api.js";
import { $, fill, formatDate, h, markReady, showError, statusLabel, viewUrl, visibilityBadge } from "../dom.js";

const RECENT = `query Home {
  recent: entities(first: 10) { edges { node { uri name kind owner { name } latestVersion { created visibility message } } } }
}`;
const RUNS = `query HomeRuns { runs(first: 10) { edges { node { uri status finishedAt queuedAt
  experiment { model { entity { name } } protocol { entity { name } } } } } } }`;
const COUNTS = `query Counts { counts { models protocols datasets runs } }`;

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
  } catch {
    fill($("#runs"), h("li", { class: "muted" }, "Runs are listed in the ", h("a", { href: "/experiments" }, "experiment matrix"), "."));
  }
}

async function counts() {
  try {
    const data = await gql(COUNTS);
    for (const [key, value] of Object.entries(data.counts)) {
      const el = document.querySelector(`[data-count="${key}"]`);
      if (el) el.textContent = Number(value).toLocaleString();
    }
  } catch { /* counts are optional: the cards still link to the lists */ }
}

Promise.all([recentVersions().catch((e) => showError($("#home-error"), e)), recentRuns(), counts()]).finally(markReady);
