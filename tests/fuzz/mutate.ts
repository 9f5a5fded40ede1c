/**
 * Byte-level mutations of valid inputs (AFL-style havoc, plus protobuf
 * wire-format junk): most bugs hide just beside a valid input, where
 * decoders get far enough to trust a length or a tag.
 *
 * @module
 */
import type { Rng } from "./rng.ts";

/** Bytes that are often special to decoders. */
const INTERESTING = [0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x7f, 0x80, 0xfe, 0xff];

/** A protobuf varint of `n` (a safe integer or a bigint, two's complement for negatives). */
export function varint(n: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A varint value a decoder should treat carefully: zero, limits, huge lengths, negatives. */
function edgyVarint(rng: Rng): Uint8Array {
  return varint(rng.pick<number | bigint>([
    0,
    1,
    127,
    128,
    0x7fffffff,
    0x80000000,
    0xffffffff,
    2 ** 53,
    -1n,
    (1n << 63n) - 1n,
    rng.u32(),
  ]));
}

/** A random protobuf field (tag of any wire type, then a plausible or hostile payload). */
export function protobufJunk(rng: Rng): Uint8Array {
  const field = rng.chance(0.8) ? rng.int(1, 20) : rng.int(0, 536870911);
  const wire = rng.int(0, 7); // 6 and 7 do not exist: decoders must refuse them
  const tag = varint(field * 8 + wire);
  switch (wire) {
    case 0:
      return concat(tag, edgyVarint(rng));
    case 1:
      return concat(tag, rng.bytes(rng.chance(0.8) ? 8 : rng.below(8)));
    case 2: {
      const body = rng.bytes(rng.size(64));
      // The stated length is usually right, sometimes a lie in either direction.
      const len = rng.chance(0.7) ? body.length : Number(rng.edgyU32());
      return concat(tag, varint(len), body);
    }
    case 5:
      return concat(tag, rng.bytes(rng.chance(0.8) ? 4 : rng.below(4)));
    default:
      return concat(tag, rng.bytes(rng.below(4)));
  }
}

/** Applies 1..`maxOps` random mutations to a copy of `input`. */
export function mutate(rng: Rng, input: Uint8Array, maxOps = 4): Uint8Array {
  let b: Uint8Array = input.slice();
  const ops = rng.int(1, maxOps);
  for (let i = 0; i < ops; i++) b = mutateOnce(rng, b);
  return b;
}

/** One mutation; never grows the input past 64 KiB beyond its size. */
function mutateOnce(rng: Rng, b: Uint8Array): Uint8Array {
  const at = () => rng.below(b.length + 1);
  const op = rng.below(b.length === 0 ? 3 : 11);
  switch (op) {
    case 0: { // insert random bytes
      const p = at();
      return concat(b.subarray(0, p), rng.bytes(rng.size(64)), b.subarray(p));
    }
    case 1: { // insert a protobuf field
      const p = at();
      return concat(b.subarray(0, p), protobufJunk(rng), b.subarray(p));
    }
    case 2: { // insert an edgy varint (a length or a tag the decoder will trust)
      const p = at();
      return concat(b.subarray(0, p), edgyVarint(rng), b.subarray(p));
    }
    case 3: { // flip one bit
      const p = rng.below(b.length);
      b[p] ^= 1 << rng.below(8);
      return b;
    }
    case 4: // set a byte to a random value
      b[rng.below(b.length)] = rng.below(256);
      return b;
    case 5: // set a byte to an interesting value
      b[rng.below(b.length)] = rng.pick(INTERESTING);
      return b;
    case 6: { // delete a range
      const p = rng.below(b.length);
      const n = 1 + rng.below(Math.min(16, b.length - p));
      return concat(b.subarray(0, p), b.subarray(p + n));
    }
    case 7: { // duplicate a range
      const p = rng.below(b.length);
      const n = 1 + rng.below(Math.min(64, b.length - p));
      const q = at();
      return concat(b.subarray(0, q), b.slice(p, p + n), b.subarray(q));
    }
    case 8: // truncate
      return b.slice(0, rng.below(b.length));
    case 9: { // overwrite a 32-bit word with an edge value (lengths, counts)
      if (b.length < 4) return b;
      const p = rng.below(b.length - 3);
      new DataView(b.buffer, b.byteOffset).setUint32(p, rng.edgyU32(), rng.chance(0.5));
      return b;
    }
    default: { // swap two ranges
      const p = rng.below(b.length);
      const q = rng.below(b.length);
      const n = 1 + rng.below(Math.min(8, b.length - Math.max(p, q)));
      const tmp = b.slice(p, p + n);
      b.copyWithin(p, q, q + n);
      b.set(tmp.subarray(0, Math.min(n, b.length - q)), q);
      return b;
    }
  }
}
