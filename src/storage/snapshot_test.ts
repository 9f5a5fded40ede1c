import assert from "node:assert/strict";
import { basename, join } from "node:path";
import type { SnapshotMeta } from "../raft/types.ts";
import { REAL_DISK } from "./disk.ts";
import { recordingDisk } from "./recording_disk.ts";
import {
  checkSnapshotFile,
  SNAPSHOT_FLUSH_BYTES,
  snapshotName,
  SnapshotStore,
  SnapshotVersionError,
} from "./snapshot.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-snap-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const meta = (term: number, index: number): SnapshotMeta => ({
  term,
  index,
  confState: { voters: [1n, 0xffffffffffffffffn], learners: [3n] },
});
const body = (n: number) => new Uint8Array(1000).fill(n);

Deno.test("save then loadNewest returns the newest snapshot intact", async () => {
  await withDir(async (dir) => {
    const store = new SnapshotStore(dir, { onWarning: () => assert.fail("no warning expected") });
    assert.equal(await store.loadNewest(), undefined);
    await store.save(meta(1, 10), body(1));
    const p = await store.save(meta(2, 20), body(2));
    assert.equal(basename(p), "0000000000000002-0000000000000014.snap");
    const snap = await store.loadNewest();
    assert.deepEqual(snap?.meta, meta(2, 20));
    assert.deepEqual(snap?.data, body(2));
    const older = await store.loadNewest((m) => m.index <= 15);
    assert.deepEqual(older?.meta, meta(1, 10));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.ok(names.every((n) => n.endsWith(".snap")), `no temp files left: ${names}`);
  });
});

Deno.test("a corrupted newest snapshot is set aside and the older one is used", async () => {
  await withDir(async (dir) => {
    const warnings: string[] = [];
    const store = new SnapshotStore(dir, { onWarning: (m) => warnings.push(m) });
    await store.save(meta(1, 10), body(1));
    const newest = await store.save(meta(1, 20), body(2));
    const bytes = await Deno.readFile(newest);
    bytes[bytes.length - 100] ^= 0x40; // bit rot in the body
    await Deno.writeFile(newest, bytes);
    const snap = await store.loadNewest();
    assert.deepEqual(snap?.meta, meta(1, 10));
    assert.deepEqual(snap?.data, body(1));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /body checksum/);
    assert.ok(warnings[0].includes(newest));
    await Deno.stat(`${newest}.broken`);
    await assert.rejects(() => Deno.stat(newest), Deno.errors.NotFound);
  });
});

Deno.test("truncated or misnamed snapshots are damaged too", async () => {
  await withDir(async (dir) => {
    const warnings: string[] = [];
    const store = new SnapshotStore(dir, { onWarning: (m) => warnings.push(m) });
    await store.save(meta(1, 5), body(1));
    const p = await store.save(meta(1, 7), body(2));
    await Deno.truncate(p, 500);
    const src = await store.save(meta(1, 6), body(3));
    await Deno.rename(src, join(dir, "0000000000000001-0000000000000009.snap"));
    const snap = await store.loadNewest();
    assert.equal(snap?.meta.index, 5);
    assert.equal(warnings.length, 2);
  });
});

Deno.test("a newer snapshot format version is refused, not set aside", async () => {
  await withDir(async (dir) => {
    const store = new SnapshotStore(dir);
    const p = await store.save(meta(1, 5), body(1));
    const bytes = await Deno.readFile(p);
    new DataView(bytes.buffer).setUint32(8, 99, true);
    await Deno.writeFile(p, bytes);
    await assert.rejects(() => store.loadNewest(), SnapshotVersionError);
    await Deno.stat(p);
  });
});

Deno.test("purge keeps the newest snapshots only, and leaves temp files to removeTemps", async () => {
  await withDir(async (dir) => {
    const store = new SnapshotStore(dir);
    for (let i = 1; i <= 5; i++) await store.save(meta(1, i * 10), body(i));
    const tmp = join(dir, "0000000000000001-0000000000000063.snap.tmp");
    await Deno.writeFile(tmp, body(0));
    assert.deepEqual(await store.purge(0), [], "0 keeps every snapshot");
    assert.equal((await store.list()).length, 5);
    const gone = await store.purge(2);
    assert.deepEqual(gone, [10, 20, 30].map((i) => join(dir, snapshotName(1, i))), "oldest first");
    assert.deepEqual((await store.list()).map((f) => f.index), [50, 40]);
    assert.ok((await Deno.stat(tmp)).isFile, "a save in progress keeps its temp file");
    await store.removeTemps();
    assert.deepEqual([...Deno.readDirSync(dir)].length, 2);
  });
});

