// The entity page: versions, files with the viewer, diff, annotations or interface,
// compatible counterparts, experiments, collaborators. One GraphQL query fills the page;
// the experiments and compatibility tabs load when first opened.
import { gql } from "../api.js";
import { $, fill, formatDate, h, markReady, showError, statusLabel, viewUrl, visibilityBadge } from "../dom.js";
import { onSubmit } from "../forms.js";
import { setupTabs } from "../tabs.js";
import { diffView, showFile } from "../viewer.js";

const main = document.getElementById("main");
const { entityId, kind } = main.dataset;
const ref = main.dataset.version || "latest";
const segment = entityId.split("/")[0];
const moderator = Boolean(main.dataset.moderator);

const TERM = "iri shortName label";
const ENTITY_QUERY = `query EntityPage($id: ID!, $ref: String!) {
  node(id: $id) {
    ... on Entity {
      id uri name kind created canEdit canManage
      owner { name }
      collaborators { name }
      versions(first: 100) { edges { node { id uri sha message created visibility tags author { name } } } }
      version(ref: $ref) {
        id uri sha message created visibility tags mainFile archiveUrl
        author { name }
        files { path size format isMain url }
        ${kind === "protocol" ? `interface { requiredTerms { ${TERM} } optionalTerms { ${TERM} }
          inputs { name units defaultValue } outputs { name units description optional } }` : ""}
      }
    }
  }
}`;

let entity = null;

function termLink(term) {
  const label = term.label || term.shortName || term.iri;
  return h("a", { href: `/models?term=${encodeURIComponent(term.iri)}`, title: term.iri }, label);
}

function renderHeader() {
  const v = entity.version;
  fill($("#entity-name"), entity.name);
  document.title = `${entity.name} · Weblab`;
  fill($("#entity-summary"),
    `${kind} by `, h("a", { href: `/${segment}?owner=${encodeURIComponent(entity.owner.name)}` }, entity.owner.name),
    v ? [` · version ${v.sha.slice(0, 8)} of ${formatDate(v.created)} `, visibilityBadge(v.visibility),
      ...v.tags.map((t) => [" ", h("span", { class: "badge tag" }, t)])] : " · no versions you can see",
    " · ", h("a", { href: entity.uri }, "linked data"));
  const actions = $("#entity-actions");
  fill(actions,
    v ? h("a", { class: "button secondary", href: v.archiveUrl, download: "" }, "Download archive (OMEX)") : null,
    entity.canEdit ? h("a", { class: "button secondary", href: `/upload?kind=${kind}&entity=${encodeURIComponent(entity.uri)}` }, "Upload a new version") : null,
    entity.canManage ? h("button", { type: "button", class: "danger", onclick: confirmDelete }, `Delete this ${kind}`) : null);
}

/** Deleting takes every version with it, so the owner (or an admin) confirms in a dialog first; "Keep it"
 * has the focus, so a stray Enter keeps the entity. */
function confirmDelete() {
  const dialog = $("#delete-dialog");
  const count = entity.versions.edges.length;
  fill($("#delete-what"), `${entity.name} and its ${count === 1 ? "version" : `${count} versions`} will be deleted, `,
    "with their files, for everyone. This cannot be undone.");
  dialog.returnValue = "";
  dialog.showModal();
}

async function deleteEntity() {
  try {
    await mutate("deleteEntity", `mutation($id: ID!) { deleteEntity(entity: $id) {
      __typename ... on Error { message } } }`, { id: entity.id });
    location.assign(`/${segment}?deleted=${encodeURIComponent(entity.name)}`);
  } catch (error) {
    showError($("#entity-error"), error);
  }
}

function renderFiles() {
  const v = entity.version;
  const list = $("#files");
  if (!v) { fill(list, h("li", { class: "muted" }, "No files.")); return; }
  const files = v.files.filter((f) => f.path !== "manifest.xml");
  fill(list, files.map((f) => h("li", {},
    h("button", { type: "button", class: "link", onclick: () => openFile(f) }, f.path),
    f.isMain ? h("span", { class: "badge tag" }, "main") : null,
    h("span", { class: "muted" }, `${f.size.toLocaleString()} bytes`),
    h("a", { href: f.url, download: f.path.split("/").pop(), "aria-label": `Download ${f.path}` }, "download"))));
  const first = files.find((f) => f.isMain) || files[0];
  if (first) openFile(first);
}

function openFile(file) {
  showFile($("#file-view"), file.url, file.path, { format: file.format, size: file.size })
    .catch((error) => showError($("#file-view"), error));
}

