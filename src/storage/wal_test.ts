import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { type Entry, EntryType, type HardState } from "../raft/types.ts";
import { encodeRecords, RecordType, scanSegment } from "./record.ts";
import {
  PREFETCH_BYTES,
  segmentName,
  Wal,
  WalCorruptError,
  type WalMetadata,
  type WalOptions,
} from "./wal.ts";
import { type Disk, REAL_DISK } from "./disk.ts";

const meta: WalMetadata = {
  clusterId: 0xabcdef0123456789n,
  memberId: 0x8000000000000001n,
  extra: new TextEncoder().encode("cfg"),
};

function ent(index: number, term = 1, size = 16): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(size).fill(index & 0xff) };
}

function range(from: number, to: number, term = 1, size = 16): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, term, size));
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-wal-" });
  try {
    await fn(join(dir, "wal"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function reopen(dir: string, opts?: WalOptions) {
  return await Wal.open(dir, opts);
}

const hs = (term: number, commit: number): HardState => ({ term, vote: 2n, commit });

Deno.test("create, save, reopen: metadata, hard state and entries come back", async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, meta);
    await wal.save(hs(1, 0), range(1, 3));
    await wal.save(hs(1, 3), []);
    await wal.close();
    const { wal: w2, replay } = await reopen(dir);
    assert.deepEqual(replay.metadata, meta);
    assert.deepEqual(replay.hardState, hs(1, 3));
    assert.deepEqual(replay.entries, range(1, 3));
    assert.equal(replay.snapshot, undefined);
    assert.equal(replay.truncatedTail, undefined);
    await w2.close();
    await assert.rejects(() => Wal.create(dir, meta), /already exists/);
  });
});

Deno.test("group commit: many entries and the hard state go out in one write", async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, meta);
    const [seg] = wal.segmentPaths();
    const before = (await Deno.stat(seg)).size;
    const batch = range(1, 2000, 1, 100);
    await wal.save(hs(1, 0), batch);
    // Exactly the framed size: 26 bytes of overhead per entry + a 33-byte hard state.
    assert.equal((await Deno.stat(seg)).size - before, 2000 * (26 + 100) + 33);
    await wal.close();
    const { wal: w2, replay } = await reopen(dir);
    assert.equal(replay.entries.length, 2000);
    assert.deepEqual(replay.entries[1999], batch[1999]);
    await w2.close();
  });
});

Deno.test("torn tail: a cut final record is removed and appends continue", async () => {
  for (const syncMode of ["blocking", "async"] as const) {
    await withDir(async (dir) => {
      const wal = await Wal.create(dir, meta, { syncMode });
      await wal.save(hs(1, 0), range(1, 5));
      await wal.save(undefined, [ent(6)]);
      await wal.close();
      const [seg] = (await Wal.open(dir).then(async (r) => (await r.wal.close(), r.wal)))
        .segmentPaths();
      const full = (await Deno.stat(seg)).size;
      await Deno.truncate(seg, full - 3); // lose the last 3 bytes of entry 6
      const { wal: w2, replay } = await reopen(dir, { syncMode });
      assert.deepEqual(replay.entries.map((e) => e.index), [1, 2, 3, 4, 5]);
      assert.equal(replay.truncatedTail?.path, seg);
      assert.equal(replay.truncatedTail?.offset, full - (26 + 16));
      assert.equal((await Deno.stat(seg)).size, full - (26 + 16));
      await w2.save(hs(2, 5), [ent(6, 2), ent(7, 2)]);
      await w2.close();
      const { wal: w3, replay: r3 } = await reopen(dir);
      assert.deepEqual(r3.entries.map((e) => [e.index, e.term]).slice(4), [[5, 1], [6, 2], [7, 2]]);
      assert.deepEqual(r3.hardState, hs(2, 5));
      assert.equal(r3.truncatedTail, undefined);
      await w3.close();
    });
  }
});

