import assert from "node:assert/strict";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { ProtoReader, WireError } from "./proto_reader.ts";
import { BIGINTS, NUMBERS, reference } from "./test_values.ts";

const reader = (b: Uint8Array, start = 0, end = b.length) => new ProtoReader(b, start, end);

Deno.test("ProtoReader reads back numbers and uint64s, consuming exactly their bytes", () => {
  for (const n of NUMBERS) {
    const bytes = reference(BigInt(n));
    const r = reader(bytes);
    assert.equal(r.num(), n);
    assert.equal(r.pos, bytes.length);
  }
  for (const v of BIGINTS) {
    const bytes = reference(v);
    const r = reader(bytes);
    assert.equal(r.uint64(), BigInt.asUintN(64, v), `${v}`);
    assert.equal(r.pos, bytes.length);
    // protobuf-es reads the same bytes as the same uint64.
    assert.equal(BigInt(new BinaryReader(bytes).uint64()), BigInt.asUintN(64, v));
  }
});

Deno.test("ProtoReader: truncated or over-long varints throw WireError, never give a value", () => {
  const long = new Uint8Array(11).fill(0x80);
  long[10] = 0x01;
  for (const bytes of [new Uint8Array(0), Uint8Array.of(0x80), Uint8Array.of(0xff, 0xff), long]) {
    assert.throws(() => reader(bytes).num(), WireError, `${bytes}`);
    assert.throws(() => reader(bytes).uint64(), WireError, `${bytes}`);
  }
  // The range's end counts, not the buffer's: a varint cut by `end` is truncated.
  const two = Uint8Array.of(0xac, 0x02);
  assert.throws(() => reader(two, 0, 1).num(), WireError);
  assert.throws(() => reader(two, 0, 1).uint64(), WireError);
  assert.equal(reader(two, 0, 2).num(), 300);
  // One field after another from the middle of a buffer.
  const r = reader(Uint8Array.of(0xff, 0x96, 0x01, 0x05), 1, 4);
  assert.equal(r.num(), 150);
  assert.equal(r.num(), 5);
  assert.throws(() => r.num(), /truncated varint at 4/);
});

Deno.test("ProtoReader: bytes are views, skip passes every wire type, overruns throw", () => {
  const w = new BinaryWriter();
  w.tag(1, 2).bytes(Uint8Array.of(1, 2, 3));
  w.tag(2, 0).uint64(1n << 40n);
  w.tag(3, 1).fixed64(7n);
  w.tag(4, 5).fixed32(9);
  w.tag(5, 2).bytes(new Uint8Array(0));
  w.tag(6, 0).int32(42);
  const bytes = w.finish();
  const r = reader(bytes);
  assert.equal(r.num(), (1 << 3) | 2);
  const b = r.bytes();
  assert.deepEqual(b, Uint8Array.of(1, 2, 3));
  assert.equal(b.buffer, bytes.buffer, "a view, not a copy");
  for (let i = 0; i < 3; i++) r.skip(r.num());
  assert.equal(r.num(), (5 << 3) | 2);
  assert.equal(r.bytes().length, 0);
  assert.equal(r.num(), 6 << 3);
  assert.equal(r.num(), 42);
  assert.equal(r.pos, bytes.length);

  assert.throws(() => reader(Uint8Array.of(5, 1, 2)).bytes(), /field of 5 bytes overruns/);
  assert.throws(() => reader(Uint8Array.of(1, 2, 3)).skip((1 << 3) | 1), /truncated field/);
  assert.throws(() => reader(Uint8Array.of(0)).skip((1 << 3) | 3), /unsupported wire type 3/);
});
