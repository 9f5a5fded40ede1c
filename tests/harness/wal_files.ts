/**
 * Locating and damaging WAL bytes for crash tests, without depending on the
 * record format: a test writes values with a recognisable pattern, then finds
 * those bytes in the segment files (protobuf stores bytes fields verbatim).
 */

/** WAL segment paths of a data dir, in name (= sequence) order. */
export async function walSegments(dataDir: string): Promise<string[]> {
  const dir = `${dataDir}/member/wal`;
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".wal")) names.push(entry.name);
  }
  return names.sort().map((name) => `${dir}/${name}`);
}

/** Where a byte pattern was found. */
export interface Location {
  /** Segment file. */
  path: string;
  /** Byte offset of the pattern's first byte in that file. */
  offset: number;
}

/** Finds the last occurrence of `needle` across all segments (latest segment first). */
export async function findLast(dataDir: string, needle: string): Promise<Location | undefined> {
  const bytes = new TextEncoder().encode(needle);
  for (const path of (await walSegments(dataDir)).reverse()) {
    const offset = lastIndexOf(await Deno.readFile(path), bytes);
    if (offset >= 0) return { path, offset };
  }
  return undefined;
}

/**
 * End of the framed records in a cairn WAL segment: walks the
 * `[length u32 LE][crc32c u32 LE][length bytes]` frames of DESIGN.md until a
 * zero length (the preallocated, zero-filled tail) or the end of the file.
 * Only the framing is read, so this stays valid if payload layouts change.
 */
export async function cairnLogicalEnd(path: string): Promise<number> {
  const bytes = await Deno.readFile(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  while (off + 8 <= bytes.length) {
    const len = view.getUint32(off, true);
    if (len === 0 || off + 8 + len > bytes.length) break;
    off += 8 + len;
  }
  return off;
}

/** Writes bytes at a given offset, growing the file if needed. */
export async function writeAt(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const file = await Deno.open(path, { write: true });
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    await file.write(bytes);
  } finally {
    file.close();
  }
}

/** Cuts a file at `length` bytes, as a crash in the middle of a write would. */
export async function truncateAt(path: string, length: number): Promise<void> {
  await Deno.truncate(path, length);
}

/** XORs `count` bytes starting at `offset` with 0xff (so each one certainly changes). */
export async function flipBytes(path: string, offset: number, count: number): Promise<void> {
  const file = await Deno.open(path, { read: true, write: true });
  try {
    const buf = new Uint8Array(count);
    await file.seek(offset, Deno.SeekMode.Start);
    await file.read(buf);
    for (let i = 0; i < count; i++) buf[i] ^= 0xff;
    await file.seek(offset, Deno.SeekMode.Start);
    await file.write(buf);
  } finally {
    file.close();
  }
}

function lastIndexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = haystack.length - needle.length; i >= 0; i--) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