function renderVersions() {
  const versions = entity.versions.edges.map((e) => e.node);
  fill($("#versions"), versions.map((v) => h("tr", {},
    h("td", {}, h("a", { href: `?version=${v.sha}`, class: "mono" }, v.sha.slice(0, 8)),
      v.sha === entity.version?.sha ? h("span", { class: "sr-only" }, " (shown)") : null),
    h("td", {}, formatDate(v.created)),
    h("td", {}, v.author.name),
    h("td", {}, entity.canManage ? visibilitySelect(v) : visibilityBadge(v.visibility)),
    h("td", {}, v.tags.map((t) => h("span", { class: "badge tag" }, t))),
    h("td", {}, v.message))));
  fill($("#tag-version"), versions.map((v) => h("option", { value: v.id }, `${v.sha.slice(0, 8)} ${formatDate(v.created)}`)));
  $("#tag-form").classList.toggle("hidden", !entity.canEdit);
  const options = versions.map((v) => h("option", { value: v.sha }, `${v.sha.slice(0, 8)} ${formatDate(v.created)}${v.tags.length ? ` (${v.tags.join(", ")})` : ""}`));
  fill($("#diff-from"), options.map((o) => o.cloneNode(true)));
  fill($("#diff-to"), options);
  if (versions.length > 1) $("#diff-from").selectedIndex = 1;
  $("#diff-form").querySelector("button").disabled = versions.length < 2;
}

function visibilitySelect(v) {
  const choices = ["PRIVATE", "PUBLIC"];
  if (moderator || v.visibility === "MODERATED") choices.push("MODERATED");
  const select = h("select", { "aria-label": `Visibility of version ${v.sha.slice(0, 8)}` },
    choices.map((c) => h("option", { value: c, selected: c === v.visibility }, c.toLowerCase())));
  select.addEventListener("change", async () => {
    try {
      await mutate("setVisibility", `mutation($v: ID!, $vis: Visibility!) { setVisibility(version: $v, visibility: $vis) {
        __typename ... on Error { message } } }`, { v: v.id, vis: select.value });
      await load();
    } catch (error) {
      showError($("#entity-error"), error);
      select.value = v.visibility;
    }
  });
  return select;
}

/** Run a mutation whose answer is a result union; throw its Error member's message. */
async function mutate(field, query, variables) {
  const data = await gql(query, variables);
  const result = data[field];
  if (result && result.message) throw Object.assign(new Error(result.message), { field: result.field ?? null });
  return result;
}

let annotationsLoaded = false;
/** A model's annotated variables, read when the Annotations tab is first shown: reading them out of the
 * model is most of the cost of the page's data (about 0.3 s of 0.35 s for a demo model on the embedded
 * default), and most visits never open the tab. */
async function loadAnnotations() {
  if (annotationsLoaded || !entity?.version || kind !== "model") return;
  annotationsLoaded = true;
  try {
    const data = await gql(`query($id: ID!, $ref: String!) { node(id: $id) { ... on Entity { version(ref: $ref) {
      variables { uri component name units initialValue isState terms { ${TERM} } } } } } }`, { id: entityId, ref });
    renderAnnotations(data.node?.version?.variables || []);
  } catch (error) {
    showError($("#annotations"), error);
  }
}

function renderAnnotations(vars) {
  const box = $("#annotations");
  if (!vars.length) { fill(box, h("p", {}, "This version annotates no variables with ontology terms.")); return; }
  fill(box, h("p", {}, `${vars.length} annotated variables. Each term links to the models annotating it.`),
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "sr-only" }, "Annotated variables"),
      h("thead", {}, h("tr", {}, ["Component", "Variable", "Units", "Initial value", "Terms"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, vars.map((v) => h("tr", {},
        h("td", {}, v.component), h("td", { class: "mono" }, v.name, v.isState ? " (state)" : ""),
        h("td", {}, v.units || ""), h("td", { class: "num" }, v.initialValue ?? ""),
        h("td", {}, v.terms.map((t, i) => [i ? ", " : "", termLink(t)]))))))));
}

