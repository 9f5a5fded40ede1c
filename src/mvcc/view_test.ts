import assert from "node:assert/strict";
import { ByteWriter } from "./bytes.ts";
import { concatChunks, decodeStore, encodeStore, storeChunks } from "./codec.ts";
import { crc32c } from "../wire/crc32c.ts";
import { MvccStore } from "./store.ts";
import { b, delReq, putReq, rangeReq, s } from "./test_helpers.ts";

/** A store with history: several versions per key, deletes, a lease. */
function busyStore(keys: number, rounds: number): MvccStore {
  const st = new MvccStore();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < keys; i++) {
      st.put(putReq(`k${i.toString().padStart(5, "0")}`, `v${r}-${i}-${"x".repeat(i % 40)}`));
    }
    st.deleteRange(delReq(`k${(r * 7 % keys).toString().padStart(5, "0")}`));
  }
  return st;
}

Deno.test("a point-in-time view does not move with later writes, compactions and defragmentation", async () => {
  const st = busyStore(300, 4);
  const before = st.serialize();
  const hashBefore = st.hash();
  const view = st.pointInTime();
  // The store moves on: writes, a compaction that drops most of the
  // versions the view holds, and a repack that moves the survivors.
  for (let i = 0; i < 500; i++) st.put(putReq(`n${i}`, "new"));
  st.compact(st.currentRevision - 10);
  await st.defragment(() => Promise.resolve());
  assert.notEqual(st.hash(), hashBefore, "the store did change");
  assert.deepEqual(encodeStore(view), before, "the view still encodes the state it was taken at");
  const restored = MvccStore.restore(encodeStore(view));
  assert.equal(restored.hash(), hashBefore);
  assert.equal(view.at(0).main, 2);
  assert.equal(s(view.at(0).key), "k00000");
});

Deno.test("chunked encoding with writes and compactions between chunks equals the state at capture", () => {
  const st = busyStore(500, 3);
  const expected = st.serialize();
  const rev = st.currentRevision;
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (const c of storeChunks(st.pointInTime(), 512)) {
    chunks.push(c);
    // Between chunks the member applies more entries.
    st.put(putReq(`k${(n % 500).toString().padStart(5, "0")}`, `later${n}`));
    if (n % 5 === 4) st.compact(st.currentRevision - 1);
    n++;
  }
  assert.ok(chunks.length > 10, `encoded in ${chunks.length} chunks`);
  assert.deepEqual(concatChunks(chunks), expected);
  const back = MvccStore.restore(concatChunks(chunks));
  assert.equal(back.currentRevision, rev);
  const r = back.range(rangeReq("k00001"));
  assert.equal(s(r.kvs[0].value), `v2-1-${"x".repeat(1)}`);
});

Deno.test("a damaged store snapshot is refused", () => {
  const bytes = busyStore(20, 2).serialize();
  const bad = bytes.slice();
  bad[bad.length - 10] ^= 1;
  assert.throws(() => decodeStore(bad), /checksum mismatch/);
  assert.throws(() => decodeStore(bytes.subarray(0, 6)), /too short/);
});

Deno.test("version 1 snapshots (key table) written before still restore", () => {
  // Hand-made CAIRNMV1: keys "a", "b"; a@2 put, b@3 put, a@4 tombstone; rev 4, compact -1.
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode("CAIRNMV1"));
  w.uvarint(4);
  w.uvarint(0);
  w.uvarint(2);
  w.lenBytes(b("a"));
  w.lenBytes(b("b"));
  w.uvarint(3);
  for (const [k, main, ver, val] of [[0, 2, 1, "x"], [1, 3, 1, "y"], [0, 4, 0, ""]] as const) {
    w.uvarint(k);
    w.uvarint(main);
    w.uvarint(0);
    w.uvarint(ver);
    if (ver === 0) continue;
    w.uvarint(main);
    w.lenBytes(b(val));
    w.i64le(0n);
  }
  const sum = crc32c(w.view());
  for (let i = 0; i < 4; i++) w.byte((sum >>> (8 * i)) & 0xff);
  const st = MvccStore.restore(w.finish());
  assert.equal(st.currentRevision, 4);
  assert.equal(st.range(rangeReq("a")).kvs.length, 0);
  assert.equal(s(st.range(rangeReq("a", "", { revision: 3n })).kvs[0].value), "x");
  assert.equal(s(st.range(rangeReq("b")).kvs[0].value), "y");
});

Deno.test("dbSize stays after compaction and shrinks after defragmentation; data survives the repack", async () => {
  const st = new MvccStore();
  const value = "v".repeat(200);
  for (let r = 0; r < 5; r++) {
    for (let i = 0; i < 2000; i++) st.put(putReq(`key${i}`, `${r}${value}`));
  }
  const full = st.reservedSize();
  const inUseFull = st.approximateSize();
  assert.ok(full >= inUseFull);
  st.compact(st.currentRevision);
  const inUse = st.approximateSize();
  assert.ok(inUse < inUseFull / 3, `in use ${inUse} after compaction, ${inUseFull} before`);
  assert.ok(st.reservedSize() >= inUseFull, "compaction alone keeps the reserved size");
  let pauses = 0;
  await st.defragment(() => {
    pauses++;
    // Writes go on between steps of the repack.
    st.put(putReq("during", `p${pauses}`));
    return Promise.resolve();
  });
  const after = st.reservedSize();
  assert.ok(after < full / 2, `reserved ${after} after defrag, ${full} before`);
  assert.ok(after <= st.approximateSize() + 64 * 1024, "little slack left");
  for (let i = 0; i < 2000; i += 97) {
    assert.equal(s(st.range(rangeReq(`key${i}`)).kvs[0].value), `4${value}`);
  }
  // New writes grow it again from there.
  for (let i = 0; i < 100; i++) st.put(putReq(`more${i}`, value));
  assert.ok(st.reservedSize() > after);
});
