// Moderation: endorse public versions (make them moderated) or withdraw the endorsement.
import { gql } from "../api.js";
import { $, fill, formatDate, h, markReady, showError, viewUrl } from "../dom.js";

const LIST = `query($visibility: Visibility!) { entities(visibility: $visibility, first: 100) {
  edges { node { uri name kind owner { name } latestVersion { id sha created visibility message } } } } }`;

async function setVisibility(version, visibility) {
  const data = await gql(`mutation($v: ID!, $vis: Visibility!) { setVisibility(version: $v, visibility: $vis) {
    __typename ... on Error { message } } }`, { v: version, vis: visibility });
  if (data.setVisibility.message) throw new Error(data.setVisibility.message);
  await load();
}

function rows(target, nodes, action, label) {
  const body = $(target);
  const items = nodes.filter((n) => n.latestVersion);
  if (!items.length) { fill(body, h("tr", {}, h("td", { colspan: 5, class: "muted" }, "None."))); return; }
  fill(body, items.map((n) => h("tr", {},
    h("td", {}, h("a", { href: viewUrl(n.uri) }, n.name)),
    h("td", {}, String(n.kind).toLowerCase()),
    h("td", {}, n.owner.name),
    h("td", {}, h("span", { class: "mono" }, n.latestVersion.sha.slice(0, 8)), ` ${formatDate(n.latestVersion.created)}`),
    h("td", {}, h("button", { type: "button", class: "secondary", "aria-label": `${label} ${n.name}`,
      onclick: () => setVisibility(n.latestVersion.id, action).catch((e) => showError($("#moderation-error"), e)) }, label)))));
}

async function load() {
  const [pub, mod] = await Promise.all([gql(LIST, { visibility: "PUBLIC" }), gql(LIST, { visibility: "MODERATED" })]);
  rows("#public", pub.entities.edges.map((e) => e.node).filter((n) => n.latestVersion?.visibility === "PUBLIC"), "MODERATED", "Endorse");
  rows("#moderated", mod.entities.edges.map((e) => e.node).filter((n) => n.latestVersion?.visibility === "MODERATED"), "PUBLIC", "Withdraw");
}

load().catch((error) => showError($("#moderation-error"), error)).finally(markReady);
