import { rest } from "../api.js";
import { onSubmit } from "../forms.js";

const form = document.getElementById("login");
onSubmit(form, async (data) => {
  await rest("POST", "/auth/login", { name: data.name, password: data.password });
  location.assign(form.dataset.next || "/");
});
