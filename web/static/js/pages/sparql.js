// The SPARQL editor page: YASGUI (vendored, loaded as a classic script before this module) on our
// endpoint, with what YASGUI leaves out for assistive technology added: names for its unnamed controls
// and a "New query tab" button outside its tab list.
import { csrfToken } from "../api.js";
import { markReady } from "../dom.js";

const config = JSON.parse(document.getElementById("sparql-config").textContent);
const box = document.getElementById("yasgui");

// YASGUI's controls that have no accessible name, and the names screen readers should announce:
// CodeMirror's hidden textarea (where the query is typed) and the results table's page-size select.
const NAMES = [[".CodeMirror textarea", "SPARQL query"], ["select.tableSizer", "Rows per page"]];

/** Name YASGUI's unnamed controls; runs again whenever YASGUI draws (new tabs, new results). */
function nameControls() {
  for (const [selector, name] of NAMES) {
    for (const control of box.querySelectorAll(`${selector}:not([aria-label])`)) control.setAttribute("aria-label", name);
  }
}

new MutationObserver(nameControls).observe(box, { childList: true, subtree: true });

const yasgui = new window.Yasgui(box, {
  // A signed-in browser's POST must carry the CSRF token, as every other page's requests do.
  requestConfig: { endpoint: config.endpoint, method: "POST",
    headers: () => (csrfToken() ? { "X-CSRF-Token": csrfToken() } : {}) },
  copyEndpointOnNewTab: false,
  endpointCatalogueOptions: { getData: () => [] },
  // Only the autocompleters that work offline: the class and property ones send what you
  // type to a third-party service (LOV).
  yasqe: { value: config.query, autocompleters: ["prefixes", "variables"] },
});
window.yasgui = yasgui; // for scripts and tests driving the editor
document.getElementById("new-tab").addEventListener("click", () => yasgui.addTab(true));
nameControls();
markReady();
