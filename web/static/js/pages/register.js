import { ApiError, rest } from "../api.js";
import { onSubmit } from "../forms.js";

const form = document.getElementById("register");
onSubmit(form, async (data) => {
  try {
    await rest("POST", "/auth/register", data);
  } catch (error) {
    // A duplicate name or email comes back as a conflict without a field: put it beside the name.
    if (error.code === "conflict" && !error.field) {
      throw new ApiError(error.message, { field: /email/.test(error.message) ? "email" : "name" });
    }
    throw error;
  }
  await rest("POST", "/auth/login", { name: data.name, password: data.password });
  location.assign(form.dataset.next || "/");
});
