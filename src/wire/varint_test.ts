import assert from "node:assert/strict";
import { BIGINTS, NUMBERS, reference } from "./test_values.ts";
import {
  decodedId,
  MAX_VARINT_BYTES,
  uint64VarintBytes,
  varintSize,
  writeUint64Varint,
  writeVarint,
} from "./varint.ts";

Deno.test("writeVarint and varintSize agree with protobuf-es on every length", () => {
  const buf = new Uint8Array(MAX_VARINT_BYTES + 2);
  for (const n of NUMBERS) {
    const end = writeVarint(buf, 1, n);
    const want = reference(BigInt(n));
    assert.deepEqual(buf.subarray(1, end), want, `${n}`);
    assert.equal(varintSize(n), want.length, `size of ${n}`);
  }
});

Deno.test("writeUint64Varint and uint64VarintBytes agree with protobuf-es, negatives as int64", () => {
  const buf = new Uint8Array(MAX_VARINT_BYTES);
  for (const v of BIGINTS) {
    const want = reference(v);
    assert.deepEqual(buf.subarray(0, writeUint64Varint(buf, 0, v)), want, `${v}`);
    assert.deepEqual(uint64VarintBytes(v), want, `${v} (cached)`);
    assert.equal(uint64VarintBytes(v), uint64VarintBytes(v), "the cached copy is shared");
  }
});

Deno.test("decodedId composes both halves and returns cached large ids", () => {
  assert.equal(decodedId(5, 0), 5n);
  assert.equal(decodedId(0xffffffff, 0xffffffff), 2n ** 64n - 1n);
  const id = 0x8e0d1a2b3c4d5e6fn;
  const lo = Number(id & 0xffffffffn);
  const hi = Number(id >> 32n);
  assert.equal(decodedId(lo, hi), id);
  assert.equal(decodedId(lo, hi), id);
});
