/**
 * In-process measurement of how long a compaction of a large store holds
 * the event loop (issue 14 part 6): loads `--keys` keys (default
 * 1,000,000) of 256-byte values into an {@link MvccStore}, every tenth key
 * written three times and every fiftieth deleted, compacts at the current
 * revision, and reports the longest lateness of a 1 ms interval timer
 * while the compaction runs (the longest synchronous block the Raft loop
 * would have seen), the longest single compaction step timed directly, the
 * compaction's wall time, and the timer's lateness over a quiet second
 * before (the floor a loaded machine adds by itself).
 *
 * `deno run -A --v8-flags=--expose-gc src/mvcc/compaction_stall.ts [--keys N] [--one-pass]`
 *
 * `--one-pass` compacts with {@link MvccStore.compact} (the whole work in
 * one synchronous call, as every compaction ran before), otherwise with
 * {@link MvccStore.compactInSteps} (what apply does). A measurement
 * script, not a test: it prints figures and asserts nothing.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { create } from "@bufbuild/protobuf";
import { DeleteRangeRequestSchema, PutRequestSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "./store.ts";

/** What one measured compaction showed. */
export interface StallFigures {
  /** Versions stored before the compaction. */
  versionsBefore: number;
  /** Versions stored after it. */
  versionsAfter: number;
  /** Longest lateness of the 1 ms timer during the compaction, in ms. */
  maxLateMs: number;
  /** Longest lateness of the same timer over a quiet second before it, in ms. */
  idleLateMs: number;
  /** Longest compaction step (the whole compaction for one pass), in ms. */
  maxStepMs: number;
  /** The compaction's wall time, in ms. */
  wallMs: number;
}

/** Loads `keys` keys into a new store (see the module comment for the workload). */
export function loadStore(keys: number): MvccStore {
  const enc = new TextEncoder();
  const st = new MvccStore();
  const value = new Uint8Array(256).fill(0x61);
  const key = (i: number) => enc.encode(`/registry/pods/default/pod-${String(i).padStart(7, "0")}`);
  for (let i = 0; i < keys; i++) st.put(create(PutRequestSchema, { key: key(i), value }));
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < keys; i += 10) st.put(create(PutRequestSchema, { key: key(i), value }));
  }
  for (let i = 5; i < keys; i += 50) {
    st.deleteRange(create(DeleteRangeRequestSchema, { key: key(i) }));
  }
  return st;
}

/** Compacts `st` at its current revision while a 1 ms timer measures its own lateness. */
export async function measureCompaction(st: MvccStore, onePass: boolean): Promise<StallFigures> {
  const versionsBefore = st.versionCount;
  let maxLateMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxLateMs = Math.max(maxLateMs, now - last - 1);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 1000));
  const idleLateMs = maxLateMs;
  maxLateMs = 0;
  let maxStepMs = 0;
  let stepStart = performance.now();
  const t0 = stepStart;
  if (onePass) {
    st.compact(st.currentRevision);
  } else {
    st.compactionPause = async () => {
      maxStepMs = Math.max(maxStepMs, performance.now() - stepStart);
      await new Promise((r) => setTimeout(r, 0));
      stepStart = performance.now();
    };
    await st.compactInSteps(st.currentRevision);
  }
  const wallMs = performance.now() - t0;
  maxStepMs = Math.max(maxStepMs, performance.now() - stepStart);
  // The timer's last lateness is measured on its next tick.
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return {
    versionsBefore,
    versionsAfter: st.versionCount,
    maxLateMs,
    idleLateMs,
    maxStepMs,
    wallMs,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { keys: { type: "string", default: "1000000" }, "one-pass": { type: "boolean" } },
  });
  const keys = Number(values.keys);
  const t0 = performance.now();
  const st = loadStore(keys);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const loadMs = performance.now() - t0;
  const f = await measureCompaction(st, values["one-pass"] === true);
  console.log(JSON.stringify({
    keys,
    mode: values["one-pass"] ? "one-pass" : "steps",
    loadMs: Math.round(loadMs),
    ...f,
    maxLateMs: Math.round(f.maxLateMs * 10) / 10,
    idleLateMs: Math.round(f.idleLateMs * 10) / 10,
    maxStepMs: Math.round(f.maxStepMs * 10) / 10,
    wallMs: Math.round(f.wallMs),
  }));
}
