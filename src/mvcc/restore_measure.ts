/**
 * In-process measurement of a large store's index (issue 15): loads
 * `--keys` distinct keys (default 300,000) of 256-byte values into an
 * {@link MvccStore} in a nearly sorted order (as 100 concurrent loaders
 * write `s/NNNNNNNN` keys), then reports the V8 heap the store holds, how
 * long {@link MvccStore.restore} takes to rebuild a store from its
 * snapshot (the snapshot decode and index build apart from the rest), and
 * the heap the restored store holds.
 *
 * `deno run -A --v8-flags=--expose-gc src/mvcc/restore_measure.ts [--keys N] [--shuffle]`
 *
 * `--shuffle` writes the keys in random order instead. A measurement
 * script, not a test: it prints figures and asserts nothing.
 *
 * @module
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { PutRequestSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { decodeStoreSteps } from "./codec.ts";
import { MvccStore } from "./store.ts";

const gc = (globalThis as { gc?: () => void }).gc;

function heapMiB(): number {
  gc?.();
  gc?.();
  return Deno.memoryUsage().heapUsed / 2 ** 20;
}

/** Key numbers in write order: blocks of 100 scrambled (100 racing loaders), or all shuffled. */
function writeOrder(n: number, shuffle: boolean): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let seed = 12345;
  const rand = (m: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % m;
  };
  const block = shuffle ? n : 100;
  for (let b = 0; b < n; b += block) {
    const end = Math.min(n, b + block);
    for (let i = end - 1; i > b; i--) {
      const j = b + rand(i - b + 1);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
  }
  return order;
}

/** Loads the keys; returns the store's heap, its hash and its snapshot. */
function load(n: number, shuffle: boolean): { heap: number; hash: number; snap: Uint8Array } {
  const order = writeOrder(n, shuffle);
  const enc = new TextEncoder();
  const value = new Uint8Array(256).fill(0x61);
  const base = heapMiB();
  const store = new MvccStore();
  for (let i = 0; i < n; i++) {
    const key = enc.encode(`s/${order[i].toString().padStart(8, "0")}`);
    store.put(create(PutRequestSchema, { key, value }));
  }
  const heap = heapMiB() - base;
  return { heap, hash: store.hash(), snap: store.serialize() };
}

/** CPU milliseconds (all threads: V8's GC helpers count) since `from`. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const d = cpuUsage(from);
  return (d.user + d.system) / 1000;
}

/**
 * Times the snapshot decode alone, step by step as a follower installing
 * a snapshot runs it (the index it builds is dropped): wall and CPU ms,
 * and the longest single step in ms (how long the event loop is held).
 */
function timeDecode(snap: Uint8Array): [number, number, number] {
  const c0 = cpuUsage();
  const t0 = performance.now();
  const steps = decodeStoreSteps(snap, true);
  let longest = 0;
  for (;;) {
    const s0 = performance.now();
    const r = steps.next();
    longest = Math.max(longest, performance.now() - s0);
    if (r.done) break;
  }
  return [performance.now() - t0, cpuMs(c0), longest];
}

function main(): void {
  const { values: args } = parseArgs({
    options: { keys: { type: "string" }, shuffle: { type: "boolean" } },
  });
  const n = Number(args.keys ?? 300_000);
  const shuffle = args.shuffle === true;
  const base = heapMiB();
  const loaded = load(n, shuffle);
  const decodeMs = timeDecode(loaded.snap);
  const c0 = cpuUsage();
  const t0 = performance.now();
  const restored = MvccStore.restore(loaded.snap, undefined, true);
  const restoreMs = performance.now() - t0;
  const restoreCpuMs = cpuMs(c0);
  // Only the restored store is left (its bytes are in the snapshot's buffer, outside the heap).
  const after = heapMiB() - base;
  console.log(JSON.stringify({
    keys: n,
    shuffled: shuffle,
    loadedHeapMiB: +loaded.heap.toFixed(1),
    snapshotMiB: +(loaded.snap.length / 2 ** 20).toFixed(1),
    decodeMs: Math.round(decodeMs[0]),
    decodeCpuMs: Math.round(decodeMs[1]),
    longestDecodeStepMs: Math.round(decodeMs[2]),
    restoreMs: Math.round(restoreMs),
    restoreCpuMs: Math.round(restoreCpuMs),
    restoredHeapMiB: +after.toFixed(1),
    sameHash: restored.hash() === loaded.hash,
  }));
}

main();
