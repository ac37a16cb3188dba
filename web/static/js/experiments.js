// Experiments by their model and protocol versions: the id of the pair (as resolvers/runs.py
// computes it: the first 24 hex digits of SHA-256 over "model version URI\nprotocol version URI")
// and the latest run of many experiments at once.
import { gql } from "./api.js";

async function sha256hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The global id of the experiment of a model version and a protocol version (see resolvers/runs.py). */
export async function experimentId(modelVersionUri, protocolVersionUri) {
  return `experiments/${(await sha256hex(`${modelVersionUri}\n${protocolVersionUri}`)).slice(0, 24)}`;
}

export const RUN_FIELDS = "id uri status progressDone progressTotal error";

let nodesRefused = false;

/**
 * The latest run of each experiment id (absent: never run). Uses `nodes(ids:)` in chunks; if the
 * server refuses that, falls back to aliased `node(id:)` lookups (within the alias limit), six
 * requests at a time. `onChunk(found)` is called as each chunk arrives, so a page can show
 * statuses as they come.
 */
export async function latestRuns(ids, onChunk = () => {}) {
  const found = new Map();
  const chunks = (size) => {
    const out = [];
    for (let i = 0; i < ids.length; i += size) out.push(ids.slice(i, i + size));
    return out;
  };
  if (!nodesRefused) {
    try {
      await Promise.all(chunks(100).map(async (chunk) => {
        const data = await gql(`query($ids: [ID!]!) { nodes(ids: $ids) { ... on Experiment { id latestRun { ${RUN_FIELDS} } } } }`, { ids: chunk });
        const part = new Map();
        for (const node of data.nodes) if (node && node.latestRun) part.set(node.id, node.latestRun);
        for (const [k, v] of part) found.set(k, v);
        onChunk(chunk, part);
      }));
      return found;
    } catch {
      nodesRefused = true;
    }
  }
  const work = chunks(14);
  async function worker() {
    while (work.length) {
      const chunk = work.shift();
      const fields = chunk.map((id, i) => `e${i}: node(id: ${JSON.stringify(id)}) { ... on Experiment { id latestRun { ${RUN_FIELDS} } } }`);
      const data = await gql(`query { ${fields.join("\n")} }`);
      const part = new Map();
      for (const node of Object.values(data)) if (node && node.latestRun) part.set(node.id, node.latestRun);
      for (const [k, v] of part) found.set(k, v);
      onChunk(chunk, part);
    }
  }
  await Promise.all(Array.from({ length: 6 }, worker));
  return found;
}
