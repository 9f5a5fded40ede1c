import assert from "node:assert/strict";
import { MvccStore } from "../mvcc/store.ts";
import { b, delReq, op, putReq, txnReq } from "../mvcc/test_helpers.ts";
import { WatchHub } from "./hub.ts";
import { eventText, sleep, TestSink } from "./test_sink.ts";

function setup(opts: ConstructorParameters<typeof WatchHub>[0] = {}) {
  const store = new MvccStore();
  const hub = new WatchHub({ retryMs: 5, ...opts });
  hub.attach(store);
  return { store, hub };
}

/** Waits until `cond` holds (bounded), letting catch-up rounds run. */
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await sleep(2);
  }
}

const spec = (key: string, end = "", more = {}) => ({ key: b(key), rangeEnd: b(end), ...more });

Deno.test("hub: live events in order, one response per revision, txn events together", () => {
  const { store, hub } = setup();
  const sink = new TestSink();
  hub.watch(1n, spec("a", "b"), 0, sink);
  store.put(putReq("a1", "x"));
  store.put(putReq("zz", "ignored"));
  store.txn(txnReq([], [op.put("a2", "y"), op.put("a3", "z"), op.put("c", "no")]));
  store.deleteRange(delReq("a", "b"));
  assert.deepEqual(sink.taken.map((r) => [r.revision, r.events.map(eventText)]), [
    [2, ["PUT a1=x@2"]],
    [4, ["PUT a2=y@4", "PUT a3=z@4"]],
    [5, ["DELETE a1@5", "DELETE a2@5", "DELETE a3@5"]],
  ]);
  hub.close();
});

Deno.test("hub: single key, from-key and exact range spans", () => {
  const { store, hub } = setup();
  const single = new TestSink();
  const from = new TestSink();
  const all = new TestSink();
  hub.watch(1n, spec("k"), 0, single);
  hub.watch(2n, spec("k", "\0"), 0, from);
  hub.watch(3n, spec("\0", "\0"), 0, all);
  for (const k of ["a", "k", "k1", "z"]) store.put(putReq(k, "v"));
  assert.deepEqual(single.events(), ["PUT k=v@3"]);
  assert.deepEqual(from.events(), ["PUT k=v@3", "PUT k1=v@4", "PUT z=v@5"]);
  assert.equal(all.events().length, 4);
  hub.close();
});

Deno.test("hub: NOPUT/NODELETE filters; fully filtered revisions send nothing", () => {
  const { store, hub } = setup();
  const noPut = new TestSink();
  const noDel = new TestSink();
  // A canceled watcher on the same key gets nothing.
  hub.cancel(hub.watch(9n, spec("k"), 0, noPut));
  hub.watch(2n, spec("k", "", { noPut: true }), 0, noPut);
  hub.watch(3n, spec("k", "", { noDelete: true }), 0, noDel);
  store.put(putReq("k", "1"));
  store.deleteRange(delReq("k"));
  const onlyDeletes = noPut.taken.filter((r) => r.watcher.id === 2n).map((r) =>
    r.events.map(eventText)
  );
  assert.deepEqual(onlyDeletes, [["DELETE k@3"]]);
  assert.deepEqual(noDel.taken.map((r) => r.events.map(eventText)), [["PUT k=1@2"]]);
  hub.close();
});

Deno.test("hub: start revision in the past catches up, then goes live without loss or duplicate", async () => {
  const { store, hub } = setup({ spanRevs: 7, maxBatchRevs: 3, watchersPerRound: 1 });
  for (let i = 0; i < 40; i++) store.put(putReq(`k${i % 4}`, `${i}`));
  const sink = new TestSink();
  const w = hub.watch(1n, spec("k", "l"), 5, sink);
  const other = new TestSink();
  hub.watch(2n, spec("k2"), 2, other);
  // Writes keep coming while it catches up in small rounds.
  for (let i = 40; i < 80; i++) {
    store.put(putReq(`k${i % 4}`, `${i}`));
    await sleep(0);
  }
  await until(() => w.state === "synced");
  for (let i = 80; i < 90; i++) store.put(putReq(`k${i % 4}`, `${i}`));
  const revs = sink.taken.flatMap((r) => r.events.map((e) => Number(e.kv!.modRevision)));
  const want = Array.from({ length: 92 - 5 }, (_, i) => i + 5);
  assert.deepEqual(revs, want);
  // No response mixes part of a revision with another response.
  for (const r of sink.taken) assert.ok(r.events.length > 0 && r.events.length <= 3);
  await until(() => other.taken.length > 0 && hub.counts.unsynced === 0);
  const otherRevs = other.events().map((t) => Number(t.split("@")[1]));
  const all = Array.from({ length: 90 }, (_, i) => i + 2);
  assert.deepEqual(otherRevs, all.filter((r) => (r - 2) % 4 === 2));
  assert.deepEqual(sink.synced.map((x) => x.id), [1n]);
  hub.close();
});