function renderInterface() {
  const box = $("#interface");
  if (!box) return;
  const iface = entity.version?.interface;
  if (!iface) { fill(box, h("p", {}, "No interface is recorded for this version.")); return; }
  const terms = (list) => (list.length ? h("ul", {}, list.map((t) => h("li", {}, termLink(t)))) : h("p", { class: "muted" }, "None."));
  // A column whose heading would be empty gets one for screen readers only: [visible, spoken].
  const heading = (c) => h("th", { scope: "col" }, Array.isArray(c) ? h("span", { class: "sr-only" }, c[1]) : c);
  const items = (list, cols, row) => h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, cols.map(heading))),
    h("tbody", {}, list.map((i) => h("tr", {}, row(i).map((c) => h("td", {}, c)))))));
  fill(box,
    h("h2", {}, "Terms a model must annotate"), terms(iface.requiredTerms),
    h("h2", {}, "Terms used when present"), terms(iface.optionalTerms),
    h("h2", {}, "Inputs"), items(iface.inputs, ["Name", "Units", "Default"], (i) => [i.name, i.units || "", i.defaultValue ?? ""]),
    h("h2", {}, "Outputs"), items(iface.outputs, ["Name", "Units", "Description", ["", "Optional"]], (o) => [o.name, o.units || "", o.description || "", o.optional ? "optional" : ""]));
}

function renderCollaborators() {
  const list = $("#collaborators");
  const names = entity.collaborators.map((c) => c.name);
  fill(list, names.length ? names.map((name) => h("li", {}, name, entity.canManage ? [" ",
    h("button", { type: "button", class: "secondary", "aria-label": `Remove collaborator ${name}`, onclick: () => changeCollaborator("revoke", name) }, "Remove")] : null))
    : h("li", { class: "muted" }, "No collaborators."));
  const form = $("#grant");
  form.classList.toggle("hidden", !entity.canManage);
}

async function changeCollaborator(action, user) {
  const field = action === "grant" ? "grantCollaborator" : "revokeCollaborator";
  const data = await gql(`mutation($entity: ID!, $user: String!) { ${field}(entity: $entity, user: $user) {
      __typename ... on Error { message } ... on ValidationError { field } } }`, { entity: entity.id, user });
  const result = data[field];
  if (result && result.message) throw Object.assign(new Error(result.message), { field: "user" });
  await load();
}

let compatibilityLoaded = false;
async function loadCompatibility() {
  if (compatibilityLoaded || !entity?.version) return;
  compatibilityLoaded = true;
  const box = $("#compatibility");
  if (kind !== "model") {
    try {
      await protocolCompatibility(box);
    } catch (error) {
      showError(box, error);
    }
    return;
  }
  try {
    const data = await gql(`query($id: ID!, $ref: String!) { node(id: $id) { ... on Entity { version(ref: $ref) {
      compatibility { fits missingTerms { ${TERM} } protocol { sha entity { id name uri } } } } } } }`,
    { id: entityId, ref });
    const rows = data.node.version.compatibility || [];
    const fitting = rows.filter((r) => r.fits);
    const other = rows.filter((r) => !r.fits);
    const name = (r) => (r.protocol ? h("a", { href: viewUrl(r.protocol.entity.uri) }, r.protocol.entity.name) : "a protocol you cannot see");
    fill(box,
      h("h2", {}, `Protocols it can run (${fitting.length})`),
      fitting.length ? h("ul", {}, fitting.map((r) => h("li", {}, name(r)))) : h("p", { class: "muted" }, "None."),
      h("h2", {}, `Protocols it cannot run (${other.length})`),
      other.length ? h("ul", {}, other.map((r) => h("li", {}, name(r), ": missing ",
        r.missingTerms.map((t, i) => [i ? ", " : "", termLink(t)])))) : h("p", { class: "muted" }, "None."));
  } catch (error) {
    showError(box, error);
  }
}

/** For a protocol: every model's latest version checked against this protocol version. */
async function protocolCompatibility(box) {
  const fitting = [];
  const other = [];
  let after = null;
  do {
    const data = await gql(`query($after: String) { models(first: 100, after: $after) {
      edges { node { name uri latestVersion { compatibility { fits missingTerms { ${TERM} } protocol { uri } } } } }
      pageInfo { hasNextPage endCursor } } }`, { after });
    for (const { node } of data.models.edges) {
      const c = (node.latestVersion?.compatibility || []).find((x) => x.protocol?.uri === entity.version.uri);
      if (c) (c.fits ? fitting : other).push({ ...c, model: node });
    }
    after = data.models.pageInfo.hasNextPage ? data.models.pageInfo.endCursor : null;
  } while (after);
  const link = (r) => h("a", { href: viewUrl(r.model.uri) }, r.model.name);
  const note = entity.version.uri === entity.versions.edges[0]?.node.uri ? null
    : h("p", { class: "notice" }, "Models are checked against the latest version of each protocol; open the latest version to see them.");
  fill(box, note,
    h("h2", {}, `Models that can run it (${fitting.length})`),
    fitting.length ? h("ul", {}, fitting.map((r) => h("li", {}, link(r)))) : h("p", { class: "muted" }, "None."),
    h("h2", {}, `Models that cannot (${other.length})`),
    other.length ? h("ul", {}, other.map((r) => h("li", {}, link(r), ": missing ",
      r.missingTerms.map((t, i) => [i ? ", " : "", termLink(t)])))) : h("p", { class: "muted" }, "None."));
}

