// Upload a new entity or a new version: multipart POST with a progress bar; the server's
// validation errors appear next to the field they name (an uploaded file's problem goes
// next to the file input).
import { ApiError, csrfToken } from "../api.js";
import { $, fill, h, viewUrl } from "../dom.js";
import { clearErrors, showFormError } from "../forms.js";

const form = $("#upload");
const entityUri = form.dataset.entity;
const FIELDS = new Set(["name", "files", "main", "message", "visibility", "tag", "protocol"]);

function kind() {
  return form.querySelector('[name="kind"]:checked, input[type=hidden][name="kind"]').value;
}

function target() {
  if (entityUri) {
    const path = new URL(entityUri).pathname;
    return `${path}/versions`;
  }
  return `/${kind()}s`;
}

form.addEventListener("change", (e) => {
  if (e.target.name === "kind") $("#protocol-field")?.classList.toggle("hidden", kind() !== "dataset");
  if (e.target.name === "files") {
    fill($("#upload-main-options"), Array.from(e.target.files, (f) => h("option", { value: f.name })));
  }
});
$("#protocol-field")?.classList.toggle("hidden", kind() !== "dataset");

function send(body, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", target());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener("error", () => reject(new ApiError("the upload failed: the connection was lost")));
    xhr.addEventListener("load", () => {
      let json = null;
      try { json = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && json) resolve(json);
      else if (json && json.error) reject(new ApiError(json.error.message, { code: json.error.code, field: json.error.field ?? null, status: xhr.status }));
      else reject(new ApiError(`the server answered ${xhr.status}`, { status: xhr.status }));
    });
    xhr.send(body);
  });
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const files = $("#upload-files").files;
  if (!files.length) {
    showFormError(form, new ApiError("choose at least one file", { field: "files" }));
    return;
  }
  if (!entityUri && !form.elements.name.value.trim()) {
    showFormError(form, new ApiError("give it a name", { field: "name" }));
    return;
  }
  const body = new FormData();
  for (const [key, value] of new FormData(form).entries()) {
    if (key === "files" || key === "kind") continue;
    if (typeof value === "string" && value !== "") body.append(key, value);
  }
  for (const file of files) body.append("files", file, file.name);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  $("#upload-progress").classList.remove("hidden");
  const bar = $("#upload-bar");
  try {
    const result = await send(body, (loaded, total) => {
      bar.value = Math.round((100 * loaded) / total);
      fill($("#upload-status"), `${(loaded / 1048576).toFixed(1)} of ${(total / 1048576).toFixed(1)} MB sent`);
    });
    fill($("#upload-status"), "Uploaded; checking the files");
    location.assign(viewUrl(result.version.entity));
  } catch (error) {
    $("#upload-progress").classList.add("hidden");
    // A problem with one uploaded file names that file: show it beside the file input.
    if (error.field && !FIELDS.has(error.field)) {
      error = new ApiError(error.message, { code: error.code, field: "files" });
    }
    showFormError(form, error);
  } finally {
    button.disabled = false;
  }
});
