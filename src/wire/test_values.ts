/**
 * Values around every varint length boundary and protobuf-es's encodings
 * of them: the fixtures the src/wire tests check against.
 *
 * @module
 */
import { BinaryWriter } from "@bufbuild/protobuf/wire";

/** Numbers around every varint length boundary, up to 2^53 - 1. */
export const NUMBERS: number[] = [0, 1, 2, 127, 128, 300, 16383, 16384];
for (let bits = 14; bits <= 53; bits += 7) {
  NUMBERS.push(2 ** bits - 1, 2 ** bits, 2 ** bits + 1);
}
NUMBERS.push(0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER);

/** uint64 values with both halves exercised, and negative int64s. */
export const BIGINTS: bigint[] = [
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
export function reference(v: bigint): Uint8Array {
  const w = new BinaryWriter();
  if (v < 0n) w.int64(v);
  else w.uint64(v);
  return w.finish();
}