Deno.test("corruption in a middle record names the file and offset", async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, meta);
    await wal.save(hs(1, 0), [ent(1)]);
    await wal.save(undefined, [ent(2)]);
    await wal.save(undefined, [ent(3)]);
    const [seg] = wal.segmentPaths();
    await wal.close();
    const bytes = await Deno.readFile(seg);
    const size = bytes.length;
    const entry2At = size - 2 * (26 + 16);
    bytes[entry2At + 20] ^= 0x01; // flip one bit inside entry 2
    await Deno.writeFile(seg, bytes);
    await assert.rejects(
      () => Wal.open(dir),
      (e: unknown) =>
        e instanceof WalCorruptError && e.message.includes(seg) &&
        e.message.includes(`byte offset ${entry2At}`),
    );
    assert.equal((await Deno.stat(seg)).size, size, "a refused WAL is left untouched");
  });
});

Deno.test("segments roll over at the size limit and replay across them", async () => {
  await withDir(async (dir) => {
    const opts = { segmentSize: 1024 };
    const wal = await Wal.create(dir, meta, opts);
    for (let i = 1; i <= 100; i += 5) await wal.save(hs(1, i - 1), range(i, i + 4, 1, 40));
    const paths = wal.segmentPaths();
    assert.ok(paths.length > 5, `expected several segments, got ${paths.length}`);
    assert.equal(basename(paths[0]), segmentName(0, 0));
    for (let i = 0; i < paths.length; i++) {
      assert.match(basename(paths[i]), new RegExp(`^${i.toString(16).padStart(16, "0")}-`));
      if (i < paths.length - 1) assert.ok((await Deno.stat(paths[i])).size < 1024 + 5 * 66 + 33);
    }
    await wal.close();
    const { wal: w2, replay } = await reopen(dir, opts);
    assert.deepEqual(replay.entries.map((e) => e.index), range(1, 100).map((e) => e.index));
    assert.deepEqual(replay.hardState, hs(1, 95));
    await w2.close();
  });
});

Deno.test("a bad record at the end of a non-last segment is corruption, not a torn tail", async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, meta, { segmentSize: 512 });
    for (let i = 1; i <= 40; i += 4) await wal.save(hs(1, 0), range(i, i + 3));
    const [first] = wal.segmentPaths();
    await wal.close();
    const size = (await Deno.stat(first)).size;
    await Deno.truncate(first, size - 2);
    await assert.rejects(
      () => Wal.open(dir),
      (e: unknown) => e instanceof WalCorruptError && e.path === first,
    );
  });
});

Deno.test("purge deletes only released segments, those covered by the snapshot marker", async () => {
  await withDir(async (dir) => {
    const opts = { segmentSize: 600 };
    const wal = await Wal.create(dir, meta, opts);
    // The vote is saved once, in the first segment only.
    await wal.save({ term: 3, vote: 7n, commit: 0 }, []);
    for (let i = 1; i <= 60; i += 3) await wal.save(undefined, range(i, i + 2, 3));
    const unmarked = wal.segmentPaths();
    assert.ok(unmarked.length >= 4);
    await wal.releaseTo(60); // no snapshot marker yet: nothing may go
    assert.deepEqual(await wal.purge(1), []);
    assert.deepEqual(wal.segmentPaths(), unmarked);

    await wal.saveSnapshotMarker({ term: 3, index: 30 });
    const before = wal.segmentPaths();
    await wal.releaseTo(45); // capped at the marker, 30
    assert.deepEqual(wal.segmentPaths(), before, "releasing deletes nothing by itself");
    assert.deepEqual(await wal.purge(0), [], "0 keeps every segment");
    const purged = await wal.purge(1);
    const after = wal.segmentPaths();
    assert.ok(purged.length > 0, "something was purged");
    assert.ok(
      after.length > 1,
      "segments holding entries after the marker stay, whatever the limit",
    );
    assert.deepEqual(purged, before.slice(0, purged.length), "only a prefix goes, oldest first");
    assert.deepEqual(after, before.slice(purged.length));
    for (const p of purged) await assert.rejects(() => Deno.stat(p), Deno.errors.NotFound);
    await wal.close();

    const { wal: w2, replay } = await reopen(dir, opts);
    assert.deepEqual(replay.snapshot, { term: 3, index: 30 });
    assert.deepEqual(replay.entries.map((e) => e.index), range(31, 60).map((e) => e.index));
    assert.deepEqual(
      replay.hardState,
      { term: 3, vote: 7n, commit: 0 },
      "carried by segment headers",
    );
    // Every kept entry <= 30 lived in a kept segment: the first kept one starts at or before 31.
    const firstIndex = parseInt(basename(after[0]).slice(17, 33), 16);
    assert.ok(firstIndex <= 31);
    assert.deepEqual(await w2.purge(1), [], "reopening releases nothing more than before");
    await w2.close();
  });
});

