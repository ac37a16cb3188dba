// Home: counts and the newest versions and runs, in one GraphQL request.
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
  } catch {
    fill($("#runs"), h("li", { class: "muted" }, "Runs are listed in the ", h("a", { href: "/experiments" }, "experiment matrix"), "."));
  }
}

/** Counts by walking the lists a page at a time (the API has no count field); capped, so the home page stays quick. */
async function countList(field) {
  let n = 0;
  let after = null;
  for (let pages = 0; pages < 10; pages += 1) {
    const data = await gql(`query($after: String) { list: ${field}(first: 100, after: $after) { edges { cursor } pageInfo { hasNextPage endCursor } } }`, { after });
    n += data.list.edges.length;
    if (!data.list.pageInfo.hasNextPage) return String(n);
    after = data.list.pageInfo.endCursor;
  }
  return `${n}+`;
}

async function counts() {
  await Promise.all(["models", "protocols", "datasets"].map(async (field) => {
    const el = document.querySelector(`[data-count="${field}"]`);
    try { el.textContent = await countList(field); } catch { el.textContent = ""; }
  }));
}

// The page is usable once the newest versions are listed; counts and runs fill in beside them.
recentVersions().catch((e) => showError($("#home-error"), e)).finally(markReady);
recentRuns();
counts();
