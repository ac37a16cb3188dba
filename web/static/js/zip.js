// Reading a zip (a COMBINE/OMEX result archive) in the browser: the central directory gives each
// entry's place; stored entries are sliced, deflated ones go through DecompressionStream.

async function inflate(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Map of entry path → async () => Uint8Array, for every file in the archive. */
export function readZip(buffer) {
  const view = new DataView(buffer);
  let eocd = -1;
  for (let i = buffer.byteLength - 22; i >= Math.max(0, buffer.byteLength - 65557); i -= 1) {
    if (view.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error("the archive is not a zip file");
  const count = view.getUint16(eocd + 10, true);
  let offset = view.getUint32(eocd + 16, true);
  const decoder = new TextDecoder();
  const entries = new Map();
  for (let n = 0; n < count; n += 1) {
    if (view.getUint32(offset, true) !== 0x02014b50) throw new Error("the archive's directory is damaged");
    const method = view.getUint16(offset + 10, true);
    const compressed = view.getUint32(offset + 20, true);
    const nameLength = view.getUint16(offset + 28, true);
    const extraLength = view.getUint16(offset + 30, true);
    const commentLength = view.getUint16(offset + 32, true);
    const local = view.getUint32(offset + 42, true);
    const name = decoder.decode(new Uint8Array(buffer, offset + 46, nameLength));
    offset += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith("/")) continue;
    entries.set(name, async () => {
      const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
      const data = new Uint8Array(buffer, start, compressed);
      if (method === 0) return data;
      if (method === 8) return inflate(data);
      throw new Error(`${name} uses zip compression method ${method}, which this page cannot read`);
    });
  }
  return entries;
}

export async function readText(entries, name) {
  const open = entries.get(name) || [...entries].find(([k]) => k.endsWith(`/${name}`))?.[1];
  if (!open) return null;
  return new TextDecoder().decode(await open());
}
