import assert from "node:assert/strict";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import {
  RangeRequest_SortOrder as Order,
  RangeRequest_SortTarget as Target,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "./store.ts";
import { delReq, keysOf, putReq, rangeReq, s } from "./test_helpers.ts";

/**
 * a..e written so that every sort target gives a distinct order:
 *   key  value  create  mod  version
 *   a    "e"    2       9    2
 *   b    "d"    3       3    1
 *   c    "c"    4       8    3
 *   d    "b"    5       5    1
 *   e    "a"    6       6    1
 * and a deleted key "bb" (tombstone at 10) that must never show up.
 */
function fixture(): MvccStore {
  const st = new MvccStore();
  st.put(putReq("a", "e")); // 2
  st.put(putReq("b", "d")); // 3
  st.put(putReq("c", "c")); // 4
  st.put(putReq("d", "b")); // 5
  st.put(putReq("e", "a")); // 6
  st.put(putReq("c", "c")); // 7
  st.put(putReq("c", "c")); // 8
  st.put(putReq("a", "e")); // 9
  st.put(putReq("bb", "x")); // 10
  st.deleteRange(delReq("bb")); // 11
  return st;
}

Deno.test("range end forms: single key, [key, end), from-key, empty and inverted", () => {
  const st = fixture();
  assert.deepEqual(keysOf(st.range(rangeReq("c")).kvs), ["c"]);
  assert.deepEqual(keysOf(st.range(rangeReq("bb")).kvs), []);
  assert.deepEqual(keysOf(st.range(rangeReq("b", "d")).kvs), ["b", "c"]);
  assert.deepEqual(keysOf(st.range(rangeReq("c", "\0")).kvs), ["c", "d", "e"]);
  assert.deepEqual(keysOf(st.range(rangeReq("\0", "\0")).kvs), ["a", "b", "c", "d", "e"]);
  assert.deepEqual(keysOf(st.range(rangeReq("d", "b")).kvs), []);
  assert.deepEqual(keysOf(st.range(rangeReq("c", "c")).kvs), []);
  assert.equal(st.range(rangeReq("x", "z")).count, 0n);
});

Deno.test("binary keys sort in byte order", () => {
  const st = new MvccStore();
  const keys = [[0x00], [0x01, 0xff], [0x7f], [0x80], [0xc3, 0xa9], [0xff, 0x00], [0xff]];
  for (const k of [...keys].reverse()) st.put(putReq("", "", { key: new Uint8Array(k) }));
  const got = st.range(rangeReq("\0", "\0")).kvs.map((kv) => [...kv.key]);
  assert.deepEqual(got, [[0x00], [0x01, 0xff], [0x7f], [0x80], [0xc3, 0xa9], [0xff], [0xff, 0x00]]);
  const sub = st.range(
    rangeReq("", "", { key: new Uint8Array([0x7f]), rangeEnd: new Uint8Array([0xff]) }),
  );
  assert.deepEqual(sub.kvs.map((kv) => [...kv.key]), [[0x7f], [0x80], [0xc3, 0xa9]]);
});

Deno.test("limit, more and count", () => {
  const st = fixture();
  const r = st.range(rangeReq("a", "\0", { limit: 2n }));
  assert.deepEqual(keysOf(r.kvs), ["a", "b"]);
  assert.equal(r.more, true);
  assert.equal(r.count, 5n);
  const all = st.range(rangeReq("a", "\0", { limit: 5n }));
  assert.equal(all.more, false);
  assert.equal(all.kvs.length, 5);
  const big = st.range(rangeReq("a", "\0", { limit: 100n }));
  assert.equal(big.more, false);
  const neg = st.range(rangeReq("a", "\0", { limit: -1n }));
  assert.equal(neg.kvs.length, 5);
  assert.equal(neg.more, false);
});

Deno.test("count_only and keys_only", () => {
  const st = fixture();
  const c = st.range(rangeReq("a", "\0", { countOnly: true, limit: 1n }));
  assert.deepEqual(c.kvs, []);
  assert.equal(c.count, 5n);
  assert.equal(c.more, false); // etcd: no kvs fetched, so never "more"
  const k = st.range(rangeReq("a", "c", { keysOnly: true }));
  assert.deepEqual(keysOf(k.kvs), ["a", "b"]);
  assert.deepEqual(k.kvs.map((kv) => kv.value.length), [0, 0]);
  assert.equal(k.kvs[0].version, 2n);
  const single = st.range(rangeReq("a", "", { countOnly: true }));
  assert.equal(single.count, 1n);
  assert.deepEqual(single.kvs, []);
});

Deno.test("sort: every target and order, etcd defaulting", () => {
  const st = fixture();
  const sorted = (target: Target, order: Order) =>
    keysOf(st.range(rangeReq("a", "\0", { sortTarget: target, sortOrder: order })).kvs).join("");
  assert.equal(sorted(Target.KEY, Order.NONE), "abcde");
  assert.equal(sorted(Target.KEY, Order.ASCEND), "abcde");
  assert.equal(sorted(Target.KEY, Order.DESCEND), "edcba");
  assert.equal(sorted(Target.VALUE, Order.ASCEND), "edcba");
  assert.equal(sorted(Target.VALUE, Order.DESCEND), "abcde");
  assert.equal(sorted(Target.CREATE, Order.DESCEND), "edcba");
  assert.equal(sorted(Target.MOD, Order.ASCEND), "bdeca");
  assert.equal(sorted(Target.MOD, Order.DESCEND), "acedb");
  assert.equal(sorted(Target.VERSION, Order.DESCEND), "cabde");
  assert.equal(sorted(Target.VERSION, Order.ASCEND), "bdeac");
  // A non-KEY target with order NONE sorts ascending (etcd's default).
  assert.equal(sorted(Target.MOD, Order.NONE), "bdeca");
  assert.equal(sorted(Target.VALUE, Order.NONE), "edcba");
});

Deno.test("sort with limit takes the top of the sorted list; count stays total", () => {
  const st = fixture();
  const r = st.range(
    rangeReq("a", "\0", { sortTarget: Target.MOD, sortOrder: Order.DESCEND, limit: 2n }),
  );
  assert.deepEqual(keysOf(r.kvs), ["a", "c"]);
  assert.equal(r.more, true);
  assert.equal(r.count, 5n);
});

Deno.test("min/max mod and create revision filters; count ignores filters", () => {
  const st = fixture();
  const q = (init: Parameters<typeof rangeReq>[2]) => st.range(rangeReq("a", "\0", init));
  assert.deepEqual(keysOf(q({ minModRevision: 6n }).kvs), ["a", "c", "e"]);
  assert.deepEqual(keysOf(q({ maxModRevision: 5n }).kvs), ["b", "d"]);
  assert.deepEqual(keysOf(q({ minCreateRevision: 4n }).kvs), ["c", "d", "e"]);
  assert.deepEqual(keysOf(q({ maxCreateRevision: 3n }).kvs), ["a", "b"]);
  assert.deepEqual(keysOf(q({ minModRevision: 5n, maxModRevision: 8n }).kvs), ["c", "d", "e"]);
  const r = q({ minCreateRevision: 3n, maxCreateRevision: 5n });
  assert.deepEqual(keysOf(r.kvs), ["b", "c", "d"]);
  assert.equal(r.count, 5n); // etcd counts before filtering
  // Filter + limit: limit applies after filtering; more reflects the filtered list.
  const lim = q({ minModRevision: 5n, limit: 2n });
  assert.deepEqual(keysOf(lim.kvs), ["a", "c"]);
  assert.equal(lim.more, true);
  assert.equal(lim.count, 5n);
  const lim3 = q({ minModRevision: 6n, limit: 3n });
  assert.equal(lim3.more, false);
  // Filter + count_only: nothing fetched, count unfiltered.
  const co = q({ minModRevision: 9n, countOnly: true });
  assert.equal(co.count, 5n);
  assert.deepEqual(co.kvs, []);
  // Filter + sort + limit + keys_only together.
  const all = q({
    minModRevision: 4n,
    sortTarget: Target.VERSION,
    sortOrder: Order.DESCEND,
    limit: 2n,
    keysOnly: true,
  });
  assert.deepEqual(keysOf(all.kvs), ["c", "a"]);
  assert.equal(s(all.kvs[0].value), "");
  assert.equal(all.more, true);
});

Deno.test("range at an old revision with options", () => {
  const st = fixture();
  const r = st.range(rangeReq("a", "\0", { revision: 5n, sortTarget: Target.VALUE }));
  assert.deepEqual(keysOf(r.kvs), ["d", "c", "b", "a"]);
  assert.equal(r.count, 4n);
  const withBb = st.range(rangeReq("b", "c", { revision: 10n }));
  assert.deepEqual(keysOf(withBb.kvs), ["b", "bb"]);
  const old = st.range(rangeReq("a", "", { revision: 2n }));
  assert.equal(old.kvs[0].version, 1n);
  assert.equal(old.kvs[0].modRevision, 2n);
});

Deno.test("range revision errors", () => {
  const st = fixture();
  const is = (f: () => unknown, e: () => Error) =>
    assert.throws(f, (err: unknown) => isEtcdError(err, e as never));
  is(() => st.range(rangeReq("a", "", { revision: 12n })), EtcdErrors.futureRev);
  st.compact(6);
  is(() => st.range(rangeReq("a", "", { revision: 5n })), EtcdErrors.compacted);
  is(() => st.range(rangeReq("a", "\0", { revision: 1n })), EtcdErrors.compacted);
  assert.equal(st.range(rangeReq("a", "\0", { revision: 6n })).count, 5n);
  // Negative revision reads the current revision, like 0.
  assert.equal(st.range(rangeReq("a", "", { revision: -3n })).kvs[0].modRevision, 9n);
});
