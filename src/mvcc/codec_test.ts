import assert from "node:assert/strict";
import { ByteWriter } from "./bytes.ts";
import { decodeStore, storeSize, storeStream } from "./codec.ts";
import { runSteps } from "./steps.ts";
import { crc32c } from "../wire/crc32c.ts";
import { MvccStore } from "./store.ts";
import { b, delReq, putReq, rangeReq, s } from "./test_helpers.ts";

/** Every key's versions as `key@main=value` (tombstones as `key@main-`), at `rev`. */
function dumpAt(st: MvccStore, rev: number): string[] {
  const res = st.range(rangeReq("\0", "\0", { revision: BigInt(rev) }));
  return res.kvs.map((kv) =>
    `${s(kv.key)}@${kv.modRevision}/${kv.createRevision}/${kv.version}/${kv.lease}=${s(kv.value)}`
  );
}

/** A store with overwrites, deletes, leases, a compaction and values of many lengths. */
function historyStore(): MvccStore {
  const st = new MvccStore();
  for (let r = 0; r < 3; r++) {
    for (let i = 0; i < 200; i++) {
      const req = putReq(`k${i.toString().padStart(4, "0")}`, `${r}:${"v".repeat(i % 70)}`);
      if (i % 9 === 0) req.lease = BigInt(1000 + i);
      st.put(req);
    }
    st.deleteRange(delReq(`k${(r * 13).toString().padStart(4, "0")}`));
  }
  st.compact(250);
  st.put(putReq("", "")); // empty key and value are the extremes of the layout
  return st;
}

Deno.test("a version 3 snapshot restores every revision, lease and the revisions as they were", () => {
  const st = historyStore();
  const bytes = st.serialize();
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 8)), "CAIRNMV3");
  const back = MvccStore.restore(bytes);
  assert.equal(back.currentRevision, st.currentRevision);
  assert.equal(back.compactRevision, st.compactRevision);
  for (let rev = st.compactRevision; rev <= st.currentRevision; rev += 37) {
    assert.deepEqual(dumpAt(back, rev), dumpAt(st, rev), `at revision ${rev}`);
  }
  assert.equal(back.hash(), st.hash());
  assert.deepEqual(back.serialize(), bytes, "encoding the restored store gives the same bytes");
});

Deno.test("a restored store reads keys and values in the snapshot's buffer, and counts no slack for it", () => {
  const st = historyStore();
  const bytes = st.serialize();
  const d = decodeStore(bytes);
  for (const v of d.index.log) assert.equal(v.slab.buf, bytes.buffer, "no copy of the bytes");
  assert.equal(d.index.arena.slabCount, 1);
  const back = MvccStore.restore(bytes);
  assert.equal(back.reservedSize(), back.approximateSize(), "headers are not free space");
});

Deno.test("a restored store goes on: writes, compaction and defragmentation keep its data", async () => {
  const st = historyStore();
  const back = MvccStore.restore(st.serialize());
  for (const x of [st, back]) {
    for (let i = 0; i < 150; i++) {
      x.put(putReq(`k${(i * 3).toString().padStart(4, "0")}`, `new${i}`));
    }
    x.compact(x.currentRevision - 5);
    await x.defragment(() => Promise.resolve());
  }
  assert.deepEqual(dumpAt(back, back.currentRevision), dumpAt(st, st.currentRevision));
  assert.equal(back.hash(), st.hash());
});

Deno.test("an empty store round-trips and holds no buffer", () => {
  const bytes = new MvccStore().serialize();
  const d = decodeStore(bytes);
  assert.equal(d.index.arena.slabCount, 0);
  assert.equal(MvccStore.restore(bytes).currentRevision, 1);
});

Deno.test("a version 3 snapshot whose last value runs past the end is refused", () => {
  const st = new MvccStore();
  st.put(putReq("a", "xyz"));
  const good = st.serialize();
  // Drop the value's last byte and fix the checksum: only the layout is wrong now.
  const body = good.slice(0, good.length - 5);
  const w = new ByteWriter();
  w.bytes(body);
  const sum = crc32c(w.view());
  for (let i = 0; i < 4; i++) w.byte((sum >>> (8 * i)) & 0xff);
  assert.throws(() => decodeStore(w.finish()), /truncated data/);
});

Deno.test("version 2 snapshots (value before the lease) written before still restore", () => {
  // Hand-made CAIRNMV2: a@2 put "x" lease 7, b@3 put "yy", a@4 tombstone; rev 4, compact -1.
  const w = new ByteWriter();
  w.bytes(new TextEncoder().encode("CAIRNMV2"));
  w.uvarint(4);
  w.uvarint(0);
  w.uvarint(3);
  for (
    const [k, main, ver, val, lease] of [["a", 2, 1, "x", 7n], ["b", 3, 1, "yy", 0n], [
      "a",
      4,
      0,
      "",
      0n,
    ]] as const
  ) {
    w.lenBytes(b(k));
    w.uvarint(main);
    w.uvarint(0);
    w.uvarint(ver);
    if (ver === 0) continue;
    w.uvarint(main);
    w.lenBytes(b(val));
    w.i64le(lease);
  }
  const sum = crc32c(w.view());
  for (let i = 0; i < 4; i++) w.byte((sum >>> (8 * i)) & 0xff);
  const st = MvccStore.restore(w.finish());
  assert.equal(st.currentRevision, 4);
  assert.equal(st.range(rangeReq("a")).kvs.length, 0);
  const old = st.range(rangeReq("a", "", { revision: 3n })).kvs[0];
  assert.equal(s(old.value), "x");
  assert.equal(old.lease, 7n);
  assert.equal(s(st.range(rangeReq("b")).kvs[0].value), "yy");
});

Deno.test("the store's own checksum is skipped only when the caller checked the bytes", () => {
  const st = historyStore();
  const bytes = st.serialize();
  const bad = bytes.slice();
  bad[bad.length - 1] ^= 0xff; // the stored checksum only: the layout is intact
  assert.throws(() => decodeStore(bad), /checksum mismatch/);
  const back = MvccStore.restore(bad, undefined, true);
  assert.equal(back.hash(), st.hash());
});

Deno.test("the streamed encoding equals the whole one at any chunk size, large values included", () => {
  const st = historyStore();
  st.put(putReq("big", "B".repeat(5000))); // larger than the small chunks below
  st.put(putReq("mid", "M".repeat(300)));
  const whole = st.serialize();
  for (const chunk of [1, 137, 1000, 4096, 1 << 20]) {
    const parts: Uint8Array[] = [];
    // Each chunk is copied at once: the stream reuses its buffer.
    for (const c of storeStream(st.pointInTime(), chunk)) parts.push(c.slice());
    const joined = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
    let off = 0;
    for (const c of parts) {
      joined.set(c, off);
      off += c.length;
    }
    assert.deepEqual(joined, whole, `chunks of ${chunk}`);
    assert.equal(joined.length, runSteps(storeSize(st.pointInTime())));
    assert.equal(MvccStore.restore(joined).hash(), st.hash());
  }
});
