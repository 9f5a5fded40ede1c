import assert from "node:assert/strict";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import type { TxnResponse } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "./store.ts";
import { cmp, keysOf, kvView, op, putReq, rangeReq, s, txnReq } from "./test_helpers.ts";

function throwsEtcd(fn: () => unknown, factory: () => Error): void {
  assert.throws(fn, (err: unknown) => isEtcdError(err, factory as never));
}

/** k: value "m", version 2, create 2, mod 3, lease 5. */
function fixture(): MvccStore {
  const st = new MvccStore();
  st.put(putReq("k", "a", { lease: 5n })); // 2
  st.put(putReq("k", "m", { lease: 5n })); // 3
  return st;
}

const succeeded = (st: MvccStore, ...c: Parameters<typeof cmp>[]) =>
  st.txn(txnReq(c.map((x) => cmp(...x)), [])).succeeded;

Deno.test("every compare target x result on an existing key", () => {
  const st = fixture();
  const cases: [Parameters<typeof cmp>, boolean][] = [
    [["k", "value", "=", "m"], true],
    [["k", "value", "=", "n"], false],
    [["k", "value", "!=", "n"], true],
    [["k", "value", "!=", "m"], false],
    [["k", "value", ">", "l"], true],
    [["k", "value", ">", "m"], false],
    [["k", "value", "<", "mm"], true],
    [["k", "value", "<", "m"], false],
    [["k", "version", "=", 2n], true],
    [["k", "version", "!=", 2n], false],
    [["k", "version", ">", 1n], true],
    [["k", "version", "<", 2n], false],
    [["k", "createRevision", "=", 2n], true],
    [["k", "createRevision", "!=", 3n], true],
    [["k", "createRevision", ">", 2n], false],
    [["k", "createRevision", "<", 3n], true],
    [["k", "modRevision", "=", 3n], true],
    [["k", "modRevision", "!=", 3n], false],
    [["k", "modRevision", ">", 2n], true],
    [["k", "modRevision", "<", 3n], false],
    [["k", "lease", "=", 5n], true],
    [["k", "lease", "!=", 5n], false],
    [["k", "lease", ">", 4n], true],
    [["k", "lease", "<", 5n], false],
  ];
  for (const [c, want] of cases) assert.equal(succeeded(st, c), want, c.join(" "));
  // All compares must hold.
  assert.equal(succeeded(st, ["k", "version", "=", 2n], ["k", "value", "=", "m"]), true);
  assert.equal(succeeded(st, ["k", "version", "=", 2n], ["k", "value", "=", "x"]), false);
  // A read-only txn does not create a revision.
  assert.equal(st.currentRevision, 3);
});

Deno.test("compares on a missing key see zeros; value compares always fail", () => {
  const st = fixture();
  assert.equal(succeeded(st, ["nope", "version", "=", 0n]), true);
  assert.equal(succeeded(st, ["nope", "createRevision", "=", 0n]), true);
  assert.equal(succeeded(st, ["nope", "modRevision", "<", 1n]), true);
  assert.equal(succeeded(st, ["nope", "lease", "=", 0n]), true);
  assert.equal(succeeded(st, ["nope", "value", "=", ""]), false);
  assert.equal(succeeded(st, ["nope", "value", "!=", "x"]), false);
});

Deno.test("range compares: every key in the range must satisfy", () => {
  const st = new MvccStore();
  st.put(putReq("p/a", "1")); // 2
  st.put(putReq("p/b", "2")); // 3
  st.put(putReq("q", "9")); // 4
  assert.equal(succeeded(st, ["p/", "modRevision", "<", 4n, "p0"]), true);
  assert.equal(succeeded(st, ["p/", "modRevision", "<", 3n, "p0"]), false);
  assert.equal(succeeded(st, ["p/", "value", ">", "0", "p0"]), true);
  assert.equal(succeeded(st, ["p/", "value", "=", "1", "p0"]), false);
  assert.equal(succeeded(st, ["p/", "createRevision", ">", 1n, "\0"]), true);
  // Empty range: value fails, others compare a zero kv.
  assert.equal(succeeded(st, ["x/", "version", "=", 0n, "x0"]), true);
  assert.equal(succeeded(st, ["x/", "value", "=", "", "x0"]), false);
});

