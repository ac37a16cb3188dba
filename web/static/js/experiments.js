// The latest run of many experiments at once (the matrix polls the cells that are queued or running).
import { gql } from "./api.js";

export const RUN_FIELDS = "id uri status progressDone progressTotal error";

/**
 * The latest run of each experiment id (absent: never run), with `nodes(ids:)` in chunks of at most
 * 100 (the API's page size). `onChunk(chunk, found)` is called as each chunk arrives.
 */
export async function latestRuns(ids, onChunk = () => {}) {
  const found = new Map();
  const chunks = [];
  for (let i = 0; i < ids.length; i += 100) chunks.push(ids.slice(i, i + 100));
  await Promise.all(chunks.map(async (chunk) => {
    const data = await gql(`query($ids: [ID!]!) { nodes(ids: $ids) { ... on Experiment { id latestRun { ${RUN_FIELDS} } } } }`, { ids: chunk });
    const part = new Map();
    for (const node of data.nodes) if (node && node.latestRun) part.set(node.id, node.latestRun);
    for (const [k, v] of part) found.set(k, v);
    onChunk(chunk, part);
  }));
  return found;
}
