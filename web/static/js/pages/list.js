// Models, protocols and datasets: filtered (the URL holds the filters, so a filtered list can be
// bookmarked or shared) and paged with the API's keyset cursors.
import { gql } from "../api.js";
import { $, fill, formatDate, h, markReady, showError, viewUrl, visibilityBadge } from "../dom.js";

const PAGE = 50;
const { kind, segment } = document.getElementById("main").dataset;
const params = new URLSearchParams(location.search);
const filters = {
  owner: params.get("owner") || null,
  visibility: params.get("visibility") ? params.get("visibility").toUpperCase() : null,
  term: kind === "dataset" ? null : params.get("term") || null,
  text: params.get("q") || null,
};
const termArg = kind === "dataset" ? "" : ", term: $term";
const termVar = kind === "dataset" ? "" : ", $term: String";
const QUERY = `query List($owner: String, $visibility: Visibility, $text: String${termVar}, $first: Int, $after: String, $last: Int, $before: String) {
  list: ${segment}(owner: $owner, visibility: $visibility, text: $text${termArg}, first: $first, after: $after, last: $last, before: $before) {
    edges { node { id uri name owner { name } latestVersion { sha created visibility tags message } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

const cursors = { after: null, before: null };

// A chosen selection for the experiment matrix, kept across pages of the list (sessionStorage).
const selectable = kind !== "dataset";
const storeKey = `weblab:selection:${segment}`;
const chosen = new Set(JSON.parse(sessionStorage.getItem(storeKey) || "[]"));
const idOf = (uri) => uri.split("/").pop();
function choose(id, on) {
  if (on) chosen.add(id); else chosen.delete(id);
  sessionStorage.setItem(storeKey, JSON.stringify([...chosen]));
  showSelection();
}
function showSelection() {
  const button = $("#open-selection");
  if (!button) return;
  button.disabled = chosen.size === 0;
  fill($("#selection-count"), chosen.size ? `${chosen.size} selected` : "");
}
$("#open-selection")?.addEventListener("click", () => {
  const other = segment === "models" ? "protocols" : "models";
  const others = JSON.parse(sessionStorage.getItem(`weblab:selection:${other}`) || "[]");
  const params = new URLSearchParams({ subset: "all", [segment]: [...chosen].join(",") });
  if (others.length) params.set(other, others.join(","));
  location.assign(`/experiments?${params}`);
});
showSelection();

async function load(page = { first: PAGE }) {
  const variables = { ...filters, ...page };
  if (!variables.term) delete variables.term;
  const data = await gql(QUERY, variables);
  const { edges, pageInfo } = data.list;
  const rows = $("#rows");
  if (!edges.length) {
    fill(rows, h("tr", {}, h("td", { colspan: 5, class: "muted" }, `No ${kind}s match.`)));
  } else {
    fill(rows, edges.map(({ node }) => h("tr", {},
      selectable ? h("td", {}, h("input", { type: "checkbox", "aria-label": `Select ${node.name}`, checked: chosen.has(idOf(node.uri)),
        onchange: (e) => choose(idOf(node.uri), e.target.checked) })) : null,
      h("td", {}, h("a", { href: viewUrl(node.uri) }, node.name)),
      h("td", {}, h("a", { href: `/${segment}?owner=${encodeURIComponent(node.owner.name)}` }, node.owner.name)),
      h("td", {}, node.latestVersion ? [formatDate(node.latestVersion.created), node.latestVersion.message ? h("span", { class: "muted" }, ` · ${node.latestVersion.message}`) : null] : ""),
      h("td", {}, node.latestVersion ? visibilityBadge(node.latestVersion.visibility) : ""))));
  }
  fill($("#list-count"), `${edges.length} ${kind}${edges.length === 1 ? "" : "s"} on this page`);
  cursors.after = pageInfo.hasNextPage ? pageInfo.endCursor : null;
  cursors.before = pageInfo.hasPreviousPage ? pageInfo.startCursor : null;
  $("#next").disabled = !cursors.after;
  $("#prev").disabled = !cursors.before;
}

$("#next").addEventListener("click", () => load({ first: PAGE, after: cursors.after }).catch((e) => showError($("#list-error"), e)));
$("#prev").addEventListener("click", () => load({ last: PAGE, before: cursors.before }).catch((e) => showError($("#list-error"), e)));

// Suggest ontology terms as the user types in the term filter.
const termInput = $("#f-term");
let termTimer = null;
termInput?.addEventListener("input", () => {
  clearTimeout(termTimer);
  const text = termInput.value.trim();
  if (text.length < 3) return;
  termTimer = setTimeout(async () => {
    try {
      const data = await gql("query($text: String!) { ontologyTerms(text: $text) { iri shortName label } }", { text });
      fill($("#term-options"), data.ontologyTerms.slice(0, 30).map((t) => h("option", { value: t.iri }, t.label || t.shortName)));
    } catch { /* suggestions are optional */ }
  }, 250);
});

load().catch((error) => {
  fill($("#rows"));
  showError($("#list-error"), error);
}).finally(markReady);
