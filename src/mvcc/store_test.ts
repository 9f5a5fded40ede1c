import assert from "node:assert/strict";
import { isEtcdError } from "../errors.ts";
import { EtcdErrors } from "../errors.ts";
import { Event_EventType } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { MvccStore } from "./store.ts";
import { b, delReq, keysOf, kvView, op, putReq, rangeReq, s, txnReq } from "./test_helpers.ts";

function throwsEtcd(fn: () => unknown, factory: () => Error): void {
  assert.throws(fn, (err: unknown) => isEtcdError(err, factory as never));
}

function get(st: MvccStore, key: string, rev = 0) {
  return kvView(st.range(rangeReq(key, "", { revision: BigInt(rev) })).kvs[0]);
}

Deno.test("revisions, versions, create and mod revisions", () => {
  const st = new MvccStore();
  assert.equal(st.currentRevision, 1);
  assert.equal(st.compactRevision, -1);
  st.put(putReq("a", "1"));
  st.put(putReq("b", "1"));
  st.put(putReq("a", "2"));
  assert.equal(st.currentRevision, 4);
  assert.deepEqual(get(st, "a"), { key: "a", value: "2", create: 2, mod: 4, ver: 2, lease: 0n });
  assert.deepEqual(get(st, "b"), { key: "b", value: "1", create: 3, mod: 3, ver: 1, lease: 0n });
  // Delete, then re-create: a new generation restarts version and create revision.
  const d = st.deleteRange(delReq("a"));
  assert.equal(d.deleted, 1n);
  assert.equal(st.currentRevision, 5);
  assert.equal(get(st, "a"), undefined);
  st.put(putReq("a", "3"));
  assert.deepEqual(get(st, "a"), { key: "a", value: "3", create: 6, mod: 6, ver: 1, lease: 0n });
});

Deno.test("deleting nothing does not bump the revision", () => {
  const st = new MvccStore();
  st.put(putReq("a", "1"));
  const d = st.deleteRange(delReq("zzz"));
  assert.equal(d.deleted, 0n);
  assert.equal(st.currentRevision, 2);
  const d2 = st.deleteRange(delReq("b", "c"));
  assert.equal(d2.deleted, 0n);
  assert.equal(st.currentRevision, 2);
});

Deno.test("delete range with prev_kv and from-key", () => {
  const st = new MvccStore();
  for (const k of ["a", "b", "c", "d"]) st.put(putReq(k, k + "v"));
  const d = st.deleteRange(delReq("b", "d", { prevKv: true }));
  assert.equal(d.deleted, 2n);
  assert.deepEqual(keysOf(d.prevKvs), ["b", "c"]);
  assert.equal(s(d.prevKvs[0].value), "bv");
  assert.equal(st.currentRevision, 6);
  const d2 = st.deleteRange(delReq("c", "\0"));
  assert.equal(d2.deleted, 1n);
  assert.deepEqual(d2.prevKvs, []);
  assert.deepEqual(keysOf(st.range(rangeReq("\0", "\0")).kvs), ["a"]);
});

Deno.test("history reads at old revisions", () => {
  const st = new MvccStore();
  st.put(putReq("k", "v1")); // 2
  st.put(putReq("k", "v2")); // 3
  st.deleteRange(delReq("k")); // 4
  st.put(putReq("k", "v3")); // 5
  assert.equal(get(st, "k", 1), undefined);
  assert.equal(get(st, "k", 2)?.value, "v1");
  assert.equal(get(st, "k", 3)?.value, "v2");
  assert.equal(get(st, "k", 4), undefined);
  assert.deepEqual(get(st, "k", 5), {
    key: "k",
    value: "v3",
    create: 5,
    mod: 5,
    ver: 1,
    lease: 0n,
  });
  throwsEtcd(() => st.range(rangeReq("k", "", { revision: 6n })), EtcdErrors.futureRev);
});

