import assert from "node:assert/strict";
import { type History, KeyIndex, newest, oldest, type Version } from "./history.ts";
import { toBinary } from "./keys.ts";

const enc = new TextEncoder();

/** Deterministic pseudo-random numbers (a test must fail the same way twice). */
function rng(seed: number): (m: number) => number {
  let x = seed >>> 0;
  return (m) => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x % m;
  };
}

/** What an index holds, view by view: map entries, tree entries in order, log. */
function dump(idx: KeyIndex): { map: string[]; tree: string[]; log: string[] } {
  const hist = (h: History) =>
    (Array.isArray(h) ? h : [h]).map((v: Version) => `${v.main}.${v.sub}/${v.ver}`).join(",");
  const map = [...idx.map].map(([k, h]) => `${k}=${hist(h)}`).sort();
  const tree: string[] = [];
  idx.tree.forEachPair((k, h) => {
    tree.push(`${k}=${hist(h)}`);
  });
  const log = idx.log.map((v) => `${v.bkey}@${v.main}.${v.sub}`);
  return { map, tree, log };
}

/** Writes `n` versions over `keys` keys in a scrambled order, some of them tombstones. */
function fill(idx: KeyIndex, n: number, keys: number, seed: number): void {
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const k = `k${r(keys).toString().padStart(5, "0")}`;
    const h = idx.entry(k);
    const last = h === undefined ? undefined : newest(h);
    const del = last !== undefined && last.ver !== 0 && r(5) === 0;
    const ver = del ? 0 : last === undefined || last.ver === 0 ? 1 : last.ver + 1;
    const create = del ? 0 : ver === 1 ? i + 2 : last!.create;
    const value = del ? new Uint8Array(0) : enc.encode(`v${i}`);
    idx.add(k, enc.encode(k), value, i + 2, 0, create, ver, 0n);
  }
}

Deno.test("bulk build (unsorted keys) gives the same map, tree and log as inserts one by one", () => {
  for (const [n, keys] of [[0, 1], [1, 1], [40, 10], [5000, 3000], [20000, 200]]) {
    const one = new KeyIndex();
    fill(one, n, keys, n + keys);
    const bulk = new KeyIndex();
    bulk.beginBulk();
    fill(bulk, n, keys, n + keys);
    // During the bulk load the tree is not built yet.
    assert.equal(bulk.tree.size, 0);
    bulk.endBulk();
    assert.deepEqual(dump(bulk), dump(one), `n=${n} keys=${keys}`);
    assert.equal(bulk.tree.size, one.map.size);
    // The tree built in bulk takes later inserts and deletes like any other.
    bulk.add("k00000x", enc.encode("k00000x"), enc.encode("new"), n + 2, 0, n + 2, 1, 0n);
    one.add("k00000x", enc.encode("k00000x"), enc.encode("new"), n + 2, 0, n + 2, 1, 0n);
    bulk.compact(n + 2);
    one.compact(n + 2);
    assert.deepEqual(dump(bulk), dump(one), `after writes, n=${n} keys=${keys}`);
    bulk.tree.checkValid();
  }
});

Deno.test("bulk build of keys already in order, with and without keys of several versions", () => {
  for (const overwrite of [false, true]) {
    const idx = new KeyIndex();
    idx.beginBulk();
    let rev = 2;
    for (let i = 0; i < 1000; i++) {
      const k = `s/${i.toString().padStart(8, "0")}`;
      idx.add(k, enc.encode(k), enc.encode("v"), rev, 0, rev, 1, 0n);
      rev++;
    }
    if (overwrite) {
      // Later versions of earlier keys: first appearances stay in key order.
      for (const i of [0, 500, 999]) {
        const k = `s/${i.toString().padStart(8, "0")}`;
        idx.add(k, enc.encode(k), enc.encode("w"), rev, 0, i + 2, 2, 0n);
        rev++;
      }
    }
    idx.endBulk();
    idx.tree.checkValid();
    assert.deepEqual(idx.tree.keysArray(), [...idx.map.keys()]);
    for (const [k, h] of idx.map) assert.equal(idx.tree.get(k), h, k);
    assert.equal(Array.isArray(idx.tree.get("s/00000500")), overwrite);
  }
});