Deno.test("hub: catch-up response header carries the current revision", async () => {
  const { store, hub } = setup();
  for (let i = 0; i < 5; i++) store.put(putReq("k", `${i}`));
  const sink = new TestSink();
  hub.watch(1n, spec("k"), 2, sink);
  await until(() => sink.taken.length === 1);
  assert.equal(sink.taken[0].revision, 6);
  assert.equal(sink.taken[0].events.length, 5);
  hub.close();
});

Deno.test("hub: future start revision waits for it", () => {
  const { store, hub } = setup();
  const sink = new TestSink();
  hub.watch(1n, spec("k"), 4, sink);
  for (let i = 0; i < 5; i++) store.put(putReq("k", `${i}`));
  assert.deepEqual(sink.events(), ["PUT k=2@4", "PUT k=3@5", "PUT k=4@6"]);
  hub.close();
});

Deno.test("hub: start below the compaction revision cancels with compact_revision", async () => {
  const { store, hub } = setup();
  for (let i = 0; i < 6; i++) store.put(putReq("k", `${i}`));
  store.compact(5);
  const low = new TestSink();
  const atCompact = new TestSink();
  const wl = hub.watch(1n, spec("k"), 3, low);
  hub.watch(2n, spec("k"), 5, atCompact);
  await until(() => low.taken.length === 1 && atCompact.taken.length === 1);
  assert.equal(low.taken[0].compactRevision, 5);
  assert.equal(low.taken[0].revision, 0);
  assert.equal(wl.state, "done");
  assert.deepEqual(atCompact.events(), ["PUT k=3@5", "PUT k=4@6", "PUT k=5@7"]);
  store.put(putReq("k", "late"));
  assert.equal(low.taken.length, 1, "a compacted watcher gets nothing more");
  hub.close();
});

Deno.test("hub: compaction while a watcher is behind cancels it", async () => {
  const { store, hub } = setup();
  const sink = new TestSink(1, hub);
  const w = hub.watch(1n, spec("k"), 0, sink);
  store.put(putReq("k", "1")); // fills the buffer
  store.put(putReq("k", "2")); // refused: back to unsynced at rev 3
  assert.equal(w.state, "unsynced");
  store.put(putReq("k", "3"));
  store.compact(4);
  sink.drain();
  await until(() => w.state === "done");
  assert.equal(sink.taken.at(-1)!.compactRevision, 4);
  hub.close();
});

Deno.test("hub: a slow consumer never blocks writes and still gets every event once", async () => {
  const { store, hub } = setup();
  const slow = new TestSink(4, hub);
  const fast = new TestSink();
  hub.watch(1n, spec("k", "l"), 0, slow);
  hub.watch(2n, spec("k", "l"), 0, fast);
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) store.put(putReq(`k${i % 10}`, `${i}`));
  const writeMs = performance.now() - t0;
  assert.equal(fast.taken.length, 2000);
  assert.ok(writeMs < 2000, `writes took ${writeMs} ms`);
  while (slow.events().length < 2000) {
    slow.drain();
    await sleep(1);
  }
  await sleep(20);
  const revs = slow.events().map((t) => Number(t.split("@")[1]));
  assert.deepEqual(revs, Array.from({ length: 2000 }, (_, i) => i + 2));
  hub.close();
});

Deno.test("hub: 10,000 watchers fan out cheaply", () => {
  const { store, hub } = setup();
  const sink = new TestSink();
  for (let i = 0; i < 9000; i++) hub.watch(BigInt(i), spec(`key/${i}`), 0, sink);
  for (let i = 0; i < 900; i++) hub.watch(BigInt(10000 + i), spec(`pfx${i}/`, `pfx${i}0`), 0, sink);
  for (let i = 0; i < 100; i++) hub.watch(BigInt(20000 + i), spec("hot"), 0, sink);
  assert.equal(hub.counts.synced, 10000);
  const t0 = performance.now();
  for (let i = 0; i < 5000; i++) store.put(putReq(`key/${i}`, "v"));
  for (let i = 0; i < 900; i++) store.put(putReq(`pfx${i}/x`, "v"));
  store.put(putReq("hot", "v"));
  const ms = performance.now() - t0;
  assert.equal(sink.taken.length, 5000 + 900 + 100);
  assert.ok(ms < 3000, `5901 writes with 10k watchers took ${ms} ms`);
  hub.close();
});

