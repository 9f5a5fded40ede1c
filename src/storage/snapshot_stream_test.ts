import assert from "node:assert/strict";
import { join } from "node:path";
import type { SnapshotMeta } from "../raft/types.ts";
import { recordingDisk } from "./recording_disk.ts";
import { SNAPSHOT_FLUSH_BYTES, SnapshotStore } from "./snapshot.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-snapstream-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const meta: SnapshotMeta = { term: 3, index: 40, confState: { voters: [1n], learners: [] } };

/** `n` bytes of a pattern in chunks of `size` from ONE reused buffer (as the store's stream does). */
function* reused(n: number, size: number): Generator<Uint8Array> {
  const buf = new Uint8Array(size);
  for (let off = 0; off < n; off += size) {
    const k = Math.min(size, n - off);
    for (let i = 0; i < k; i++) buf[i] = (off + i) * 7 & 0xff;
    yield buf.subarray(0, k);
  }
}

Deno.test("a streamed snapshot file reads back as the same body as one saved whole", async () => {
  await withDir(async (dir) => {
    const { disk, calls } = recordingDisk();
    const store = new SnapshotStore(dir, { disk });
    const n = 9 << 20; // spans several pauses and flushes
    let pauses = 0;
    await store.saveStream(meta, n, reused(n, 1 << 20), () => {
      pauses++;
      return Promise.resolve();
    });
    assert.ok(pauses >= 2, `paused ${pauses} times`);
    assert.equal(calls.asyncWrittenBytes, n, "the body is written off the event loop");
    assert.equal(calls.flushes, Math.floor(n / SNAPSHOT_FLUSH_BYTES), "flushed every 2 MiB");
    const snap = await store.loadNewest();
    assert.deepEqual(snap?.meta, meta);
    const expected = new Uint8Array(n);
    for (let i = 0; i < n; i++) expected[i] = i * 7 & 0xff;
    assert.deepEqual(snap?.data, expected);
  });
});

Deno.test("a stream shorter than announced is refused and leaves no snapshot file", async () => {
  await withDir(async (dir) => {
    const store = new SnapshotStore(dir, { onWarning: () => {} });
    await assert.rejects(
      () => store.saveStream(meta, 5000, reused(4000, 1000)),
      /4000 bytes, announced 5000/,
    );
    assert.equal(await store.loadNewest(), undefined);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.ok(!names.some((x) => x.endsWith(".snap")), names.join(","));
    await store.removeTemps();
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => join(dir, e.name)), []);
  });
});
