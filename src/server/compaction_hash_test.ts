/**
 * The hash recorded at a compaction (compaction_hash.ts): computed in
 * steps from a view taken as the compaction is applied, it must equal the
 * store's HashKV at the compaction revision just before the compaction,
 * whatever happens to the store while it is computed (more writes, the
 * compaction's own steps, later compactions).
 */
import assert from "node:assert/strict";
import { mulberry32 } from "../raft/sim_checks.ts";
import { MvccStore } from "../mvcc/store.ts";
import { runSteps } from "../mvcc/steps.ts";
import { delReq, putReq } from "../mvcc/test_helpers.ts";
import { COMPACT_HASHES_KEPT, CompactHashes, compactionHashSteps } from "./compaction_hash.ts";

function randomWrite(rnd: () => number, st: MvccStore): void {
  const key = `k${Math.floor(rnd() * 15)}`;
  const x = rnd();
  if (x < 0.65) st.put(putReq(key, `v${st.currentRevision}`, { lease: x < 0.1 ? 7n : 0n }));
  else if (x < 0.85) st.deleteRange(delReq(key));
  else st.deleteRange(delReq("k3", "k7"));
}

Deno.test("compaction hash: equals HashKV at the compaction revision taken just before it", () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = mulberry32(seed);
    const st = new MvccStore();
    st.compactionStepVersions = 3;
    st.compactionPause = () => Promise.resolve();
    const pending: {
      steps: ReturnType<typeof compactionHashSteps>;
      want: unknown;
      got?: unknown;
    }[] = [];
    let checked = 0;
    for (let round = 0; round < 8; round++) {
      const writes = 5 + Math.floor(rnd() * 40);
      for (let i = 0; i < writes; i++) randomWrite(rnd, st);
      const low = Math.max(st.compactRevision + 1, 1);
      const rev = low + Math.floor(rnd() * (st.currentRevision - low + 1));
      const before = st.hashKV(rev);
      const want = { hash: before.hash, compactRevision: st.compactRevision, revision: rev };
      const steps = compactionHashSteps(st.pointInTime(), rev, 1 + Math.floor(rnd() * 5));
      void st.compactInSteps(rev);
      // Half the hashes are finished later, after more writes and compactions.
      if (rnd() < 0.5) {
        assert.deepEqual(runSteps(steps), want, `seed ${seed} rev ${rev}`);
        checked++;
      } else pending.push({ steps, want });
      // Some of each step's work interleaved with writes.
      for (const p of pending) {
        if (p.got !== undefined) continue;
        const r = p.steps.next();
        if (r.done) p.got = r.value;
      }
    }
    for (const p of pending) {
      assert.deepEqual(p.got ?? runSteps(p.steps), p.want, `seed ${seed} (late)`);
      checked++;
    }
    assert.equal(checked, 8);
  }
});

Deno.test("compaction hash: when no key is live at the revision, every retained older version counts", () => {
  const st = new MvccStore();
  st.put(putReq("a", "1"));
  st.put(putReq("b", "1"));
  st.compact(st.currentRevision);
  st.deleteRange(delReq("a", "c"));
  const rev = st.currentRevision;
  const before = st.hashKV(rev);
  const got = runSteps(compactionHashSteps(st.pointInTime(), rev, 1));
  assert.deepEqual(got, { hash: before.hash, compactRevision: 3, revision: rev });
});

Deno.test("compaction hash: yields after about `step` versions per pass", () => {
  const st = new MvccStore();
  for (let i = 0; i < 10; i++) st.put(putReq(`k${i}`, "v"));
  // First compaction: nothing at or below the previous compact revision, one pass.
  let yields = 0;
  const steps = compactionHashSteps(st.pointInTime(), st.currentRevision, 4);
  while (!steps.next().done) yields++;
  assert.equal(yields, 2); // after versions 4 and 8 of 10
});

Deno.test("compact hashes: the newest 10 by revision are kept and found by revision", () => {
  const hs = new CompactHashes();
  for (const rev of [5, 3, 9, 1, 12, 7, 20, 15, 11, 2, 30, 4]) {
    hs.store({ hash: rev * 100, compactRevision: rev - 1, revision: rev });
  }
  const revs = hs.list().map((h) => h.revision);
  assert.equal(revs.length, COMPACT_HASHES_KEPT);
  assert.deepEqual(revs, [3, 4, 5, 7, 9, 11, 12, 15, 20, 30]);
  assert.equal(hs.byRevision(12)?.hash, 1200);
  assert.equal(hs.byRevision(1), undefined);
  assert.equal(hs.byRevision(2), undefined);
});
