/**
 * WAL directories for the storage fuzzer: a random but valid history of
 * saves, snapshot markers, releases and purges written through the real
 * `Wal`, copies of it to damage, and the record boundaries of its segment
 * files (read from the framing alone, not from the code under test).
 *
 * @module
 */
import { join } from "node:path";
import { type Entry, EntryType, type HardState } from "../../src/raft/types.ts";
import { Wal, type WalMetadata } from "../../src/storage/wal.ts";
import type { Rng } from "./rng.ts";

/** A written WAL: its directory and segment paths, oldest first. */
export interface WalDir {
  dir: string;
  segments: string[];
}

const META: WalMetadata = {
  clusterId: 0x1234567890abcdefn,
  memberId: 0xfedcba0987654321n,
  extra: new TextEncoder().encode("fuzz"),
};

/**
 * Writes a random history into `dir` through the real Wal: entries of
 * random sizes, a new leader overwriting an uncommitted tail now and
 * then, hard states, snapshot markers, releases and purges, with small
 * segments so the history spans several files, preallocated or not.
 */
export async function writeHistory(rng: Rng, dir: string): Promise<WalDir> {
  const wal = await Wal.create(dir, META, {
    segmentSize: rng.pick([1024, 4096, 16_384]),
    preallocate: rng.chance(0.5),
  });
  let term = 1;
  let last = 0;
  let commit = 0;
  let snap = 0;
  for (let op = rng.int(5, 40); op > 0; op--) {
    const kind = rng.weighted([[70, "save"], [10, "overwrite"], [12, "snapshot"], [8, "hard"]]);
    if (kind === "save" || kind === "overwrite") {
      let from = last + 1;
      if (kind === "overwrite" && last > commit) {
        term++; // a new leader replaces the uncommitted tail
        from = rng.int(commit + 1, last);
      }
      const entries: Entry[] = [];
      for (let n = rng.int(1, 6); n > 0; n--) {
        entries.push({
          term,
          index: from + entries.length,
          type: rng.chance(0.9) ? EntryType.Normal : EntryType.ConfChange,
          data: rng.bytes(rng.size(300)),
        });
      }
      last = from + entries.length - 1;
      commit = rng.int(commit, last);
      const hs: HardState | undefined = rng.chance(0.7) ? { term, vote: 1n, commit } : undefined;
      await wal.save(hs, entries);
    } else if (kind === "snapshot" && commit > snap) {
      snap = rng.int(snap + 1, commit);
      await wal.saveSnapshotMarker({ term, index: snap });
      await wal.releaseTo(snap);
      if (rng.chance(0.5)) await wal.purge(rng.int(1, 3));
    } else if (kind === "hard") {
      await wal.save({ term, vote: 1n, commit }, []);
    }
  }
  const segments = wal.segmentPaths();
  await wal.close();
  return { dir, segments };
}

/** Copies every file of `from` into the new directory `to` (no fsync: nothing here must survive a crash). */
export async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(join(from, e.name), join(to, e.name));
  }
}

/** Record start offsets of a segment file, and where its framed data ends. */
export function recordStarts(bytes: Uint8Array): { starts: number[]; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const starts: number[] = [];
  let off = 0;
  while (off + 8 <= bytes.length) {
    const len = view.getUint32(off, true);
    if (len === 0 || off + 8 + len > bytes.length) break;
    starts.push(off);
    off += 8 + len;
  }
  return { starts, end: off };
}