let experimentsLoaded = false;
/** This version's experiments with their newest runs, in one request (Version.experiments); one row per
 * counterpart entity, the most recently run of its versions. */
async function loadExperiments() {
  if (experimentsLoaded || !entity?.version) return;
  experimentsLoaded = true;
  const box = $("#experiments");
  try {
    const data = await gql(`query($id: ID!, $ref: String!) { node(id: $id) { ... on Entity { version(ref: $ref) {
      experiments { model { entity { name uri } } protocol { entity { name uri } } latestRun { uri status } } } } } }`,
    { id: entityId, ref });
    const seen = new Map();
    for (const e of data.node?.version?.experiments || []) {
      const counterpart = kind === "model" ? e.protocol : e.model;
      if (!counterpart || !e.latestRun || seen.has(counterpart.entity.uri)) continue;
      seen.set(counterpart.entity.uri, { name: counterpart.entity.name, uri: counterpart.entity.uri, run: e.latestRun });
    }
    const rows = [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
    const other = kind === "model" ? "Protocol" : "Model";
    if (!rows.length) {
      fill(box, h("p", {}, "No experiments with this version yet. Start them from the ", h("a", { href: "/experiments" }, "experiment matrix"), "."));
      return;
    }
    fill(box, h("div", { class: "table-wrap" }, h("table", {},
      h("caption", { class: "sr-only" }, "Experiments with this version"),
      h("thead", {}, h("tr", {}, [other, "Latest run"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((o) => h("tr", {},
        h("td", {}, h("a", { href: viewUrl(o.uri) }, o.name)),
        h("td", {}, h("a", { href: viewUrl(o.run.uri) }, statusLabel(o.run.status)))))))));
  } catch (error) {
    showError(box, error);
  }
}

async function load() {
  const data = await gql(ENTITY_QUERY, { id: entityId, ref });
  if (!data.node) {
    fill($("#entity-name"), "Not found");
    showError($("#entity-error"), new Error(`There is no ${kind} ${entityId.split("/")[1]} that you can see.`));
    $("#tabs").hidden = true;
    for (const panel of document.querySelectorAll('[role="tabpanel"]')) panel.hidden = true;
    return;
  }
  entity = data.node;
  renderHeader();
  renderFiles();
  renderVersions();
  renderInterface();
  renderCollaborators();
}

$("#delete-dialog").addEventListener("close", (event) => {
  if (event.target.returnValue === "delete") deleteEntity();
});
// Tabs whose data is read when first shown (also when the page opens on one, from the URL's #hash).
const LAZY_TABS = { annotations: loadAnnotations, compatibility: loadCompatibility, experiments: loadExperiments };
function showTab(name) {
  LAZY_TABS[name]?.();
}
setupTabs($("#tabs"), showTab);
onSubmit($("#diff-form"), async (data) => {
  const response = await fetch(`/${entityId}/diff?from=${encodeURIComponent(data.from)}&to=${encodeURIComponent(data.to)}`,
    { credentials: "same-origin" });
  if (!response.ok) throw new Error(`could not compute the differences (${response.status})`);
  const text = await response.text();
  fill($("#diff"), text.trim() ? diffView(text) : h("p", {}, "The two versions have the same files."));
});
onSubmit($("#tag-form"), async (data) => {
  await mutate("tagVersion", `mutation($v: ID!, $tag: String!) { tagVersion(version: $v, tag: $tag) {
    __typename ... on Error { message } ... on ValidationError { field } } }`, { v: data.version, tag: data.tag });
  $("#tag-form").reset();
  await load();
});
onSubmit($("#grant"), async (data) => {
  await changeCollaborator("grant", data.user);
  $("#grant").reset();
});
load()
  .then(() => showTab($('#tabs [aria-selected="true"]')?.id.replace(/^tab-/, "")))
  .catch((error) => showError($("#entity-error"), error))
  .finally(markReady);
