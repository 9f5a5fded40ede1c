/**
 * Randomized check of the store against a naive model that keeps a full
 * copy of the key space for every revision. Seeded, so failures replay.
 */
import assert from "node:assert/strict";
import { MvccStore } from "./store.ts";
import { delReq, op, putReq, rangeReq, s, txnReq } from "./test_helpers.ts";

interface Rec {
  value: string;
  create: number;
  mod: number;
  ver: number;
}
type State = Map<string, Rec>;

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const KEYS = ["a", "ab", "b", "ba", "c", "d", "e\u00ff"];

function applyModel(prev: State, rev: number, writes: [string, string | null][]): State {
  const next: State = new Map(prev);
  for (const [k, v] of writes) {
    if (v === null) {
      next.delete(k);
    } else {
      const old = next.get(k);
      next.set(k, {
        value: v,
        create: old ? old.create : rev,
        mod: rev,
        ver: old ? old.ver + 1 : 1,
      });
    }
  }
  return next;
}

function snapshot(st: MvccStore, rev: number): State {
  const out: State = new Map();
  for (const kv of st.range(rangeReq("\0", "\0", { revision: BigInt(rev) })).kvs) {
    out.set(s(kv.key), {
      value: s(kv.value),
      create: Number(kv.createRevision),
      mod: Number(kv.modRevision),
      ver: Number(kv.version),
    });
  }
  return out;
}

Deno.test("random histories match a naive model at every retained revision", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rand = rng(seed * 2654435761);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const st = new MvccStore();
    // Long values in half the seeds fill several arena slabs, so compaction
    // moves surviving bytes between slabs (checked by the reads at the end).
    const pad = seed % 2 === 0 ? "x".repeat(700) : "";
    const states: State[] = [new Map(), new Map()]; // index = revision
    for (let step = 0; step < 120; step++) {
      const cur = states[st.currentRevision];
      const r = rand();
      let writes: [string, string | null][] = [];
      if (r < 0.45) {
        const k = pick(KEYS);
        const v = `v${step}${pad}`;
        st.put(putReq(k, v));
        writes = [[k, v]];
      } else if (r < 0.65) {
        const lo = pick(KEYS);
        const hi = pick([...KEYS, "", "\0"]);
        st.deleteRange(delReq(lo, hi));
        const hit = [...cur.keys()].filter((k) =>
          hi === "" ? k === lo : hi === "\0" ? k >= lo : k >= lo && k < hi
        ).sort();
        writes = hit.map((k) => [k, null]);
      } else if (r < 0.9) {
        // A txn of distinct keys: puts and single deletes.
        const ks = KEYS.filter(() => rand() < 0.4);
        const ops = ks.map((k) => rand() < 0.7 ? op.put(k, `t${step}${pad}`) : op.del(k));
        st.txn(txnReq([], ops));
        writes = ks.map((k, i) =>
          ops[i].request.case === "requestPut" ? [k, `t${step}${pad}`] : [k, null]
        );
        writes = writes.filter(([k, v]) => v !== null || cur.has(k));
      } else if (st.currentRevision > st.compactRevision + 1) {
        const c = st.compactRevision + 1 +
          Math.floor(rand() * (st.currentRevision - st.compactRevision));
        st.compact(Math.max(c, 1));
      }
      if (writes.length > 0) states.push(applyModel(cur, states.length, writes));
      assert.equal(st.currentRevision, states.length - 1, `seed ${seed} step ${step}`);
    }
    const low = Math.max(1, st.compactRevision);
    for (let rev = low; rev <= st.currentRevision; rev++) {
      assert.deepEqual(snapshot(st, rev), states[rev], `seed ${seed} rev ${rev}`);
    }
    const back = MvccStore.restore(st.serialize());
    assert.deepEqual(back.hashKV(0), st.hashKV(0));
    for (let rev = low; rev <= st.currentRevision; rev++) {
      assert.deepEqual(snapshot(back, rev), states[rev]);
    }
  }
});