Deno.test("a key with one version holds it inline; a second makes an array; compaction and rollback make it one again", () => {
  const idx = new KeyIndex();
  const k = enc.encode("a");
  const v1 = idx.add("a", k, enc.encode("1"), 2, 0, 2, 1, 0n);
  // One version: the entry is the version itself, in both views.
  assert.equal(idx.entry("a"), v1);
  assert.equal(idx.tree.get("a"), v1);
  assert.deepEqual(idx.history("a"), [v1]);
  const v2 = idx.add("a", k, enc.encode("2"), 3, 0, 2, 2, 0n);
  const two = idx.entry("a");
  assert.ok(Array.isArray(two));
  assert.deepEqual(two, [v1, v2]);
  assert.equal(idx.tree.get("a"), two);
  assert.equal(oldest(two), v1);
  assert.equal(newest(two), v2);
  // Versions of one key share one key string.
  assert.equal(v2.bkey, v1.bkey);
  // Rolling back the second write: the key is back to one inline version.
  idx.unappend(v2);
  assert.equal(idx.entry("a"), v1);
  assert.equal(idx.tree.get("a"), v1);
  // Three versions, compacted down to the newest: inline again.
  idx.add("a", k, enc.encode("2"), 3, 0, 2, 2, 0n);
  const v3 = idx.add("a", k, enc.encode("3"), 4, 0, 2, 3, 0n);
  assert.equal((idx.entry("a") as Version[]).length, 3);
  idx.compact(4);
  assert.equal(idx.entry("a"), v3);
  assert.equal(idx.tree.get("a"), v3);
  assert.equal(idx.log.length, 1);
  // A tombstone over one inline version, compacted: the key leaves both views.
  const t = idx.add("a", k, new Uint8Array(0), 5, 0, 0, 0, 0n);
  assert.deepEqual(idx.entry("a"), [v3, t]);
  idx.compact(5);
  assert.equal(idx.entry("a"), undefined);
  assert.equal(idx.tree.get("a"), undefined);
  assert.equal(idx.log.length, 0);
  // An inline version that is the only one, rolled back: the key is gone.
  const w = idx.add("b", enc.encode("b"), enc.encode("x"), 6, 0, 6, 1, 0n);
  idx.unappend(w);
  assert.equal(idx.entry("b"), undefined);
  assert.equal(idx.tree.size, 0);
  assert.equal(idx.map.size, 0);
});

Deno.test("compaction in small steps leaves every key in its canonical form (inline iff one version)", () => {
  const idx = new KeyIndex();
  fill(idx, 6000, 700, 7);
  const rev = 4000;
  idx.scheduleCompaction(rev);
  for (const _ of idx.compactSteps(rev, 3)) {
    // steps
  }
  for (const [k, h] of idx.map) {
    if (Array.isArray(h)) assert.ok(h.length >= 2, `${k} holds an array of ${h.length}`);
    assert.equal(idx.tree.get(k), h);
  }
  assert.equal(idx.tree.size, idx.map.size);
  assert.deepEqual(idx.history(toBinary(enc.encode("zz"))), undefined);
});

Deno.test("both kinds of version read back every field they were made with", () => {
  const idx = new KeyIndex();
  const k = enc.encode("k");
  const cases: [number, number, number, bigint][] = [
    // [main, create, ver, lease]: a first write, a tombstone (the small kind)...
    [2, 2, 1, 0n],
    [3, 0, 0, 0n],
    // ...a later version, a leased first write, a first write created elsewhere (the full kind).
    [4, 2, 3, 0n],
    [5, 5, 1, 7n],
    [6, 4, 1, 0n],
    [7, 7, 1, -(2n ** 63n)],
  ];
  const kinds = new Set<unknown>();
  for (const [main, create, ver, lease] of cases) {
    const value = ver === 0 ? new Uint8Array(0) : enc.encode(`v${main}`);
    const v = idx.add("k", k, value, main, 1, create, ver, lease);
    assert.deepEqual(
      [v.main, v.sub, v.create, v.ver, v.lease, new TextDecoder().decode(v.value)],
      [main, 1, create, ver, lease, ver === 0 ? "" : `v${main}`],
    );
    kinds.add(Object.getPrototypeOf(v));
  }
  assert.equal(kinds.size, 2);
});

