import assert from "node:assert/strict";
import { ByteReader, ByteWriter } from "./bytes.ts";

// Around each length boundary of a varint: 1 to 4 bytes are read inline, longer by the shared reader.
const VALUES = [
  0,
  1,
  127,
  128,
  255,
  300,
  16383,
  16384,
  2097151,
  2097152,
  268435455,
  268435456,
  2 ** 32,
  2 ** 35 - 1,
  Number.MAX_SAFE_INTEGER,
];

Deno.test("ByteReader.uvarint reads what ByteWriter.uvarint wrote, wherever it sits in the buffer", () => {
  for (const v of VALUES) {
    // Alone (so near the end: fewer than four bytes may follow), then with
    // 0-5 bytes of padding after it.
    for (let pad = 0; pad <= 5; pad++) {
      const w = new ByteWriter(4);
      w.byte(0xaa);
      w.uvarint(v);
      const end = w.length;
      for (let i = 0; i < pad; i++) w.byte(0xff);
      const r = new ByteReader(w.finish());
      assert.equal(r.byte(), 0xaa);
      assert.equal(r.uvarint(), v, `value ${v}, padding ${pad}`);
      assert.equal(r.pos, end, `position after ${v}`);
    }
  }
});

Deno.test("ByteReader.uvarint: a run of varints of mixed lengths, then the end", () => {
  const w = new ByteWriter();
  for (let i = 0; i < 3; i++) for (const v of VALUES) w.uvarint(v);
  const r = new ByteReader(w.finish());
  for (let i = 0; i < 3; i++) for (const v of VALUES) assert.equal(r.uvarint(), v);
  assert.equal(r.done(), true);
  assert.throws(() => r.uvarint(), /mvcc snapshot: truncated data/);
});

Deno.test("ByteReader.uvarint: truncated and overlong varints are refused with the snapshot's errors", () => {
  // A varint cut off at the end of the data, with each of 1 to 4 bytes present.
  for (let n = 1; n <= 4; n++) {
    const r = new ByteReader(new Uint8Array(n).fill(0x80));
    assert.throws(() => r.uvarint(), /mvcc snapshot: truncated data/, `${n} bytes`);
  }
  // Eleven continuation bytes: not a varint at all.
  const r = new ByteReader(new Uint8Array(12).fill(0x80));
  assert.throws(() => r.uvarint(), /mvcc snapshot: bad varint/);
  // Non-minimal encodings read as their value, as the shared reader reads them.
  assert.equal(new ByteReader(new Uint8Array([0x80, 0x00, 9, 9])).uvarint(), 0);
  assert.equal(new ByteReader(new Uint8Array([0xff, 0x80, 0x00, 9])).uvarint(), 127);
});
