/**
 * A WAL opened with a replay hint (a restart passes its newest snapshot
 * file's index) reads only from the segment the replay needs and checks
 * the older ones apart, here or on a worker: the replay must be the same
 * as a full read's, and damage in an older segment must still refuse the
 * open, with the same error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Entry, EntryType, type HardState } from "../raft/types.ts";
import { encodeRecords, RecordType, scanSegment } from "./record.ts";
import { replayStart, Wal, WalCorruptError, type WalMetadata } from "./wal.ts";

const meta: WalMetadata = {
  clusterId: 0x1234n,
  memberId: 0x5678n,
  extra: new TextEncoder().encode("hint"),
};

const hs = (term: number, commit: number): HardState => ({ term, vote: 3n, commit });

function range(from: number, to: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: EntryType.Normal, data: new Uint8Array(40).fill(i & 0xff) });
  }
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-wal-hint-" });
  try {
    await fn(join(dir, "wal"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const small = { segmentSize: 1024, preallocate: false };

/** A WAL of several segments with a snapshot marker at 58 and entries 59..62 after it. */
async function build(dir: string): Promise<string[]> {
  const wal = await Wal.create(dir, meta, small);
  for (let i = 1; i <= 60; i += 5) await wal.save(hs(1, i + 4), range(i, i + 4));
  await wal.saveSnapshotMarker({ term: 1, index: 58 });
  await wal.save(hs(1, 62), range(61, 62));
  const paths = wal.segmentPaths();
  await wal.close();
  return paths;
}

/** Segment names as replayStart reads them (seq, and the first index in the file name). */
function namesOf(paths: string[]) {
  return paths.map((p, seq) => {
    const file = p.slice(p.lastIndexOf("/") + 1);
    return { seq, firstIndex: parseInt(file.slice(17, 33), 16), name: file };
  });
}

/** What a replay holds, and which segments a purge down to one would delete. */
async function replayOf(dir: string, opts: Parameters<typeof Wal.open>[1]) {
  const { wal, replay } = await Wal.open(dir, opts);
  await replay.verified;
  const out = {
    entries: replay.entries,
    hardState: replay.hardState,
    snapshot: replay.snapshot,
    purged: await wal.purge(1),
  };
  await wal.close();
  return out;
}

Deno.test("replayStart: the last segment named at or below the hint's next index", () => {
  const names = [0, 1, 20, 40, 59, 70].map((firstIndex, seq) => ({ seq, firstIndex, name: "" }));
  assert.equal(replayStart(names, undefined), 0);
  assert.equal(replayStart(names, 0), 1);
  assert.equal(replayStart(names, 57), 3);
  assert.equal(replayStart(names, 58), 4);
  assert.equal(replayStart(names, 1000), 5);
});

Deno.test("a replay hint gives the same replay and releases the same segments as a full read", async () => {
  for (const offThreadBytes of [undefined, 0]) {
    await withDir(async (dir) => {
      const paths = await build(dir);
      assert.ok(paths.length >= 4, `${paths.length} segments`);
      // Copies, since a purge deletes files.
      const copy = `${dir}-copy`;
      await Deno.mkdir(copy);
      for await (const e of Deno.readDir(dir)) {
        await Deno.copyFile(join(dir, e.name), join(copy, e.name));
      }
      const full = await replayOf(dir, small);
      const hinted = await replayOf(copy, { ...small, replayHint: 58, offThreadBytes });
      assert.deepEqual(hinted.entries, full.entries);
      assert.deepEqual(full.entries.map((e) => e.index), [59, 60, 61, 62]);
      assert.deepEqual(hinted.hardState, full.hardState);
      assert.deepEqual(hinted.snapshot, full.snapshot);
      assert.deepEqual(
        hinted.purged.map((p) => p.slice(copy.length)),
        full.purged.map((p) => p.slice(dir.length)),
      );
      await Deno.remove(copy, { recursive: true });
    });
  }
});

Deno.test("a bad record in a segment before the replayed ones is found apart, with the full read's error", async () => {
  for (const offThreadBytes of [undefined, 0]) {
    await withDir(async (dir) => {
      const paths = await build(dir);
      const first = paths[0];
      const bytes = await Deno.readFile(first);
      const { offsets, records } = scanSegment(first, bytes, false);
      const k = records.findIndex((r) => r.type === RecordType.Entry);
      bytes[offsets[k] + 30] ^= 0x01;
      await Deno.writeFile(first, bytes);
      const fullError = await Wal.open(dir, small).then(
        () => assert.fail("a full read opened a damaged WAL"),
        (e: unknown) => e,
      );
      assert.ok(fullError instanceof WalCorruptError);
      // Deferred: the open returns (it read only the newest segments) and
      // the check of the older ones rejects with the same error.
      const opts = { ...small, replayHint: 58, offThreadBytes };
      const { wal, replay } = await Wal.open(dir, { ...opts, deferVerify: true });
      assert.deepEqual(replay.entries.map((e) => e.index), [59, 60, 61, 62]);
      await assert.rejects(
        () => replay.verified,
        (e: unknown) =>
          e instanceof WalCorruptError && e.message === fullError.message &&
          e.path === first && e.offset === offsets[k],
      );
      await wal.close();
      // Not deferred: the open itself refuses.
      await assert.rejects(() => Wal.open(dir, opts), (e: unknown) => e instanceof WalCorruptError);
    });
  }
});

Deno.test("a record altered in place just before the replayed segment fails the link's chain apart", async () => {
  for (const offThreadBytes of [undefined, 0]) {
    await withDir(async (dir) => {
      const paths = await build(dir);
      const names = namesOf(paths);
      const from = replayStart(names, 58);
      assert.ok(from > 0);
      // The segment before the first one replayed ends with a hard state:
      // replace it with another valid one of the same size.
      const before = paths[from - 1];
      const bytes = await Deno.readFile(before);
      const scan = scanSegment(before, bytes, false);
      const last = scan.records.length - 1;
      const other = encodeRecords([{ type: RecordType.HardState, hardState: hs(9, 9) }]);
      assert.equal(bytes.length - scan.offsets[last], other.length);
      bytes.set(other, scan.offsets[last]);
      await Deno.writeFile(before, bytes);
      await assert.rejects(
        () => Wal.open(dir, { ...small, replayHint: 58, offThreadBytes }),
        /records differ from those written/,
      );
    });
  }
});

Deno.test("a hint newer than the newest marker (its marker never written) reads every segment", async () => {
  await withDir(async (dir) => {
    const paths = await build(dir);
    const names = namesOf(paths);
    const from = replayStart(names, 61);
    assert.ok(names[from].firstIndex > 59, "the hint's segment starts after the entries needed");
    const full = await replayOf(dir, small);
    // As if a snapshot file at 61 had been saved and the member died
    // before its marker reached the WAL: entries from 59 are still needed.
    const hinted = await replayOf(dir, { ...small, replayHint: 61, offThreadBytes: 0 });
    assert.deepEqual(hinted.entries, full.entries);
    assert.deepEqual(hinted.snapshot, { term: 1, index: 58 });
  });
});
