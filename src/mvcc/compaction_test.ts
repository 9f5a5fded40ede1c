/**
 * Compaction in steps (compaction.ts, `KeyIndex.compactSteps`) against the
 * one-pass compaction: at every pause of the stepped work, with writes,
 * more compactions, snapshots and a defragmentation in between, everything
 * a client or another member can observe (ranges at every revision from
 * the compact revision on, watch events with prev_kv, HashKV, the Hash
 * digest, live and leased keys) equals a twin store whose compactions ran
 * in one pass; once done, the stored state (the snapshot bytes) is equal
 * too.
 */
import assert from "node:assert/strict";
import { mulberry32 } from "../raft/sim_checks.ts";
import { MvccStore } from "./store.ts";
import { cmp, delReq, kvView, op, putReq, rangeReq, s, txnReq } from "./test_helpers.ts";

/** Everything observable about a store, as plain data. */
function observe(st: MvccStore) {
  const cur = st.currentRevision;
  const from = Math.max(1, st.compactRevision);
  const ranges: unknown[] = [];
  const hashes: number[] = [];
  // The edges (the compact revision, the newest) and a spread between.
  const revs = new Set([from, from + 1, cur - 1, cur]);
  for (let r = from; r <= cur; r += 1 + Math.floor((cur - from) / 6)) revs.add(r);
  for (const r of [...revs].filter((r) => r >= from && r <= cur).sort((a, b) => a - b)) {
    ranges.push(
      st.range(rangeReq("\0", "\0", { revision: BigInt(r) })).kvs.map(kvView),
      Number(st.range(rangeReq("k", "l", { revision: BigInt(r), countOnly: true })).count),
    );
    if (r > st.compactRevision) hashes.push(st.hashKV(r).hash);
  }
  const events = st.eventsBetween(from, cur).map((e) => ({
    type: e.type,
    kv: kvView(e.kv),
    prev: kvView(e.prevKv),
  }));
  return {
    cur,
    compact: st.compactRevision,
    hash: st.hash(),
    hashKV: st.hashKV(0),
    hashes,
    ranges,
    events,
    live: st.liveKeyCount(),
    leased: st.leasedKeys().map((l) => `${s(l.key)}:${l.lease}`),
  };
}

/** One random write applied the same way to every store given. */
function randomWrite(rnd: () => number, stores: MvccStore[]): void {
  const key = `k${Math.floor(rnd() * 12)}`;
  const x = rnd();
  for (const st of stores) {
    if (x < 0.55) {
      const lease = rnd() < 0.2 ? BigInt(1 + Math.floor(rnd() * 3)) : 0n;
      st.put(putReq(key, `v${st.currentRevision}`, { lease }));
    } else if (x < 0.75) {
      st.deleteRange(delReq(key));
    } else if (x < 0.85) {
      st.deleteRange(delReq("k3", "k6"));
    } else {
      st.txn(txnReq(
        [cmp(key, "version", ">", 1n)],
        [op.put(key, "txn-a"), op.del("k1"), op.put("k1", "again")],
        [op.put(key, "txn-b"), op.put(`${key}x`, "y")],
      ));
    }
  }
}

/** The per-store random choices must be the same: each write draws before it applies. */
function write(rnd: () => number, stores: MvccStore[]): void {
  // Draw once, replay the same numbers for every store.
  const draws = Array.from({ length: 4 }, () => rnd());
  for (const st of stores) {
    let i = 0;
    randomWrite(() => draws[i++], [st]);
  }
}

/** A stepped store and its one-pass twin with the same history. */
function twins(seed: number, writes: number) {
  const rnd = mulberry32(seed);
  const stepped = new MvccStore();
  const onePass = new MvccStore();
  for (let i = 0; i < writes; i++) write(rnd, [stepped, onePass]);
  stepped.compactionStepVersions = 1 + Math.floor(rnd() * 5);
  return { rnd, stepped, onePass };
}

Deno.test("stepped compaction equals one-pass compaction at every pause, with writes between steps", async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const { rnd, stepped, onePass } = twins(seed, 150);
    let pauses = 0;
    stepped.compactionPause = () => {
      pauses++;
      assert.deepEqual(observe(stepped), observe(onePass), `seed ${seed}, pause ${pauses}`);
      // Writes between steps: new versions, deletes, re-creates of compacted keys.
      if (rnd() < 0.5) write(rnd, [stepped, onePass]);
      return Promise.resolve();
    };
    const rev = stepped.currentRevision - Math.floor(rnd() * 30);
    // The twin first: the first pause comes inside compactInSteps.
    onePass.compact(rev);
    const done = stepped.compactInSteps(rev);
    assert.equal(stepped.compactRevision, rev, "the compact revision takes effect at once");
    await done;
    assert.ok(pauses > 0, `seed ${seed}: the work took several steps`);
    assert.equal(stepped.compactionPending, false);
    assert.deepEqual(observe(stepped), observe(onePass), `seed ${seed}, done`);
    assert.deepEqual(stepped.serialize(), onePass.serialize(), `seed ${seed}: same stored state`);
    assert.equal(stepped.versionCount, onePass.versionCount);
  }
});