Deno.test("success and failure branches with every op kind", () => {
  const st = fixture();
  const t = txnReq(
    [cmp("k", "value", "=", "m")],
    [op.put("a", "1", { prevKv: true }), op.range("k"), op.del("k", "", { prevKv: true })],
    [op.put("fail", "1")],
  );
  const r = st.txn(t);
  assert.equal(r.succeeded, true);
  assert.equal(st.currentRevision, 4);
  assert.equal(r.responses.length, 3);
  const [p, g, d] = r.responses;
  assert.equal(p.response.case, "responsePut");
  assert.equal(p.response.value?.header?.revision, 4n);
  assert.equal(g.response.case === "responseRange" && s(g.response.value.kvs[0].value), "m");
  assert.equal(d.response.case === "responseDeleteRange" && d.response.value.deleted, 1n);
  assert.equal(d.response.case === "responseDeleteRange" && d.response.value.header?.revision, 4n);
  assert.equal(st.range(rangeReq("fail")).count, 0n);
  // Now the compare fails: failure branch runs.
  const r2 = st.txn(t);
  assert.equal(r2.succeeded, false);
  assert.equal(r2.responses[0].response.case, "responsePut");
  assert.equal(st.range(rangeReq("fail")).count, 1n);
  assert.equal(st.currentRevision, 5);
});

Deno.test("a txn is one revision with sub-revisions; reads see earlier writes", () => {
  const st = new MvccStore();
  st.put(putReq("x", "0")); // 2
  const events: [number, string[]][] = [];
  st.onEvents = (rev, evs) => events.push([rev, evs.map((e) => s(e.kv?.key))]);
  const r = st.txn(txnReq([], [
    op.range("x"),
    op.put("x", "1"),
    op.range("x"),
    op.put("y", "1"),
    op.range("\0", "\0", { countOnly: true }),
    op.del("x"),
    op.range("x"),
  ]));
  assert.equal(st.currentRevision, 3);
  assert.deepEqual(events, [[3, ["x", "y", "x"]]]);
  const ranges = r.responses.filter((x) => x.response.case === "responseRange").map((x) =>
    x.response.value as { kvs: unknown[]; count: bigint; header?: { revision: bigint } }
  );
  assert.deepEqual(ranges.map((x) => x.header?.revision), [2n, 3n, 3n, 3n]);
  assert.equal(kvView((ranges[0].kvs as never[])[0])?.value, "0");
  assert.deepEqual(kvView((ranges[1].kvs as never[])[0]), {
    key: "x",
    value: "1",
    create: 2,
    mod: 3,
    ver: 2,
    lease: 0n,
  });
  assert.equal(ranges[2].count, 2n);
  assert.equal(ranges[3].kvs.length, 0);
  // Reading the txn's revision afterwards: only the final state of x is visible.
  assert.equal(st.range(rangeReq("x", "", { revision: 3n })).count, 0n);
  assert.equal(st.range(rangeReq("y")).kvs[0].modRevision, 3n);
});

Deno.test("a txn that deletes nothing and only reads keeps the revision", () => {
  const st = fixture();
  const r = st.txn(txnReq([], [op.del("missing"), op.range("k")]));
  assert.equal(st.currentRevision, 3);
  const d = r.responses[0].response;
  assert.equal(d.case === "responseDeleteRange" && d.value.header?.revision, 3n);
});

