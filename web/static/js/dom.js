// Building DOM without a framework: `h("a", {href}, "text")`. Text is always set as text,
// never parsed as HTML, so names and messages from users cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Where to find the page for a resource URI: `{BASE}models/x` → `/view/models/x`. */
export function viewUrl(uri) {
  const base = document.body.dataset.base || `${location.origin}/`;
  if (uri && uri.startsWith(base)) return `/view/${uri.slice(base.length)}`;
  try {
    const url = new URL(uri);
    if (/^\/(models|protocols|datasets|runs|experiments)\//.test(url.pathname)) return `/view${url.pathname}`;
  } catch { /* not a URL */ }
  return uri;
}

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().slice(0, 16).replace("T", " ");
}

export function visibilityBadge(visibility) {
  const v = String(visibility || "").toLowerCase();
  return h("span", { class: `badge ${v}` }, v);
}

/** Show an error where the user is looking: a notice inside `container`. */
export function showError(container, error) {
  fill(container, h("p", { class: "notice error", role: "alert" }, error.message || String(error)));
}

export function statusLabel(status) {
  return h("span", { class: `status status-${status}` }, String(status || "").toLowerCase().replace("_", " "));
}

/**
 * Say the page is usable: its data is on screen and its controls work. Browser tests wait for
 * `html[data-ready]` and read the `usable` performance mark to measure time-to-usable.
 */
export function markReady() {
  if (document.documentElement.dataset.ready) return;
  performance.mark("usable");
  document.documentElement.dataset.ready = "true";
  const main = document.getElementById("main");
  if (main) main.removeAttribute("aria-busy");
}