Deno.test("compactions arriving while one is in progress equal doing them one after another", async () => {
  let queuedTotal = 0;
  for (let seed = 100; seed <= 120; seed++) {
    const { rnd, stepped, onePass } = twins(seed, 200);
    const r1 = 20 + Math.floor(rnd() * 40);
    const queued: number[] = [];
    const results: Promise<void>[] = [];
    stepped.compactionPause = () => {
      assert.deepEqual(observe(stepped), observe(onePass), `seed ${seed}`);
      if (queued.length < 3 && rnd() < 0.4) {
        write(rnd, [stepped, onePass]);
        const next = Math.min(
          stepped.currentRevision,
          stepped.compactRevision + 1 + Math.floor(rnd() * 20),
        );
        queued.push(next);
        onePass.compact(next);
        results.push(stepped.compactInSteps(next));
      }
      return Promise.resolve();
    };
    onePass.compact(r1);
    results.push(stepped.compactInSteps(r1));
    // Compactions queued later are not in the array Promise.all was given.
    await stepped.compactionIdle();
    await Promise.all(results);
    queuedTotal += queued.length;
    assert.deepEqual(observe(stepped), observe(onePass), `seed ${seed}, done`);
    assert.deepEqual(stepped.serialize(), onePass.serialize(), `seed ${seed}`);
  }
  assert.ok(queuedTotal > 10, `${queuedTotal} compactions queued behind others`);
});

Deno.test("a compaction at or below one still being carried out is refused at once", () => {
  const st = new MvccStore();
  for (let i = 0; i < 50; i++) st.put(putReq(`k${i % 5}`, `v${i}`));
  st.compactionStepVersions = 2;
  st.compactionPause = () => new Promise(() => {}); // never resumes by itself
  const p = st.compactInSteps(30);
  p.catch(() => {});
  assert.equal(st.compactionPending, true);
  assert.throws(() => st.compactInSteps(30), /compacted/);
  assert.throws(() => st.compactInSteps(10), /compacted/);
  assert.throws(() => st.compact(52), /future/);
  assert.throws(
    () => st.range(rangeReq("k1", "", { revision: 29n })),
    /compacted/,
    "reads below the new compact revision are refused before the work is done",
  );
  assert.equal(kvView(st.range(rangeReq("k1", "", { revision: 30n })).kvs[0])?.mod, 28);
  // A one-go compaction finishes the outstanding work before its own.
  st.compact(40);
  assert.equal(st.compactionPending, false);
  const twin = new MvccStore();
  for (let i = 0; i < 50; i++) twin.put(putReq(`k${i % 5}`, `v${i}`));
  twin.compact(30);
  twin.compact(40);
  assert.deepEqual(st.serialize(), twin.serialize());
});

Deno.test("the promise of a stepped compaction resolves only when its work is done", async () => {
  const st = new MvccStore();
  for (let i = 0; i < 300; i++) st.put(putReq(`k${i % 7}`, "x".repeat(100)));
  st.compactionStepVersions = 16;
  const before = st.versionCount;
  let resolved = false;
  let pendingSeen = 0;
  st.compactionPause = () => {
    assert.equal(resolved, false);
    if (st.compactionPending) pendingSeen++;
    return Promise.resolve();
  };
  const p = st.compactInSteps(st.currentRevision).then(() => (resolved = true));
  assert.ok(st.versionCount > 7, "one step did not do it all");
  await p;
  assert.ok(pendingSeen > 2);
  assert.equal(st.versionCount, 7);
  assert.ok(before > st.versionCount);
  await st.compactionIdle();
});

Deno.test("a small compaction is done inside the call: no pause, no timer", () => {
  const st = new MvccStore();
  for (let i = 0; i < 100; i++) st.put(putReq(`k${i % 3}`, `v${i}`));
  st.compactionPause = () => {
    throw new Error("no pause expected");
  };
  void st.compactInSteps(st.currentRevision);
  assert.equal(st.compactionPending, false);
  assert.equal(st.versionCount, 3);
});

