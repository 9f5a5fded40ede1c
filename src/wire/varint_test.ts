import assert from "node:assert/strict";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import {
  decodedId,
  MAX_VARINT_BYTES,
  uint64VarintBytes,
  VarintReader,
  varintSize,
  writeUint64Varint,
  writeVarint,
} from "./varint.ts";

/** Numbers around every varint length boundary, up to 2^53 - 1. */
const NUMBERS: number[] = [0, 1, 2, 127, 128, 300, 16383, 16384];
for (let bits = 14; bits <= 53; bits += 7) {
  NUMBERS.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);
}
NUMBERS.push(0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER);

/** uint64 values with both halves exercised, and negative int64s. */
const BIGINTS: bigint[] = [
  0n,
  1n,
  127n,
  128n,
  0xffffffffn,
  0x100000000n,
  2n ** 53n - 1n,
  2n ** 53n,
  0x8e0d1a2b3c4d5e6fn,
  2n ** 63n,
  2n ** 64n - 1n,
  -1n,
  -(2n ** 63n),
];

/** protobuf-es's encoding of `v` as uint64 (int64 for negatives): the reference. */
function reference(v: bigint): Uint8Array {
  const w = new BinaryWriter();
  if (v < 0n) w.int64(v);
  else w.uint64(v);
  return w.finish();
}

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

Deno.test("VarintReader reads back numbers and uint64s, consuming exactly their bytes", () => {
  for (const n of NUMBERS) {
    const bytes = reference(BigInt(n));
    const r = new VarintReader(bytes, 0, bytes.length);
    assert.equal(r.varint(), n);
    assert.equal(r.pos, bytes.length);
  }
  for (const v of BIGINTS) {
    const bytes = reference(v);
    const r = new VarintReader(bytes, 0, bytes.length);
    assert.equal(r.uint64(), BigInt.asUintN(64, v), `${v}`);
    assert.equal(r.pos, bytes.length);
    // protobuf-es reads the same bytes as the same uint64.
    assert.equal(BigInt(new BinaryReader(bytes).uint64()), BigInt.asUintN(64, v));
  }
});

Deno.test("VarintReader: truncated or over-long varints are -1, never a value", () => {
  const long = new Uint8Array(MAX_VARINT_BYTES + 1).fill(0x80);
  long[MAX_VARINT_BYTES] = 0x01;
  for (const bytes of [new Uint8Array(0), Uint8Array.of(0x80), Uint8Array.of(0xff, 0xff), long]) {
    assert.equal(new VarintReader(bytes, 0, bytes.length).varint(), -1, `${bytes}`);
    assert.equal(new VarintReader(bytes, 0, bytes.length).uint64(), -1n, `${bytes}`);
  }
  // The range's end counts, not the buffer's: a varint cut by `end` is truncated.
  const two = Uint8Array.of(0xac, 0x02);
  assert.equal(new VarintReader(two, 0, 1).varint(), -1);
  assert.equal(new VarintReader(two, 0, 2).varint(), 300);
  // Reading from the middle of a buffer.
  const r = new VarintReader(Uint8Array.of(0xff, 0x96, 0x01, 0x05), 1, 4);
  assert.equal(r.varint(), 150);
  assert.equal(r.varint(), 5);
  assert.equal(r.varint(), -1);
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
