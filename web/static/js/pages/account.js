// API tokens: list, create (the secret is shown once), revoke.
import { rest } from "../api.js";
import { fill, formatDate, h, markReady, showError } from "../dom.js";
import { onSubmit } from "../forms.js";

const tbody = document.getElementById("tokens");
const secretBox = document.getElementById("new-secret");

async function load() {
  try {
    const { tokens } = await rest("GET", "/auth/tokens");
    if (!tokens.length) {
      fill(tbody, h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No tokens yet.")));
      return;
    }
    fill(tbody, tokens.map((t) => h("tr", {},
      h("td", {}, t.name),
      h("td", {}, formatDate(t.created_at)),
      h("td", {}, t.revoked_at ? `revoked ${formatDate(t.revoked_at)}` : "active"),
      h("td", {}, t.revoked_at ? "" : h("button", {
        type: "button", class: "secondary", "aria-label": `Revoke token ${t.name}`,
        onclick: async () => { await rest("DELETE", `/auth/tokens/${t.id}`); secretBox.replaceChildren(); load(); },
      }, "Revoke")))));
  } catch (error) {
    fill(tbody, h("tr", {}, h("td", { colspan: 4 }, h("span", { role: "alert", class: "form-error" }, error.message))));
  }
}

const form = document.getElementById("new-token");
onSubmit(form, async (data) => {
  const token = await rest("POST", "/auth/tokens", { name: data.name });
  form.reset();
  fill(secretBox, h("div", { class: "notice ok" },
    h("p", {}, `Token “${token.name}” created. Copy it now; it will not be shown again:`),
    h("code", { class: "secret", id: "token-secret" }, token.token),
    h("button", { type: "button", class: "secondary", onclick: () => navigator.clipboard?.writeText(token.token) }, "Copy")));
  await load();
});

load().catch((error) => showError(tbody, error)).finally(markReady);