Deno.test("put options: prev_kv, ignore_value, ignore_lease", () => {
  const st = new MvccStore();
  const r1 = st.put(putReq("k", "v1", { prevKv: true }));
  assert.equal(r1.prevKv, undefined);
  const r2 = st.put(putReq("k", "v2", { prevKv: true, lease: 7n }));
  assert.equal(kvView(r2.prevKv)?.value, "v1");
  st.put(putReq("k", "", { ignoreValue: true }));
  assert.deepEqual(get(st, "k"), { key: "k", value: "v2", create: 2, mod: 4, ver: 3, lease: 0n });
  st.put(putReq("k", "v3", { lease: 9n }));
  st.put(putReq("k", "v4", { ignoreLease: true }));
  assert.deepEqual(get(st, "k"), { key: "k", value: "v4", create: 2, mod: 6, ver: 5, lease: 9n });
  throwsEtcd(() => st.put(putReq("nokey", "", { ignoreValue: true })), EtcdErrors.keyNotFound);
  throwsEtcd(() => st.put(putReq("nokey", "x", { ignoreLease: true })), EtcdErrors.keyNotFound);
  assert.equal(st.currentRevision, 6);
  assert.equal(get(st, "nokey"), undefined);
});

Deno.test("lease hooks: unknown lease rejected, attach and detach in order", () => {
  const calls: string[] = [];
  const st = new MvccStore({
    exists: (id) => id === 1n || id === 2n,
    attach: (id, key) => calls.push(`attach ${id} ${s(key)}`),
    detach: (id, key) => calls.push(`detach ${id} ${s(key)}`),
  });
  throwsEtcd(() => st.put(putReq("k", "v", { lease: 3n })), EtcdErrors.leaseNotFound);
  assert.equal(st.currentRevision, 1);
  st.put(putReq("k", "v", { lease: 1n }));
  st.put(putReq("k", "v", { lease: 2n }));
  st.put(putReq("k", "v"));
  st.put(putReq("j", "v", { lease: 1n }));
  st.deleteRange(delReq("j"));
  assert.deepEqual(calls, [
    "attach 1 k",
    "detach 1 k",
    "attach 2 k",
    "detach 2 k",
    "attach 1 j",
    "detach 1 j",
  ]);
  assert.deepEqual(st.leasedKeys(), []);
});

Deno.test("deleteKeys removes keys in one revision (lease revoke)", () => {
  const st = new MvccStore();
  st.put(putReq("b", "1", { lease: 5n }));
  st.put(putReq("a", "1", { lease: 5n }));
  st.put(putReq("c", "1"));
  let seen: { rev: number; keys: string[] } | undefined;
  st.onEvents = (rev, evs) => (seen = { rev, keys: evs.map((e) => s(e.kv?.key)) });
  assert.deepEqual(st.leasedKeys().map((x) => s(x.key)).sort(), ["a", "b"]);
  assert.equal(st.deleteKeys([b("b"), b("a"), b("missing")]), 2);
  assert.equal(st.currentRevision, 5);
  assert.deepEqual(seen, { rev: 5, keys: ["a", "b"] });
  assert.equal(st.deleteKeys([b("missing")]), 0);
  assert.equal(st.currentRevision, 5);
});

Deno.test("events carry kv and prev kv; delete events carry key and mod revision", () => {
  const st = new MvccStore();
  const got: { rev: number; ev: unknown[] }[] = [];
  st.onEvents = (rev, evs) =>
    got.push({
      rev,
      ev: evs.map((e) => [e.type, kvView(e.kv), kvView(e.prevKv)?.value]),
    });
  st.put(putReq("k", "v1"));
  st.put(putReq("k", "v2"));
  st.deleteRange(delReq("k"));
  st.deleteRange(delReq("k")); // nothing: no event
  assert.deepEqual(got, [
    {
      rev: 2,
      ev: [[
        Event_EventType.PUT,
        { key: "k", value: "v1", create: 2, mod: 2, ver: 1, lease: 0n },
        undefined,
      ]],
    },
    {
      rev: 3,
      ev: [[
        Event_EventType.PUT,
        { key: "k", value: "v2", create: 2, mod: 3, ver: 2, lease: 0n },
        "v1",
      ]],
    },
    {
      rev: 4,
      ev: [[
        Event_EventType.DELETE,
        { key: "k", value: "", create: 0, mod: 4, ver: 0, lease: 0n },
        "v2",
      ]],
    },
  ]);
  // The same history read back for watch catch-up.
  const evs = st.eventsBetween(3, 4, b("k"));
  assert.deepEqual(evs.map((e) => [e.type, Number(e.kv?.modRevision), s(e.prevKv?.value)]), [
    [Event_EventType.PUT, 3, "v1"],
    [Event_EventType.DELETE, 4, "v2"],
  ]);
  assert.equal(st.eventsBetween(2, 10, b("x")).length, 0);
  assert.equal(st.eventsBetween(2, 10, b("a"), b("\0")).length, 3);
});