Deno.test("nested txns: compares see the pre-txn state; path picks branches", () => {
  const st = new MvccStore();
  st.put(putReq("k", "1")); // 2
  const inner = txnReq(
    // Evaluated before the outer put of k=2, so value is still "1".
    [cmp("k", "value", "=", "1")],
    [op.put("inner-then", "x"), op.range("k")],
    [op.put("inner-else", "x")],
  );
  const inner2 = txnReq([cmp("k", "version", ">", 5n)], [op.put("i2-then")], [
    op.put("i2-else"),
  ]);
  const r = st.txn(txnReq([cmp("k", "version", "=", 1n)], [
    op.put("k", "2"),
    op.txn(inner),
    op.txn(inner2),
  ]));
  assert.equal(r.succeeded, true);
  assert.equal(st.currentRevision, 3);
  const nested = r.responses[1].response.value as TxnResponse;
  assert.equal(nested.succeeded, true);
  assert.equal(nested.header?.revision, 0n); // etcd leaves nested headers empty
  const innerRange = nested.responses[1].response;
  assert.equal(innerRange.case === "responseRange" && s(innerRange.value.kvs[0].value), "2");
  assert.equal((r.responses[2].response.value as TxnResponse).succeeded, false);
  assert.deepEqual(keysOf(st.range(rangeReq("\0", "\0")).kvs), ["i2-else", "inner-then", "k"]);
});

Deno.test("txn preconditions fail before any write (no partial txn)", () => {
  const st = new MvccStore({ exists: (id) => id === 1n });
  st.put(putReq("k", "v"));
  const before = st.serialize();
  const fails: [Parameters<typeof txnReq>[1], () => Error][] = [
    [[op.put("a", "1"), op.put("missing", "", { ignoreValue: true })], EtcdErrors.keyNotFound],
    [[op.put("a", "1"), op.put("missing", "", { ignoreLease: true })], EtcdErrors.keyNotFound],
    [[op.put("a", "1"), op.put("b", "1", { lease: 2n })], EtcdErrors.leaseNotFound],
    [[op.put("a", "1"), op.range("k", "", { revision: 99n })], EtcdErrors.futureRev],
    [[op.put("a"), op.txn(txnReq([], [op.put("b", "", { lease: 9n })]))], EtcdErrors.leaseNotFound],
  ];
  for (const [ops, err] of fails) {
    throwsEtcd(() => st.txn(txnReq([], ops)), err);
    assert.deepEqual(st.serialize(), before);
  }
  // A failing put in the branch not taken does not matter.
  const ok = st.txn(txnReq([cmp("k", "value", "=", "v")], [op.put("a", "1")], [
    op.put("b", "", { lease: 9n }),
  ]));
  assert.equal(ok.succeeded, true);
  // ignore_value in a txn keeps the old value.
  st.txn(txnReq([], [op.put("k", "", { ignoreValue: true, lease: 1n })]));
  assert.equal(s(st.range(rangeReq("k")).kvs[0].value), "v");
  assert.equal(st.range(rangeReq("k")).kvs[0].lease, 1n);
});

Deno.test("txn range on a compacted revision fails up front", () => {
  const st = fixture();
  st.put(putReq("z", "1")); // 4
  st.compact(4);
  throwsEtcd(() => st.txn(txnReq([], [op.range("k", "", { revision: 3n })])), EtcdErrors.compacted);
  assert.equal(st.txn(txnReq([], [op.range("k", "", { revision: 4n })])).responses.length, 1);
});

Deno.test("a failure mid-apply rolls back every write of the txn", () => {
  // ignore_value passes the pre-check (k exists before the txn) but k is
  // deleted earlier in the same txn, so the put fails while applying.
  const st = fixture();
  const events: number[] = [];
  st.onEvents = (rev) => events.push(rev);
  const before = st.serialize();
  throwsEtcd(
    () =>
      st.txn(txnReq([], [op.put("new", "1"), op.del("k"), op.put("k", "", { ignoreValue: true })])),
    EtcdErrors.keyNotFound,
  );
  assert.deepEqual(st.serialize(), before);
  assert.deepEqual(events, []);
  assert.equal(st.range(rangeReq("new")).count, 0n);
  // And the store still works afterwards at the right revision.
  st.put(putReq("new", "2"));
  assert.equal(st.currentRevision, 4);
});

Deno.test("empty request ops produce empty responses", () => {
  const st = fixture();
  const r = st.txn(txnReq([], [op.empty()]));
  assert.equal(r.responses.length, 1);
  assert.equal(r.responses[0].response.case, undefined);
});