Deno.test("a snapshot taken mid-compaction restores to the compacted state", async () => {
  for (let seed = 200; seed <= 209; seed++) {
    const { rnd, stepped, onePass } = twins(seed, 150);
    const snaps: { bytes: Uint8Array; twin: Uint8Array }[] = [];
    stepped.compactionPause = () => {
      if (rnd() < 0.5) write(rnd, [stepped, onePass]);
      // Both the one-go and the view encodings of a state mid-way.
      snaps.push({ bytes: stepped.serialize(), twin: onePass.serialize() });
      return Promise.resolve();
    };
    const rev = stepped.currentRevision - Math.floor(rnd() * 20);
    // The twin first: the first pause comes inside compactInSteps.
    onePass.compact(rev);
    const done = stepped.compactInSteps(rev);
    await done;
    assert.ok(snaps.length > 0);
    for (const [i, snap] of snaps.entries()) {
      const a = MvccStore.restore(snap.bytes);
      const b = MvccStore.restore(snap.twin);
      assert.equal(a.compactionPending, false);
      assert.deepEqual(observe(a), observe(b), `seed ${seed}, snapshot ${i}`);
      assert.deepEqual(a.serialize(), b.serialize(), `seed ${seed}, snapshot ${i}`);
      const c = await MvccStore.restoreInSteps(snap.bytes, () => Promise.resolve());
      assert.deepEqual(c.serialize(), b.serialize(), `seed ${seed}, snapshot ${i} in steps`);
    }
  }
});

Deno.test("Defragment during a stepped compaction: finished first, same state, space given back", async () => {
  const { rnd, stepped, onePass } = twins(300, 400);
  stepped.compactionStepVersions = 3;
  let defrag: Promise<void> | undefined;
  let pauses = 0;
  stepped.compactionPause = () => {
    pauses++;
    if (pauses === 2) defrag = stepped.defragment(() => Promise.resolve());
    if (rnd() < 0.5) write(rnd, [stepped, onePass]);
    assert.deepEqual(observe(stepped), observe(onePass));
    return Promise.resolve();
  };
  const rev = stepped.currentRevision - 5;
  onePass.compact(rev);
  const done = stepped.compactInSteps(rev);
  await done;
  assert.ok(defrag !== undefined);
  await defrag;
  assert.equal(stepped.compactionPending, false);
  assert.deepEqual(observe(stepped), observe(onePass));
  assert.deepEqual(stepped.serialize(), onePass.serialize());
  await onePass.defragment(() => Promise.resolve());
  assert.equal(stepped.reservedSize(), onePass.reservedSize());
});

Deno.test("a pause that rejects abandons the work; what readers see is unchanged and a later compaction finishes it", async () => {
  const { stepped, onePass } = twins(400, 200);
  stepped.compactionStepVersions = 4;
  let n = 0;
  stepped.compactionPause = () =>
    ++n === 3 ? Promise.reject(new Error("member stopped")) : Promise.resolve();
  const rev = stepped.currentRevision - 10;
  onePass.compact(rev);
  const done = stepped.compactInSteps(rev);
  await assert.rejects(done, /member stopped/);
  assert.equal(stepped.compactionPending, true);
  assert.deepEqual(observe(stepped), observe(onePass));
  stepped.compactionPause = () => Promise.resolve();
  await stepped.compactionIdle();
  assert.deepEqual(stepped.serialize(), onePass.serialize());
});

Deno.test("a point-in-time view taken mid-compaction holds exactly the compacted versions", async () => {
  // What an etcd-format snapshot (whose meta says the compaction finished)
  // and cairn's own are built from: versions the pending work will drop
  // must not be in it.
  const records = (st: MvccStore) => {
    const view = st.pointInTime();
    return Array.from({ length: view.length }, (_, i) => {
      const r = view.at(i);
      return [s(r.key), s(r.value), r.main, r.sub, r.create, r.ver, r.lease];
    });
  };
  for (let seed = 300; seed <= 309; seed++) {
    const { rnd, stepped, onePass } = twins(seed, 150);
    let pauses = 0;
    stepped.compactionPause = () => {
      pauses++;
      assert.equal(stepped.compactionPending, true);
      assert.deepEqual(records(stepped), records(onePass), `seed ${seed}, pause ${pauses}`);
      if (rnd() < 0.5) write(rnd, [stepped, onePass]);
      return Promise.resolve();
    };
    const rev = stepped.currentRevision - Math.floor(rnd() * 20);
    onePass.compact(rev);
    await stepped.compactInSteps(rev);
    assert.ok(pauses > 0, `seed ${seed}: the work took several steps`);
    assert.deepEqual(records(stepped), records(onePass), `seed ${seed}, done`);
  }
});