Deno.test("purge keeps the newest `keep` segments even when older ones are released", async () => {
  await withDir(async (dir) => {
    const opts = { segmentSize: 500 };
    const wal = await Wal.create(dir, meta, opts);
    await wal.save(hs(1, 0), []);
    for (let i = 1; i <= 60; i += 3) await wal.save(undefined, range(i, i + 2, 1));
    await wal.saveSnapshotMarker({ term: 1, index: 60 });
    await wal.releaseTo(60);
    const before = wal.segmentPaths();
    assert.ok(before.length >= 5, `${before.length} segments`);
    assert.deepEqual(await wal.purge(3), before.slice(0, before.length - 3));
    assert.deepEqual(wal.segmentPaths(), before.slice(-3));
    const onDisk = [];
    for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".wal")) onDisk.push(e.name);
    assert.equal(onDisk.length, 3);
    // More writes go to the current segment and new ones, as before.
    await wal.save(undefined, range(61, 70, 1));
    await wal.close();
    const { wal: w2, replay } = await reopen(dir, opts);
    assert.deepEqual(replay.entries.map((e) => e.index), range(61, 70).map((e) => e.index));
    // After a reopen the segments wholly before the marker are released again.
    const kept = w2.segmentPaths();
    const gone = await w2.purge(1);
    assert.deepEqual(gone, kept.slice(0, gone.length));
    assert.ok(w2.segmentPaths().length >= 1);
    await w2.close();
    const { wal: w3, replay: r3 } = await reopen(dir, opts);
    assert.deepEqual(r3.entries.map((e) => e.index), range(61, 70).map((e) => e.index));
    await w3.close();
  });
});

Deno.test("entries overwritten by a later save win on replay, across segments", async () => {
  await withDir(async (dir) => {
    const opts = { segmentSize: 400 };
    const wal = await Wal.create(dir, meta, opts);
    await wal.save(hs(1, 0), range(1, 10, 1));
    await wal.save(hs(2, 4), range(6, 8, 2)); // new leader replaces 6.. and drops 9, 10
    await wal.save(hs(3, 4), range(5, 6, 3)); // and again from 5
    assert.ok(wal.segmentPaths().length >= 2);
    await wal.close();
    const { wal: w2, replay } = await reopen(dir, opts);
    assert.deepEqual(replay.entries.map((e) => [e.index, e.term]), [
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 1],
      [5, 3],
      [6, 3],
    ]);
    await w2.close();
  });
});

/** Opts for the preallocation tests: 4 KiB segments, the pipeline on. */
const PRE = { segmentSize: 4096, preallocate: true };

/**
 * A WAL of PRE whose current segment is a preallocated one: entries 1..60
 * (2.5 KiB) fill the first, unpreallocated segment past half, the spare is
 * prepared meanwhile, and the next save switches to it.
 */
