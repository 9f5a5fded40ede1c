import assert from "node:assert/strict";
import { REAL_CLOCK } from "../clock.ts";
import { createLogger } from "../log.ts";
import { MvccStore } from "../mvcc/store.ts";
import type { SnapshotMeta } from "../raft/types.ts";
import { type SnapshotCapture, Snapshotter } from "./snapshotter.ts";
import { chunksLength, encodeCapturedSync } from "./state_snapshot.ts";
import { concatChunks, decodeStore } from "../mvcc/codec.ts";
import { create, fromBinary } from "@bufbuild/protobuf";
import { PutRequestSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";

const enc = new TextEncoder();

function storeWith(n: number): MvccStore {
  const st = new MvccStore();
  for (let i = 0; i < n; i++) {
    st.put(create(PutRequestSchema, { key: enc.encode(`k${i}`), value: enc.encode(`v${i}`) }));
  }
  return st;
}

/** A snapshotter over a fake durable log that records what reached it. */
function harness(
  store: MvccStore,
  opts: { hold?: () => Promise<void> | void } = {},
) {
  let applied = 10;
  const files: { meta: SnapshotMeta; body: Uint8Array }[] = [];
  const markers: SnapshotMeta[] = [];
  const failures: unknown[] = [];
  let kicks = 0;
  let streamed = 0;
  const snap: Snapshotter = new Snapshotter({
    clock: REAL_CLOCK,
    log: createLogger("error"),
    durable: {
      writeSnapshotStream: async (meta, length, chunks, pause) => {
        // Copied as they come: the stream reuses its buffer.
        const parts: Uint8Array[] = [];
        for (const c of chunks) {
          parts.push(c.slice());
          await pause?.();
        }
        const body = concatChunks(parts);
        assert.equal(body.length, length);
        files.push({ meta, body });
        streamed++;
      },
      commitSnapshot: (meta) => {
        markers.push(meta);
        return Promise.resolve();
      },
    },
    count: 5,
    index: 0,
    applied: () => applied,
    capture: (): SnapshotCapture => ({
      meta: { index: applied, term: 1, confState: { voters: [1n], learners: [] } },
      state: { view: store.pointInTime(), rest: new Uint8Array(0) },
    }),
    kick: () => kicks++,
    fail: (err) => failures.push(err),
    chunkBytes: 64,
    onPause: opts.hold,
  });
  return {
    snap,
    files,
    markers,
    failures,
    kicks: () => kicks,
    streamed: () => streamed,
    setApplied: (n: number) => (applied = n),
  };
}

/** Runs the snapshotter's loop steps until `cond` (at most ~2 s). */
async function until(h: ReturnType<typeof harness>, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !cond(); i++) {
    if (h.snap.due()) await h.snap.step();
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(cond(), "condition not reached");
}

Deno.test("snapshotter: file off the loop, marker on the next step, state as captured", async () => {
  const store = storeWith(50);
  const h = harness(store);
  assert.ok(h.snap.due());
  await h.snap.step(); // captures at index 10 and starts writing
  assert.ok(h.snap.busy);
  // The store moves on while the snapshot is being encoded.
  store.put(create(PutRequestSchema, { key: enc.encode("later"), value: enc.encode("x") }));
  await until(h, () => h.markers.length === 1);
  assert.equal(h.files.length, 1);
  assert.equal(h.markers[0].index, 10);
  assert.equal(h.snap.index, 10);
  const state = fromBinary(StateSnapshotSchema, h.files[0].body);
  const d = decodeStore(state.mvcc);
  assert.equal(d.currentRev, 51, "the put made after the capture is not in it");
  assert.ok(chunksLength([h.files[0].body]) > 64);
  assert.deepEqual(h.failures, []);
});

Deno.test("snapshotter: a snapshot of a state a leader's snapshot replaced gets no marker", async () => {
  let release: (() => void) | undefined;
  let held = false;
  const h = harness(storeWith(200), {
    hold: () => {
      if (held) return;
      held = true;
      return new Promise<void>((r) => (release = r));
    },
  });
  await h.snap.step();
  await until(h, () => release !== undefined);
  // A leader's snapshot at 20 is installed while ours (at 10) is held.
  h.setApplied(20);
  h.snap.stateReplaced(20);
  release!();
  await until(h, () => !h.snap.busy);
  assert.deepEqual(h.markers, [], "no marker for the replaced state");
  assert.equal(h.snap.index, 20);
  assert.deepEqual(h.failures, []);
});

Deno.test("snapshotter: snapshotNow resolves once a snapshot covers what was applied", async () => {
  const h = harness(storeWith(20));
  await h.snap.step();
  await until(h, () => h.markers.length === 1);
  h.setApplied(12); // below --snapshot-count since the last one
  assert.equal(h.snap.due(), false);
  let done = false;
  const p = h.snap.snapshotNow().then(() => (done = true));
  assert.ok(h.kicks() > 0);
  await until(h, () => done);
  await p;
  assert.equal(h.markers[1].index, 12);
  // Nothing applied since: resolves at once, no new file.
  await h.snap.snapshotNow();
  assert.equal(h.files.length, 2);
});

Deno.test("snapshotter: stopping abandons the snapshot at its next pause", async () => {
  let release: (() => void) | undefined;
  const h = harness(storeWith(200), {
    hold: () => new Promise<void>((r) => (release = r)),
  });
  await h.snap.step();
  await until(h, () => release !== undefined);
  const stopped = h.snap.stop();
  release!();
  await stopped;
  assert.deepEqual(h.files, []);
  assert.deepEqual(h.markers, []);
  assert.deepEqual(h.failures, []);
  await assert.rejects(h.snap.snapshotNow(), /abandoned/);
});

Deno.test("snapshotter: the snapshot is streamed to its file and equals the store encoded whole", async () => {
  const store = storeWith(300);
  const h = harness(store);
  await h.snap.step();
  await until(h, () => h.markers.length === 1);
  assert.deepEqual(h.failures, []);
  assert.equal(h.streamed(), 1);
  assert.deepEqual(
    h.files[0].body,
    encodeCapturedSync({ view: store.pointInTime(), rest: new Uint8Array(0) }),
  );
  const d = decodeStore(fromBinary(StateSnapshotSchema, h.files[0].body).mvcc);
  assert.equal(d.currentRev, 301);
});
