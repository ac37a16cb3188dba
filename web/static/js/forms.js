// Forms: read values, and put the server's validation errors next to the field they name.
import { h } from "./dom.js";

export function values(form) {
  const data = {};
  for (const [key, value] of new FormData(form).entries()) if (typeof value === "string") data[key] = value;
  return data;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field.invalid")) el.classList.remove("invalid");
  for (const el of form.querySelectorAll(".field .error, .form-error")) el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  }
}

/**
 * Show `error` beside the input named by `error.field` (or `fieldMap[error.field]`), or at the top
 * of the form when no field matches; moves focus there so keyboard and screen-reader users hear it.
 */
export function showFormError(form, error, fieldMap = {}) {
  clearErrors(form);
  const name = error.field ? (fieldMap[error.field] || error.field) : null;
  const input = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  const message = error.field && error.message.startsWith(`${error.field}: `)
    ? error.message.slice(error.field.length + 2) : error.message;
  if (input) {
    const field = input.closest(".field") || input.parentElement;
    const id = `${input.id || name}-error`;
    field.classList.add("invalid");
    field.append(h("p", { class: "error", id, role: "alert" }, message));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    input.focus();
  } else {
    form.prepend(h("p", { class: "form-error", role: "alert", tabindex: "-1" }, error.message));
    form.querySelector(".form-error").focus();
  }
}

/** Wire a form: `action(values)` runs on submit with the button disabled; its error is shown in the form. */
export function onSubmit(form, action, fieldMap = {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector("button[type=submit], button:not([type])");
    if (button) button.disabled = true;
    try {
      await action(values(form), form);
    } catch (error) {
      showFormError(form, error, fieldMap);
    } finally {
      if (button) button.disabled = false;
    }
  });
}