Deno.test("hub: a restored store (snapshot install) brings synced watchers up to date", async () => {
  const { store, hub } = setup();
  const sink = new TestSink();
  hub.watch(1n, spec("k"), 0, sink);
  store.put(putReq("k", "1"));
  // Another member's state moved on; this member installs its snapshot.
  const leader = MvccStore.restore(store.serialize());
  leader.put(putReq("k", "2"));
  leader.put(putReq("x", "other"));
  leader.put(putReq("k", "3"));
  const restored = MvccStore.restore(leader.serialize());
  hub.attach(restored);
  store.put(putReq("k", "stale store: ignored"));
  await until(() => hub.counts.unsynced === 0);
  restored.put(putReq("k", "4"));
  assert.deepEqual(sink.events(), ["PUT k=1@2", "PUT k=2@3", "PUT k=3@5", "PUT k=4@6"]);
  hub.close();
});

Deno.test("hub: watchers lagging alike share one history read (same Event objects)", async () => {
  const { store, hub } = setup({ maxBatchRevs: 4 });
  for (let i = 0; i < 10; i++) store.put(putReq(`p${i}`, `${i}`));
  const a = new TestSink();
  const b2 = new TestSink();
  hub.watch(1n, spec("p", "q"), 3, a);
  hub.watch(2n, spec("p", "q"), 3, b2);
  await until(() => hub.counts.unsynced === 0);
  const expect = Array.from({ length: 9 }, (_, i) => `PUT p${i + 1}=${i + 1}@${i + 3}`);
  assert.deepEqual(a.events(), expect);
  assert.deepEqual(b2.events(), expect);
  // Batches of at most 4 revisions, and both watchers got the very same objects.
  assert.deepEqual(a.taken.map((r) => r.events.length), [4, 4, 1]);
  for (let i = 0; i < a.taken.length; i++) {
    a.taken[i].events.forEach((ev, j) => assert.equal(ev, b2.taken[i].events[j]));
  }
  hub.close();
});

Deno.test("hub: events carry prev_kv only while a watcher asked for it", () => {
  const { store, hub } = setup();
  const plain = new TestSink();
  const withPrev = new TestSink();
  hub.watch(1n, spec("k"), 0, plain);
  store.put(putReq("k", "v1"));
  store.put(putReq("k", "v2"));
  // Nobody wants prev_kv: the update is built without it.
  assert.equal(plain.taken[1].events[0].prevKv, undefined);
  const w = hub.watch(2n, spec("k", "", { prevKv: true }), 0, withPrev);
  store.put(putReq("k", "v3"));
  const ev = withPrev.taken[0].events[0];
  assert.equal(new TextDecoder().decode(ev.prevKv!.value), "v2");
  hub.cancel(w);
  hub.cancel(w); // a second cancel must not count it twice
  store.put(putReq("k", "v4"));
  assert.equal(plain.taken.at(-1)!.events[0].prevKv, undefined);
  hub.close();
});

Deno.test("hub: catch-up reads without prev_kv watchers skip it; with one they carry it", async () => {
  const { store, hub } = setup();
  store.put(putReq("k", "v1"));
  store.put(putReq("k", "v2"));
  const plain = new TestSink();
  hub.watch(1n, spec("k"), 2, plain);
  await until(() => plain.events().length === 2);
  assert.ok(plain.taken.flatMap((r) => r.events).every((e) => e.prevKv === undefined));
  const withPrev = new TestSink();
  hub.watch(2n, spec("k", "", { prevKv: true }), 3, withPrev);
  await until(() => withPrev.events().length === 1);
  assert.equal(new TextDecoder().decode(withPrev.taken[0].events[0].prevKv!.value), "v1");
  hub.close();
});

Deno.test("hub: watchers catching up in different rounds share one Event per version", async () => {
  // One watcher per round, so the two reads happen in separate rounds.
  const { store, hub } = setup({ watchersPerRound: 1 });
  for (let i = 0; i < 5; i++) store.put(putReq("k", `v${i}`));
  const a = new TestSink();
  const b2 = new TestSink();
  hub.watch(1n, spec("k"), 2, a);
  hub.watch(2n, spec("k"), 2, b2);
  await until(() => a.events().length === 5 && b2.events().length === 5);
  const evA = a.taken.flatMap((r) => r.events);
  const evB = b2.taken.flatMap((r) => r.events);
  for (let i = 0; i < 5; i++) assert.equal(evA[i], evB[i], `event ${i} is one object`);
  hub.close();
});
