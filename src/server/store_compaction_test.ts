/**
 * `--experimental-compaction-batch-limit` and `-sleep-interval` as a
 * member applies them to its store (store_compaction.ts): the number of
 * steps a compaction takes follows the batch limit, the pause between
 * steps is the sleep interval on the member's clock, and each compaction's
 * hash is recorded.
 */
import assert from "node:assert/strict";
import type { Clock } from "../clock.ts";
import { createLogger } from "../log.ts";
import { COMPACTION_STEP_VERSIONS } from "../mvcc/compaction.ts";
import { MvccStore } from "../mvcc/store.ts";
import { putReq } from "../mvcc/test_helpers.ts";
import { CompactHashes } from "./compaction_hash.ts";
import { compactionStepVersions, StoreCompaction } from "./store_compaction.ts";

/** A clock whose timers fire on the next macrotask, remembering the delays asked for. */
function recordingClock(): Clock & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => Date.now(),
    monotonic: () => performance.now(),
    setTimeout: (fn, ms) => {
      delays.push(ms);
      return setTimeout(fn, 0);
    },
    clearTimeout: (id) => clearTimeout(id as number),
    setInterval: () => {
      throw new Error("not used");
    },
    clearInterval: () => {},
  };
}

function setup(batchLimit: number, sleepMs: number, stopped = () => false) {
  const clock = recordingClock();
  const hashes = new CompactHashes();
  const sc = new StoreCompaction({
    clock,
    log: createLogger("error"),
    cfg: { compactionBatchLimit: batchLimit, compactionSleepIntervalMs: sleepMs },
    hashes,
    stopped,
  });
  return { clock, hashes, sc };
}

/** A store of `keys` keys with one version each: a compaction walks each once and drops none. */
function storeOf(keys: number): MvccStore {
  const st = new MvccStore();
  for (let i = 0; i < keys; i++) st.put(putReq(`key${i}`, `v${i}`));
  return st;
}

/** Compacts at the current revision; resolves to how many steps the work took. */
async function stepsOf(st: MvccStore, pause: () => Promise<void>): Promise<number> {
  let pauses = 0;
  // The first step runs inside the request; one pause comes before each further one.
  st.compactionPause = () => {
    pauses++;
    return pause();
  };
  await st.compactInSteps(st.currentRevision);
  return pauses + 1;
}

Deno.test("batch limit: a compaction of V versions with limit N takes ceil(V/N) steps", async () => {
  for (const [versions, limit] of [[100, 7], [100, 30], [1000, 64], [50, 1000], [257, 2]]) {
    const { sc } = setup(limit, 0);
    const st = storeOf(versions);
    sc.attach(st);
    assert.equal(
      await stepsOf(st, sc.pause),
      Math.ceil(versions / limit),
      `${versions} versions, limit ${limit}`,
    );
  }
});

Deno.test("batch limit: 0 is cairn's default step, a negative limit is one step", async () => {
  assert.equal(compactionStepVersions(0), COMPACTION_STEP_VERSIONS);
  assert.equal(compactionStepVersions(500), 500);
  assert.equal(compactionStepVersions(-1), Number.MAX_SAFE_INTEGER);
  const def = setup(0, 0);
  const big = storeOf(COMPACTION_STEP_VERSIONS + 5);
  def.sc.attach(big);
  assert.equal(await stepsOf(big, def.sc.pause), 2);
  const unlimited = setup(-5, 0);
  const st = storeOf(3000);
  unlimited.sc.attach(st);
  assert.equal(await stepsOf(st, unlimited.sc.pause), 1);
});

Deno.test("sleep interval: the pause between steps is the interval on the member's clock", async () => {
  const { clock, sc } = setup(10, 25);
  const st = storeOf(95);
  sc.attach(st);
  await st.compactInSteps(st.currentRevision);
  // 10 steps: 9 pauses of the compaction, and the hash's own 9.
  assert.deepEqual(clock.delays, new Array(18).fill(25));
  // Negative intervals fire at once, as Go's time.After does.
  const neg = setup(10, -40);
  const st2 = storeOf(15);
  neg.sc.attach(st2);
  await st2.compactInSteps(st2.currentRevision);
  assert.ok(neg.clock.delays.length > 0 && neg.clock.delays.every((d) => d === 0));
});

Deno.test("compaction hashes: each compaction's is recorded, as HashKV before it", async () => {
  const { hashes, sc } = setup(4, 0);
  const st = storeOf(30);
  sc.attach(st);
  const want = [];
  for (const rev of [10, 17, 31]) {
    const before = st.hashKV(rev);
    want.push({ hash: before.hash, compactRevision: st.compactRevision, revision: rev });
    await st.compactInSteps(rev);
    st.put(putReq("key3", `again${rev}`));
  }
  // The hash is done in steps after the compaction's; wait for it, bounded.
  for (let i = 0; i < 100 && hashes.list().length < 3; i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(hashes.list(), want);
});

Deno.test("compaction hashes: a stopping member abandons the hash and records nothing", async () => {
  let stopped = false;
  const { hashes, sc } = setup(4, 0, () => stopped);
  const st = storeOf(40);
  sc.attach(st);
  const done = st.compactInSteps(st.currentRevision);
  stopped = true;
  await assert.rejects(done);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(hashes.list(), []);
});