async function preallocatedWal(dir: string): Promise<Wal> {
  const wal = await Wal.create(dir, meta, PRE);
  await wal.save(hs(1, 0), range(1, 60));
  await wal.settled();
  await wal.save(hs(1, 60), range(61, 62));
  return wal;
}

/** Where a segment's records end (the first zero length), by scanning it. */
async function logicalEnd(path: string): Promise<number> {
  return scanSegment(path, await Deno.readFile(path), true).end;
}

Deno.test("preallocation: the first segment switches early to a zero-filled spare", async () => {
  await withDir(async (dir) => {
    const wal = await preallocatedWal(dir);
    const segs = wal.segmentPaths();
    assert.equal(segs.length, 2, "the save after the spare was ready switched to it");
    assert.ok((await Deno.stat(segs[0])).size < 4096, "the first segment was never zero-filled");
    assert.equal((await Deno.stat(segs[1])).size, 4096, "the new segment is preallocated");
    assert.equal(basename(segs[1]), segmentName(1, 61));
    // The spare was renamed into place: no temporary file is left.
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, segs.map((p) => basename(p)).sort());
    await wal.close();
    const { wal: w2, replay } = await reopen(dir, PRE);
    assert.deepEqual(replay.entries.map((e) => e.index), range(1, 62).map((e) => e.index));
    assert.deepEqual(replay.hardState, hs(1, 60));
    assert.equal(replay.truncatedTail, undefined);
    await w2.close();
  });
});

Deno.test("preallocation: appends after a restart continue at the end of the records, not of the file", async () => {
  await withDir(async (dir) => {
    const wal = await preallocatedWal(dir);
    const seg = wal.segmentPaths()[1];
    const endBefore = await logicalEnd(seg);
    await wal.close();
    const { wal: w2 } = await reopen(dir, PRE);
    await w2.save(hs(1, 62), range(63, 64));
    await w2.close();
    const bytes = await Deno.readFile(seg);
    assert.equal(bytes.length, 4096, "the file kept its preallocated size");
    const scan = scanSegment(seg, bytes, true);
    const firstNew = scan.records.findIndex((r) =>
      r.type === RecordType.Entry && r.entry.index === 63
    );
    assert.equal(scan.offsets[firstNew], endBefore, "entry 63 follows the last record directly");
    const { wal: w3, replay } = await reopen(dir, PRE);
    assert.deepEqual(replay.entries.map((e) => e.index), range(1, 64).map((e) => e.index));
    await w3.close();
  });
});

Deno.test("preallocation: a member killed in a preallocated segment restarts with every synced entry", async () => {
  await withDir(async (dir) => {
    const wal = await preallocatedWal(dir);
    await wal.save(hs(1, 62), range(63, 70));
    // A kill: the process is gone without close(). Copy the directory as
    // the disk holds it, spare files included.
    const copy = `${dir}-killed`;
    await Deno.mkdir(copy);
    for (const e of Deno.readDirSync(dir)) {
      await Deno.copyFile(join(dir, e.name), join(copy, e.name));
    }
    await Deno.writeFile(join(copy, "spare-9.wal.tmp"), new Uint8Array(4096));
    await wal.close();
    try {
      const { wal: w2, replay } = await reopen(copy, PRE);
      assert.deepEqual(replay.entries.map((e) => e.index), range(1, 70).map((e) => e.index));
      assert.equal(replay.truncatedTail, undefined, "a zero tail is the end of the log");
      assert.ok(
        !Deno.readDirSync(copy).some((e) => e.name.endsWith(".tmp")),
        "stale spare removed",
      );
      await w2.save(undefined, [ent(71)]);
      await w2.close();
      const { wal: w3, replay: r3 } = await reopen(copy, PRE);
      assert.equal(r3.entries.at(-1)?.index, 71);
      await w3.close();
    } finally {
      await Deno.remove(copy, { recursive: true });
    }
  });
});