Deno.test("purge never deletes the snapshot the WAL's newest marker names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cairn-snap-purge-" });
  try {
    const store = new SnapshotStore(dir);
    const cs = { voters: [1n], learners: [] };
    for (const index of [10, 20, 30]) {
      await store.save({ term: 2, index, confState: cs }, new Uint8Array([index]));
    }
    // Snapshot 30 was saved but a crash kept its marker from the WAL: 20 is needed.
    const gone = await store.purge(1, { term: 2, index: 20 });
    assert.deepEqual(gone.map((p) => p.slice(dir.length + 1)), [
      "0000000000000002-000000000000000a.snap",
    ]);
    assert.deepEqual((await store.list()).map((f) => f.index), [30, 20]);
    assert.equal((await store.loadNewest((m) => m.index === 20))?.meta.index, 20);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a large snapshot saved in chunks is written off the event loop, flushed every 2 MiB, and reads back whole", async () => {
  await withDir(async (dir) => {
    let pauses = 0;
    const { disk, calls } = recordingDisk();
    const store = new SnapshotStore(dir, { disk });
    const chunks = Array.from({ length: 40 }, (_, i) => new Uint8Array(1 << 20).fill(i));
    await store.saveChunks(meta(3, 30), chunks, () => {
      pauses++;
      return Promise.resolve();
    });
    assert.equal(calls.asyncWrittenBytes, 40 << 20, "the body is written off the event loop");
    assert.ok(calls.syncWrittenBytes < 4096, `${calls.syncWrittenBytes} B written on the loop`);
    assert.equal(SNAPSHOT_FLUSH_BYTES, 2 << 20);
    assert.equal(calls.flushes, 20, "flushed every 2 MiB of 40 MiB");
    for (let i = 1; i < calls.flushedAt.length; i++) {
      assert.equal(calls.flushedAt[i] - calls.flushedAt[i - 1], SNAPSHOT_FLUSH_BYTES);
    }
    assert.ok(pauses >= 10, `${pauses} pauses`);
    const snap = await store.loadNewest();
    assert.equal(snap?.data.length, 40 << 20);
    for (let i = 0; i < 40; i++) assert.equal(snap!.data[(i << 20) + 17], i);
  });
});

Deno.test("a small snapshot without pauses is written whole on the loop and flushed once", async () => {
  await withDir(async (dir) => {
    const { disk, calls } = recordingDisk();
    const store = new SnapshotStore(dir, { disk });
    await store.save(meta(2, 20), new Uint8Array(5000).fill(9));
    assert.equal(calls.asyncWrittenBytes, 0);
    assert.equal(calls.flushes, 0, "only the final fsync");
    assert.deepEqual((await store.loadNewest())?.data, new Uint8Array(5000).fill(9));
  });
});

Deno.test("peekNewest reads the newest file and acts on nothing; loadNewest takes it as read", async () => {
  await withDir(async (dir) => {
    const warnings: string[] = [];
    const store = new SnapshotStore(dir, { onWarning: (m) => warnings.push(m) });
    assert.equal(await store.peekNewest(), undefined);
    await store.save(meta(1, 10), body(1));
    const newest = await store.save(meta(2, 20), body(2));
    const peeked = await store.peekNewest();
    await peeked?.verified;
    const early = peeked?.snap;
    assert.deepEqual(early?.meta, meta(2, 20));
    assert.deepEqual(early?.data, body(2));
    // Used as read: the file is not read again (a change since goes unseen).
    const bytes = await Deno.readFile(newest);
    bytes[bytes.length - 1] ^= 0x40;
    await Deno.writeFile(newest, bytes);
    assert.equal(await store.loadNewest((m) => m.index === 20, early), early);
    // An early snapshot of another file does not stand in for the one wanted.
    const older = await store.loadNewest((m) => m.index === 10, early);
    assert.deepEqual(older?.meta, meta(1, 10));
    assert.deepEqual(older?.data, body(1));
    assert.equal(warnings.length, 0, "the damaged newest file was taken from early, not read");
    // Damage: peekNewest says nothing and leaves the file for loadNewest to set aside.
    assert.equal(await store.peekNewest(), undefined);
    await Deno.stat(newest);
    assert.deepEqual((await store.loadNewest())?.meta, meta(1, 10));
    await Deno.stat(`${newest}.broken`);
    assert.equal(warnings.length, 1);
  });
});

Deno.test("peekNewest off thread: the body comes back at once, its checksum settles apart", async () => {
  await withDir(async (dir) => {
    const store = new SnapshotStore(dir, { onWarning: () => assert.fail("no warning expected") });
    const path = await store.save(meta(4, 40), body(4));
    // 0 bytes: any body is checked on the worker.
    const good = await store.peekNewest(0);
    assert.deepEqual(good?.snap.data, body(4));
    await good?.verified;
    await checkSnapshotFile(REAL_DISK, path);
    // Damage in the body only: the read does not see it (its checksum is
    // the worker's), the check does, with readSnapshotFile's error.
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 10] ^= 0x08;
    await Deno.writeFile(path, bytes);
    const bad = await store.peekNewest(0);
    assert.equal(bad?.snap.data[990], 4 ^ 0x08, "the body is returned as read, unchecked");
    await assert.rejects(() => bad!.verified, /body checksum mismatch/);
    await assert.rejects(() => checkSnapshotFile(REAL_DISK, path), /body checksum mismatch/);
    // Checked here (no size given): damage means nothing is returned.
    assert.equal(await store.peekNewest(), undefined);
  });
});
