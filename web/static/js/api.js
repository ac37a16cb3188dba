// Talking to the server: GraphQL queries and mutations (with file uploads and progress),
// subscriptions over graphql-transport-ws, and the REST account endpoints.
// Browsers authenticate with the session cookie; every state-changing request carries the
// CSRF token that the server put in the script-readable `weblab_csrf` cookie.

export class ApiError extends Error {
  /** One failure the user should see: `field` names the form field it belongs to, when known. */
  constructor(message, { code = "error", field = null, status = 0 } = {}) {
    super(message);
    this.code = code;
    this.field = field;
    this.status = status;
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)weblab_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function headers(extra = {}) {
  const token = csrfToken();
  return token ? { "X-CSRF-Token": token, ...extra } : extra;
}

async function errorFrom(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const err = body && body.error;
  if (err) return new ApiError(err.message, { code: err.code, field: err.field ?? null, status: response.status });
  if (body && Array.isArray(body.errors) && body.errors.length) {
    return new ApiError(body.errors.map((e) => e.message).join("; "), { status: response.status });
  }
  return new ApiError(`the server answered ${response.status} ${response.statusText}`, { status: response.status });
}

/** A REST call to our own JSON endpoints (`/auth/...`). */
export async function rest(method, url, body) {
  const init = { method, headers: headers({ Accept: "application/json" }), credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

/** Run a GraphQL operation; returns `data`, throws ApiError when the response has errors and no data. */
export async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    credentials: "same-origin",
    headers: headers({ "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json" }),
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try { body = await response.json(); } catch { throw await errorFrom(response); }
  if (body.errors && body.errors.length && !body.data) {
    throw new ApiError(body.errors.map((e) => e.message).join("; "), { status: response.status, code: "graphql" });
  }
  if (body.errors && body.errors.length) console.warn("GraphQL errors", body.errors);
  return body.data;
}

/**
 * A GraphQL mutation with files, per the GraphQL multipart request spec, reporting upload progress.
 * `files` maps a variable path (e.g. "variables.files.0") to a File.
 */
export function gqlUpload(query, variables, files, onProgress = () => {}) {
  const form = new FormData();
  form.append("operations", JSON.stringify({ query, variables }));
  const map = {};
  const entries = Object.entries(files);
  entries.forEach(([path], i) => { map[String(i)] = [path]; });
  form.append("map", JSON.stringify(map));
  entries.forEach(([, file], i) => form.append(String(i), file, file.name));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/graphql");
    for (const [k, v] of Object.entries(headers({ Accept: "application/json" }))) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); });
    xhr.addEventListener("error", () => reject(new ApiError("the upload failed: the connection was lost")));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (body && body.error) {
        reject(new ApiError(body.error.message, { code: body.error.code, field: body.error.field ?? null, status: xhr.status }));
      } else if (body && body.data) {
        resolve(body.data);
      } else if (body && body.errors) {
        reject(new ApiError(body.errors.map((e) => e.message).join("; "), { status: xhr.status }));
      } else {
        reject(new ApiError(`the server answered ${xhr.status}`, { status: xhr.status }));
      }
    });
    xhr.send(form);
  });
}

/**
 * Subscribe over graphql-transport-ws. `onNext(data)` is called for each event; returns a function
 * that stops the subscription. Reconnects (with backoff) when the socket drops, so a page left open
 * keeps following the run.
 */
export function subscribe(query, variables, onNext, onError = () => {}) {
  let socket = null;
  let stopped = false;
  let delay = 1000;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  function open() {
    socket = new WebSocket(url, "graphql-transport-ws");
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "connection_init", payload: {} })));
    socket.addEventListener("message", (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "connection_ack") {
        delay = 1000;
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
      } else if (msg.type === "next") {
        if (msg.payload.errors) onError(new ApiError(msg.payload.errors.map((e) => e.message).join("; ")));
        if (msg.payload.data) onNext(msg.payload.data);
      } else if (msg.type === "error") {
        onError(new ApiError(msg.payload.map((e) => e.message).join("; ")));
      } else if (msg.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (msg.type === "complete") {
        stopped = true;
        socket.close();
      }
    });
    socket.addEventListener("close", () => {
      if (stopped) return;
      onError(new ApiError("the live connection closed; reconnecting"));
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  open();
  return () => { stopped = true; if (socket) socket.close(); };
}