Deno.test("preallocation: a torn write at the boundary of the records and the zeros is cut, the zeros kept", async () => {
  await withDir(async (dir) => {
    const wal = await preallocatedWal(dir);
    const seg = wal.segmentPaths()[1];
    await wal.save(undefined, range(63, 64));
    await wal.close();
    const bytes = await Deno.readFile(seg);
    const scan = scanSegment(seg, bytes, true);
    const last = scan.offsets[scan.offsets.length - 1];
    // Only the first 20 bytes of entry 64's record reached the disk; the
    // rest is still the preallocated zeros.
    bytes.fill(0, last + 20, scan.end);
    await Deno.writeFile(seg, bytes);
    const { wal: w2, replay } = await reopen(dir, PRE);
    assert.equal(replay.entries.at(-1)?.index, 63);
    assert.ok(replay.truncatedTail, "the torn record was reported");
    assert.equal(replay.truncatedTail.offset, last);
    // Up to its last non-zero byte (the 20 kept end in a u64's zero high bytes).
    const dropped = replay.truncatedTail.droppedBytes;
    assert.ok(dropped > 8 && dropped <= 20, `dropped ${dropped} bytes, not the torn ones`);
    assert.equal((await Deno.stat(seg)).size, 4096, "the preallocated size is kept");
    assert.equal(await logicalEnd(seg), last, "the torn bytes were zeroed");
    await w2.save(undefined, [ent(64, 2)]);
    await w2.close();
    const { wal: w3, replay: r3 } = await reopen(dir, PRE);
    assert.deepEqual(r3.entries.map((e) => [e.index, e.term]).at(-1), [64, 2]);
    assert.equal(r3.truncatedTail, undefined);
    await w3.close();
  });
});

Deno.test("preallocation: damage followed by valid records in a preallocated segment is corruption", async () => {
  await withDir(async (dir) => {
    const wal = await preallocatedWal(dir);
    const seg = wal.segmentPaths()[1];
    await wal.save(undefined, range(63, 66));
    await wal.close();
    const bytes = await Deno.readFile(seg);
    const scan = scanSegment(seg, bytes, true);
    const victim = scan.offsets[scan.offsets.length - 3];
    // A zero length mid-segment reads like the end of a preallocated file,
    // but non-zero records follow: corruption, not the end of the log.
    bytes.fill(0, victim, victim + 4);
    await Deno.writeFile(seg, bytes);
    await assert.rejects(
      () => Wal.open(dir, PRE),
      (e: unknown) => e instanceof WalCorruptError && e.path === seg && e.offset === victim,
    );
  });
});

Deno.test("preallocation: segments keep switching to spares and replay across them", async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, meta, PRE);
    for (let i = 1; i <= 400; i += 10) {
      await wal.save(hs(1, i - 1), range(i, i + 9));
      // Let a spare being prepared finish now and then, as time would.
      if (i % 50 === 1) await wal.settled();
    }
    const segs = wal.segmentPaths();
    assert.ok(segs.length >= 4, `only ${segs.length} segments`);
    for (const p of segs.slice(1)) {
      assert.ok((await Deno.stat(p)).size >= 4096, `${p} not preallocated`);
    }
    await wal.close();
    assert.ok(
      !Deno.readDirSync(dir).some((e) => e.name.endsWith(".tmp")),
      "close removed the spare",
    );
    const { wal: w2, replay } = await reopen(dir, PRE);
    assert.deepEqual(replay.entries.map((e) => e.index), range(1, 400).map((e) => e.index));
    assert.equal(replay.truncatedTail, undefined);
    await w2.purge(1); // nothing released yet: nothing goes
    assert.equal(w2.segmentPaths().length, segs.length);
    await w2.close();
  });
});