Deno.test("stored bytes are copies of request bytes", () => {
  const st = new MvccStore();
  const req = putReq("k", "value");
  st.put(req);
  req.value[0] = 0x58;
  req.key[0] = 0x58;
  assert.equal(get(st, "k")?.value, "value");
});

Deno.test("compaction: errors, keeps latest versions, drops tombstoned keys", () => {
  const st = new MvccStore();
  st.put(putReq("a", "1")); // 2
  st.put(putReq("a", "2")); // 3
  st.put(putReq("b", "1")); // 4
  st.deleteRange(delReq("b")); // 5
  st.put(putReq("c", "1")); // 6
  st.put(putReq("a", "3")); // 7
  throwsEtcd(() => st.compact(8), EtcdErrors.futureRev);
  st.compact(5);
  assert.equal(st.compactRevision, 5);
  throwsEtcd(() => st.compact(5), EtcdErrors.compacted);
  throwsEtcd(() => st.compact(4), EtcdErrors.compacted);
  // Reading below the compact revision fails; at it, it works (as in etcd).
  throwsEtcd(() => st.range(rangeReq("a", "", { revision: 4n })), EtcdErrors.compacted);
  assert.equal(get(st, "a", 5)?.value, "2");
  assert.equal(get(st, "b", 5), undefined);
  assert.equal(get(st, "a", 6)?.value, "2");
  assert.equal(get(st, "a")?.value, "3");
  assert.equal(get(st, "c")?.ver, 1);
  // Retained history: a@3 (latest <= 5), c@6, a@7; b's versions and tombstone are gone.
  assert.deepEqual(
    st.eventsBetween(0, 100).map((e) => `${s(e.kv?.key)}@${e.kv?.modRevision}`),
    ["a@3", "c@6", "a@7"],
  );
  // count counts only live keys.
  assert.equal(st.range(rangeReq("a", "z", { revision: 5n })).count, 1n);
  // Version numbering continues after compaction.
  st.put(putReq("a", "4"));
  assert.deepEqual(get(st, "a"), { key: "a", value: "4", create: 2, mod: 8, ver: 4, lease: 0n });
  st.compact(8);
  assert.equal(st.eventsBetween(0, 100).length, 2);
});

Deno.test("a compacted key with only a tombstone disappears; recreated key starts over", () => {
  const st = new MvccStore();
  st.put(putReq("x", "1"));
  st.deleteRange(delReq("x"));
  st.compact(3);
  assert.equal(st.range(rangeReq("\0", "\0")).count, 0n);
  assert.equal(st.eventsBetween(0, 100).length, 0);
  st.put(putReq("x", "2"));
  assert.deepEqual(get(st, "x"), { key: "x", value: "2", create: 4, mod: 4, ver: 1, lease: 0n });
});

Deno.test("serialize/restore round trip preserves history, revisions and leases", () => {
  const st = new MvccStore();
  st.put(putReq("a", "1", { lease: 42n }));
  st.put(putReq("b\u00ff", "x"));
  st.put(putReq("a", "2", { lease: 42n }));
  st.deleteRange(delReq("b\u00ff"));
  st.put(putReq("c", ""));
  st.compact(3);
  st.put(putReq("c", "again"));
  const bytes = st.serialize();
  const attached: string[] = [];
  const st2 = MvccStore.restore(bytes, { attach: (id, k) => attached.push(`${id}:${s(k)}`) });
  assert.deepEqual(attached, ["42:a"]);
  assert.equal(st2.currentRevision, st.currentRevision);
  assert.equal(st2.compactRevision, 3);
  assert.deepEqual(st2.serialize(), bytes);
  assert.equal(st2.hash(), st.hash());
  assert.deepEqual(st2.hashKV(0), st.hashKV(0));
  for (let rev = 3; rev <= st.currentRevision; rev++) {
    const a = st.range(rangeReq("\0", "\0", { revision: BigInt(rev) })).kvs.map(kvView);
    const c = st2.range(rangeReq("\0", "\0", { revision: BigInt(rev) })).kvs.map(kvView);
    assert.deepEqual(c, a);
  }
  // The restored store keeps working: same next revision, same versions.
  st.put(putReq("a", "3"));
  st2.put(putReq("a", "3"));
  assert.deepEqual(get(st2, "a"), get(st, "a"));
  // Corruption is detected.
  const bad = bytes.slice();
  bad[bad.length - 6] ^= 1;
  assert.throws(() => MvccStore.restore(bad), /mvcc snapshot/);
  // A fresh store round-trips too.
  const empty = MvccStore.restore(new MvccStore().serialize());
  assert.equal(empty.currentRevision, 1);
  assert.equal(empty.compactRevision, -1);
});

