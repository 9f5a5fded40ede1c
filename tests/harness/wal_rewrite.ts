/**
 * Altering a stopped cairn member's data so that it still loads: a value
 * rewritten inside the WAL record that holds it, with the record's CRC
 * fixed, as a corruption that no checksum catches.
 */
import assert from "node:assert/strict";
import { crc32c } from "../../src/wire/crc32c.ts";
import { findLast } from "./wal_files.ts";

const enc = new TextEncoder();

/**
 * Rewrites the last copy of `from` as `to` (same length) inside the cairn
 * WAL record that holds it and recomputes that record's CRC-32C. Records
 * are `[length u32 LE][crc32c u32 LE][type + payload]` (DESIGN.md,
 * src/storage/record.ts).
 */
export async function rewriteInWal(dataDir: string, from: string, to: string): Promise<void> {
  assert.equal(enc.encode(from).length, enc.encode(to).length, "same length only");
  const loc = await findLast(dataDir, from);
  assert.ok(loc, `${from} not found in the WAL of ${dataDir}`);
  const bytes = await Deno.readFile(loc.path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off + 8 <= bytes.length;) {
    const len = view.getUint32(off, true);
    if (len === 0) break;
    const start = off + 8;
    const end = start + len;
    if (loc.offset >= start && loc.offset + from.length <= end) {
      bytes.set(enc.encode(to), loc.offset);
      view.setUint32(off + 4, crc32c(bytes.subarray(start, end)), true);
      await Deno.writeFile(loc.path, bytes);
      return;
    }
    off = end;
  }
  assert.fail(`${from} at ${loc.path}:${loc.offset} is not inside a WAL record`);
}