/** The real disk, recording the byte ranges read through descriptors opened read-only. */
function readRecorder(): { disk: Disk; reads: Map<string, [number, number][]> } {
  const reads = new Map<string, [number, number][]>();
  const disk: Disk = {
    ...REAL_DISK,
    open: async (path, opts) => {
      const f = await REAL_DISK.open(path, opts);
      if (opts.write || opts.create) return f;
      let pos = 0;
      return {
        writeSync: (b) => f.writeSync(b),
        write: (b) => f.write(b),
        read: async (b) => {
          const n = await f.read(b);
          if (n !== null) {
            (reads.get(path) ?? reads.set(path, []).get(path)!).push([pos, pos + n]);
            pos += n;
          }
          return n;
        },
        syncDataSync: () => f.syncDataSync(),
        syncData: () => f.syncData(),
        sync: () => f.sync(),
        truncate: (n) => f.truncate(n),
        seekSync: (o, w) => (pos = f.seekSync(o, w)),
        seek: async (o, w) => (pos = await f.seek(o, w)),
        close: () => f.close(),
      };
    },
  };
  return { disk, reads };
}

/** The end of the run of `ranges` that starts at or before `from`, merged. */
function coveredFrom(ranges: [number, number][], from: number): number {
  let end = from;
  for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0])) if (a <= end && b > end) end = b;
  return end;
}

Deno.test("preallocation: the pages ahead of the writer are read back before it gets there", async () => {
  await withDir(async (dir) => {
    const { disk, reads } = readRecorder();
    const segmentSize = 4 * PREFETCH_BYTES;
    const opts = { segmentSize, preallocate: true, disk };
    const wal = await Wal.create(dir, meta, opts);
    let i = 1;
    const put = async (n: number) => {
      for (let k = 0; k < n; k++, i++) await wal.save(hs(1, i - 1), [ent(i, 1, 1000)]);
    };
    await put(600); // past half of the segment: a spare is prepared
    await wal.settled();
    await put(1); // switches to it
    const seg = wal.segmentPaths()[1];
    assert.ok(seg, "the WAL switched to a preallocated segment");
    for (let round = 0; round < 6; round++) {
      await put(150); // ~150 KiB: past the read-ahead's half-way mark each time
      await wal.settled();
      const written = await logicalEnd(seg);
      const covered = coveredFrom(reads.get(seg) ?? [], written - 1);
      assert.ok(
        covered >= Math.min(segmentSize, written + PREFETCH_BYTES / 2),
        `round ${round}: records end at ${written}, pages read only up to ${covered}`,
      );
    }
    await wal.close();
    const first = wal.segmentPaths()[0];
    assert.equal(reads.get(first), undefined, "a segment that was not preallocated is not read");
  });
});

Deno.test("a closed WAL refuses work", async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, meta);
    await wal.close();
    await assert.rejects(() => wal.save(hs(1, 0), [ent(1)]), /closed/);
  });
});

Deno.test("overwriting entries zeroed off an older segment's end are found by the next segment's link", async () => {
  await withDir(async (dir) => {
    // 10 entries, then 3 that overwrite 5..7, fill the first segment (about
    // 670 bytes), so the next save rolls to a segment named after entry 8.
    const opts = { segmentSize: 600, preallocate: true };
    const wal = await Wal.create(dir, meta, opts);
    await wal.save(hs(1, 0), range(1, 10, 1));
    await wal.save(hs(2, 4), range(5, 7, 2)); // a new leader overwrites 5..7
    const [first] = wal.segmentPaths();
    await wal.save(undefined, range(8, 9, 2));
    assert.equal(wal.segmentPaths().length, 2, "the WAL rolled");
    await wal.close();
    // Zero the records from the term-2 entry 5 on: every record left reads
    // cleanly, and a zeroed tail is how a preallocated segment ends.
    const bytes = await Deno.readFile(first);
    const scan = scanSegment(first, bytes, false);
    const k = scan.records.findIndex((r) =>
      r.type === RecordType.Entry && r.entry.index === 5 && r.entry.term === 2
    );
    assert.ok(k > 0);
    bytes.fill(0, scan.offsets[k]);
    await Deno.writeFile(first, bytes);
    await assert.rejects(
      () => Wal.open(dir, opts),
      (e: unknown) =>
        e instanceof WalCorruptError && e.path === first && /missing from its end/.test(e.message),
    );
  });
});