Deno.test("approximateSize grows with data and shrinks with compaction", () => {
  const st = new MvccStore();
  const s0 = st.approximateSize();
  for (let i = 0; i < 10; i++) st.put(putReq("k", "x".repeat(1000)));
  const s1 = st.approximateSize();
  assert.ok(s1 >= s0 + 10_000);
  st.compact(st.currentRevision);
  assert.ok(st.approximateSize() < s0 + 2_000);
});

Deno.test("each write's events and sub-revisions are its own after larger and rolled-back writes (reused slots)", () => {
  const st = new MvccStore();
  const got: { rev: number; ev: [string, string | undefined][] }[] = [];
  st.onEvents = (rev, evs) =>
    got.push({ rev, ev: evs.map((e) => [s(e.kv?.key), kvView(e.prevKv)?.value]) });
  st.txn(txnReq([], [op.put("a", "1"), op.put("b", "1"), op.put("c", "1")])); // 2
  st.put(putReq("a", "2")); // 3
  // Fails on its third op (ignore_value on a key it deleted): nothing of it stays.
  assert.throws(() =>
    st.txn(txnReq([], [op.put("d", "1"), op.del("b"), op.put("b", "", { ignoreValue: true })]))
  );
  st.deleteRange(delReq("c")); // 4
  st.put(putReq("e", "1")); // 5
  assert.deepEqual(got, [
    { rev: 2, ev: [["a", undefined], ["b", undefined], ["c", undefined]] },
    { rev: 3, ev: [["a", "1"]] },
    { rev: 4, ev: [["c", "1"]] },
    { rev: 5, ev: [["e", undefined]] },
  ]);
  assert.equal(st.currentRevision, 5);
  assert.equal(st.range(rangeReq("d")).count, 0n);
  // The history holds exactly those writes, in revision order.
  const ev = st.eventsBetween(2, 5).map((e) => [s(e.kv?.key), Number(e.kv?.modRevision)]);
  assert.deepEqual(ev, [["a", 2], ["b", 2], ["c", 2], ["a", 3], ["c", 4], ["e", 5]]);
  assert.deepEqual(get(st, "b"), { key: "b", value: "1", create: 2, mod: 2, ver: 1, lease: 0n });
});

Deno.test("a write txn over more keys than the reused slots is followed by writes with only their own events", () => {
  const st = new MvccStore();
  for (let i = 0; i < 1500; i++) st.put(putReq(`k/${String(i).padStart(4, "0")}`, "v"));
  const got: { rev: number; n: number; first: string }[] = [];
  st.onEvents = (rev, evs) => got.push({ rev, n: evs.length, first: s(evs[0].kv?.key) });
  const before = st.currentRevision;
  st.deleteRange(delReq("k/", "k0")); // 1,500 deletions in one revision
  st.put(putReq("after", "1"));
  st.put(putReq("again", "1"));
  assert.deepEqual(got, [
    { rev: before + 1, n: 1500, first: "k/0000" },
    { rev: before + 2, n: 1, first: "after" },
    { rev: before + 3, n: 1, first: "again" },
  ]);
  const ev = st.eventsBetween(before + 2, before + 3).map((e) => Number(e.kv?.modRevision));
  assert.deepEqual(ev, [before + 2, before + 3]);
});