Deno.test("a bulk load with nothing obsolete at the compaction point takes it as done; otherwise the walk runs", () => {
  const load = (tombstoneAt: number | undefined, overwriteAt: number | undefined) => {
    const idx = new KeyIndex();
    idx.beginBulk();
    for (let rev = 2; rev < 12; rev++) {
      const k = `k${rev}`;
      idx.add(k, enc.encode(k), enc.encode("v"), rev, 0, rev, 1, 0n);
      if (rev === tombstoneAt) idx.add("t", enc.encode("t"), new Uint8Array(0), rev, 1, 0, 0, 0n);
      if (rev === overwriteAt) idx.add("k2", enc.encode("k2"), enc.encode("w"), rev, 1, 2, 2, 0n);
    }
    idx.endBulk();
    return idx;
  };
  // Nothing obsolete anywhere: adopted at any revision, nothing pending.
  const clean = load(undefined, undefined);
  assert.equal(clean.adoptCompaction(11), true);
  assert.equal(clean.compactionPending, false);
  assert.equal(clean.compactRev, 11);
  // A tombstone at 6: clean below 6, not at 6.
  assert.equal(load(6, undefined).adoptCompaction(5), true);
  const tomb = load(6, undefined);
  assert.equal(tomb.adoptCompaction(6), false);
  tomb.scheduleCompaction(6);
  assert.equal(tomb.compactionPending, true);
  tomb.compact(6);
  assert.equal(tomb.entry("t"), undefined);
  // k2 overwritten at 8: its first version is obsolete from 8 on.
  assert.equal(load(undefined, 8).adoptCompaction(7), true);
  assert.equal(load(undefined, 8).adoptCompaction(8), false);
  // A write after the load: never adopted (it could make loaded versions obsolete).
  const written = load(undefined, undefined);
  written.add("k2", enc.encode("k2"), enc.encode("x"), 12, 0, 2, 2, 0n);
  assert.equal(written.adoptCompaction(12), false);
  // An index that was never bulk-loaded: never adopted.
  assert.equal(new KeyIndex().adoptCompaction(1), false);
});

Deno.test("a bulk load ended in small steps gives the same index", () => {
  for (const [n, keys, step] of [[3000, 2000, 7], [5000, 5000, 64], [10, 10, 3], [1, 1, 2]]) {
    const one = new KeyIndex();
    fill(one, n, keys, n * 3 + step);
    const bulk = new KeyIndex();
    bulk.beginBulk();
    fill(bulk, n, keys, n * 3 + step);
    let steps = 0;
    for (const _ of bulk.endBulkSteps(step)) steps++;
    assert.ok(n < 3 * step || steps >= Math.floor(bulk.map.size / step), `${steps} steps`);
    assert.deepEqual(dump(bulk), dump(one), `n=${n} keys=${keys} step=${step}`);
    assert.deepEqual(bulk.tree.keysArray(), [...bulk.map.keys()].sort());
    bulk.tree.checkValid();
  }
});

Deno.test("a bulk load of keys nearly in order (as concurrent loaders write them) ends sorted", () => {
  for (const [n, block, step] of [[2000, 10, 50], [3000, 200, 64], [500, 500, 100]]) {
    const idx = new KeyIndex();
    idx.beginBulk();
    const r = rng(n + block);
    for (let b = 0; b < n; b += block) {
      // Each block of keys written in a scrambled order, blocks in order.
      const ids = Array.from({ length: Math.min(block, n - b) }, (_, i) => b + i);
      for (let i = ids.length - 1; i > 0; i--) {
        const j = r(i + 1);
        [ids[i], ids[j]] = [ids[j], ids[i]];
      }
      for (const id of ids) {
        const k = `s/${id.toString().padStart(8, "0")}`;
        const rev = idx.log.length + 2;
        idx.add(k, enc.encode(k), enc.encode("v"), rev, 0, rev, 1, 0n);
      }
    }
    for (const _ of idx.endBulkSteps(step)) {
      // steps
    }
    const want = Array.from({ length: n }, (_, i) => `s/${i.toString().padStart(8, "0")}`);
    assert.deepEqual(idx.tree.keysArray(), want, `n=${n} block=${block} step=${step}`);
    for (const k of want) assert.equal(idx.tree.get(k), idx.map.get(k));
    idx.tree.checkValid();
  }
});