Deno.test("a record altered in place in an older segment fails the link's chain", async () => {
  await withDir(async (dir) => {
    const opts = { segmentSize: 1024 };
    const wal = await Wal.create(dir, meta, opts);
    for (let i = 1; i <= 60; i += 5) await wal.save(hs(1, i - 1), range(i, i + 4, 1, 40));
    const [first] = wal.segmentPaths();
    assert.ok(wal.segmentPaths().length >= 2);
    await wal.close();
    // Replace the last record with another valid one of the same size (a
    // hard state with a different commit), CRC recomputed.
    const bytes = await Deno.readFile(first);
    const scan = scanSegment(first, bytes, false);
    const last = scan.records.length - 1;
    const other = encodeRecords([{ type: RecordType.HardState, hardState: hs(9, 9) }]);
    const old = bytes.subarray(scan.offsets[last]);
    assert.equal(old.length, other.length, "the segment ends with a hard state record");
    bytes.set(other, scan.offsets[last]);
    await Deno.writeFile(first, bytes);
    await assert.rejects(() => Wal.open(dir, opts), /records differ from those written/);
  });
});

Deno.test("a bad record in a segment wholly behind the newest snapshot marker still stops the open, as etcd refuses", async () => {
  // etcd CRC-checks every retained WAL record at start (ValidSnapshotEntries),
  // not only those after the snapshot: replay reads no entry of such a
  // segment, but must still check it.
  await withDir(async (dir) => {
    const opts = { segmentSize: 1024, preallocate: false };
    const wal = await Wal.create(dir, meta, opts);
    for (let i = 1; i <= 60; i += 5) await wal.save(hs(1, i + 4), range(i, i + 4, 1, 40));
    await wal.saveSnapshotMarker({ term: 1, index: 58 });
    await wal.save(hs(1, 62), range(61, 62, 1, 40));
    const paths = wal.segmentPaths();
    await wal.close();
    assert.ok(paths.length >= 3, `${paths.length} segments`);
    const ok = await reopen(dir, opts);
    assert.deepEqual(ok.replay.entries.map((e) => e.index), [59, 60, 61, 62]);
    assert.deepEqual(ok.replay.entries[0].data, ent(59, 1, 40).data);
    await ok.wal.close();
    const first = paths[0];
    const bytes = await Deno.readFile(first);
    const { offsets, records } = scanSegment(first, bytes, false);
    const k = records.findIndex((r) => r.type === RecordType.Entry);
    bytes[offsets[k] + 30] ^= 0x01; // inside the first entry's data
    await Deno.writeFile(first, bytes);
    await assert.rejects(
      () => Wal.open(dir, opts),
      (e: unknown) =>
        e instanceof WalCorruptError && e.message.includes(first) &&
        e.message.includes(`byte offset ${offsets[k]}`) && /crc mismatch/.test(e.message),
    );
  });
});

Deno.test("replayed entries read through the window across many segments keep their data", async () => {
  await withDir(async (dir) => {
    // Entries larger than a record header and of every size class, over
    // several segments, with no snapshot: every entry is replayed.
    const opts = { segmentSize: 4096, preallocate: false };
    const wal = await Wal.create(dir, meta, opts);
    const want: Entry[] = [];
    for (let i = 1; i <= 200; i++) {
      const e = ent(i, 1, (i * 37) % 300);
      want.push(e);
      await wal.save(hs(1, i), [e]);
    }
    await wal.close();
    const { wal: w2, replay } = await reopen(dir, opts);
    assert.deepEqual(replay.entries, want);
    replay.entries[0].data.fill(0xee);
    assert.deepEqual(replay.entries[1].data, want[1].data, "no entry shares another's bytes");
    await w2.close();
  });
});
