/**
 * Protobuf varints, the one copy every hand-written codec uses (Raft
 * messages in src/transport/codec.ts, the put fast path in
 * src/fast_codec.ts, watch events, the store snapshot's byte buffers).
 *
 * Numbers are JavaScript numbers, exact below 2^53 (revisions, terms,
 * indexes, lengths); ids and leases are uint64 `bigint`s, whose encodings
 * and decodings are cached because the same few ids recur in every message.
 *
 * @module
 */

/** The longest varint protobuf writes: a uint64 takes at most 10 bytes. */
export const MAX_VARINT_BYTES = 10;

/** Bytes taken by the varint of a non-negative integer number (exact up to 2^53). */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  v = Math.floor(v / 0x10000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/**
 * Writes the varint of a non-negative integer number below 2^53 at `pos`
 * and returns the position after it. The caller has made room (at most
 * 8 bytes for such a number).
 */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80; // `&` works mod 2^32, so the low bits stay exact
    v = v > 0xffffffff ? Math.floor(v / 128) : v >>> 7;
  }
  buf[pos++] = v;
  return pos;
}

/**
 * Writes `v` as a uint64 varint (negative values as their 64-bit two's
 * complement, as protobuf writes int64) at `pos`; returns the position
 * after it. Room for {@link MAX_VARINT_BYTES} is the caller's.
 */
export function writeUint64Varint(buf: Uint8Array, pos: number, v: bigint): number {
  if (v >= 0n && v < 0x20000000000000n) return writeVarint(buf, pos, Number(v));
  let u = BigInt.asUintN(64, v);
  while (u >= 0x80n) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

/**
 * Encodings of large uint64 values, which are nearly always ids: member
 * and cluster ids in every response header and Raft message, lease ids.
 * Computing one takes a dozen BigInt operations, each a heap allocation,
 * which made these encoders the largest allocators of a busy leader.
 */
const bigVarints = new Map<bigint, Uint8Array>();
const scratch = new Uint8Array(MAX_VARINT_BYTES);

/**
 * The varint bytes of `v` as a uint64 (negative values modulo 2^64),
 * cached. The result is shared: callers copy it, never change it.
 */
export function uint64VarintBytes(v: bigint): Uint8Array {
  let b = bigVarints.get(v);
  if (b !== undefined) return b;
  b = scratch.slice(0, writeUint64Varint(scratch, 0, v));
  // Ids of a long-lived cluster and its leases: stays small, else starts over.
  if (bigVarints.size >= 4096) bigVarints.clear();
  bigVarints.set(v, b);
  return b;
}

/**
 * Recently decoded large ids by their two 32-bit halves: every message
 * names its sender and receiver, and composing a bigint takes several heap
 * allocations, so repeats come from here.
 */
const ID_SLOTS = 64;
const idLo = new Uint32Array(ID_SLOTS);
const idHi = new Uint32Array(ID_SLOTS);
const idVal: bigint[] = new Array(ID_SLOTS).fill(0n);

/** The uint64 whose low and high 32-bit halves are `lo` and `hi` (large ones cached). */
export function decodedId(lo: number, hi: number): bigint {
  if (hi === 0) return BigInt(lo);
  const slot = ((lo ^ hi) >>> 0) % ID_SLOTS;
  if (idLo[slot] === lo && idHi[slot] === hi && idVal[slot] !== 0n) return idVal[slot];
  const v = (BigInt(hi) << 32n) | BigInt(lo);
  idLo[slot] = lo;
  idHi[slot] = hi;
  idVal[slot] = v;
  return v;
}

/**
 * Reads varints from `buf[pos, end)`. Malformed input (the range ends
 * inside a varint, or one runs past 10 bytes) gives -1 / -1n rather than
 * throwing, so each codec reports it its own way: the Raft codec throws,
 * the put fast path falls back to the generic decoder. `pos` is then
 * somewhere inside the bad varint.
 */
export class VarintReader {
  /** Read position. */
  pos: number;

  /**
   * @param buf bytes to read
   * @param pos where to start
   * @param end where the readable range ends (exclusive)
   */
  constructor(readonly buf: Uint8Array, pos: number, readonly end: number) {
    this.pos = pos;
  }

  /**
   * A varint as a non-negative number, exact below 2^53 (larger values,
   * which no number field of ours carries, come back rounded); -1 when
   * malformed.
   */
  varint(): number {
    const buf = this.buf;
    const end = this.end;
    if (this.pos >= end) return -1;
    let b = buf[this.pos++];
    if (b < 0x80) return b;
    let v = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < MAX_VARINT_BYTES && this.pos < end; i++) {
      b = buf[this.pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    return -1;
  }

  /** A uint64 varint as a bigint (bits past 64 dropped, as protobuf does); -1n when malformed. */
  uint64(): bigint {
    const buf = this.buf;
    const end = this.end;
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70 && this.pos < end; shift += 7) {
      const b = buf[this.pos++];
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) return decodedId(lo >>> 0, hi >>> 0);
    }
    return -1n;
  }
}
