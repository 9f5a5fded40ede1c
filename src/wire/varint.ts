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
