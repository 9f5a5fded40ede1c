import assert from "node:assert/strict";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import { crc32c } from "../wire/crc32c.ts";
import { MvccStore } from "./store.ts";
import { delReq, op, putReq, txnReq } from "./test_helpers.ts";

function throwsEtcd(fn: () => unknown, factory: () => Error): void {
  assert.throws(fn, (err: unknown) => isEtcdError(err, factory as never));
}

Deno.test("crc32c known answer", () => {
  // RFC 3720 test vector: 32 zero bytes.
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
});

/** The history used against a real etcd 3.4.23 to record the golden hashes below. */
function etcdHistory(): MvccStore {
  const st = new MvccStore();
  st.put(putReq("a", "1")); // 2
  st.put(putReq("b", "2", { lease: 0x2040a201eb44b606n })); // 3
  st.put(putReq("a", "3")); // 4
  st.deleteRange(delReq("b")); // 5
  st.txn(txnReq([], [op.put("c", "x"), op.put("d", "y"), op.del("a")])); // 6
  st.put(putReq("e", "")); // 7
  return st;
}

Deno.test("HashKV matches etcd 3.4 byte for byte", () => {
  const one = new MvccStore();
  one.put(putReq("a", "1"));
  // etcdctl endpoint hashkv after `etcdctl put a 1` on a fresh etcd 3.4.23.
  assert.deepEqual(one.hashKV(0), { hash: 2587454935, compactRevision: -1, hashRevision: 2 });

  const st = etcdHistory();
  st.compact(5);
  // etcdctl compact 5; etcdctl endpoint hashkv --rev={0,6,7}.
  assert.deepEqual(st.hashKV(0), { hash: 3302215384, compactRevision: 5, hashRevision: 7 });
  assert.equal(st.hashKV(6).hash, 1505192000);
  assert.equal(st.hashKV(7).hash, 3302215384);
});

Deno.test("HashKV errors follow etcd (compacted includes the compact revision)", () => {
  const st = etcdHistory();
  throwsEtcd(() => st.hashKV(8), EtcdErrors.futureRev);
  st.compact(5);
  throwsEtcd(() => st.hashKV(5), EtcdErrors.compacted);
  throwsEtcd(() => st.hashKV(2), EtcdErrors.compacted);
  assert.equal(st.hashKV(6).hashRevision, 6);
});

Deno.test("HashKV is equal for equal histories and differs otherwise", () => {
  const a = etcdHistory();
  const b = etcdHistory();
  assert.equal(a.hashKV(0).hash, b.hashKV(0).hash);
  assert.equal(a.hash(), b.hash());
  for (let rev = 2; rev <= 7; rev++) assert.equal(a.hashKV(rev).hash, b.hashKV(rev).hash);
  // Same final state, different history: different hash.
  const c = new MvccStore();
  c.put(putReq("x", "1"));
  c.deleteRange(delReq("x"));
  const d = new MvccStore();
  d.put(putReq("y", "1"));
  d.deleteRange(delReq("y"));
  assert.notEqual(c.hashKV(0).hash, d.hashKV(0).hash);
  // Differences in value, lease, or a later write all show.
  const e = etcdHistory();
  e.put(putReq("e", "different"));
  assert.notEqual(e.hashKV(0).hash, a.hashKV(0).hash);
  assert.equal(e.hashKV(7).hash, a.hashKV(7).hash); // the shared prefix still agrees
  assert.notEqual(e.hash(), a.hash());
  const f = new MvccStore();
  f.put(putReq("k", "v", { lease: 1n }));
  const g = new MvccStore();
  g.put(putReq("k", "v", { lease: 2n }));
  assert.notEqual(f.hashKV(0).hash, g.hashKV(0).hash);
  // Compaction changes the hash of the current revision only through what it drops.
  const h = etcdHistory();
  h.compact(5);
  const i = etcdHistory();
  i.compact(5);
  assert.equal(h.hashKV(0).hash, i.hashKV(0).hash);
  assert.notEqual(h.hashKV(0).hash, a.hashKV(0).hash);
});
