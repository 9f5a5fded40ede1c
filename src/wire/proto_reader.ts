/**
 * The protobuf reader of the hand-written decoders: Raft messages
 * (src/transport/codec.ts), the put entry fast path (src/fast_codec.ts) and
 * the store snapshot's varints (src/mvcc/bytes.ts). One class, used as is
 * (never subclassed), so that V8 sees one object shape at every property
 * access: reading varints through methods shared by several reader classes
 * made them polymorphic and decoding 15-30% slower.
 *
 * @module
 */

import { decodedId } from "./varint.ts";

/** Thrown for bytes that are not well-formed protobuf; each codec words it its own way. */
export class WireError extends Error {
  /** `detail` says what was wrong and where. */
  constructor(readonly detail: string) {
    super(detail);
    this.name = "WireError";
  }
}

/** Shared by every empty bytes field: a zero-length view would keep its whole buffer alive. */
const EMPTY = new Uint8Array(0);

/** Reads protobuf fields from `buf[pos, end)`; byte fields are views of `buf`. */
export class ProtoReader {
  /** Read position. */
  pos: number;

  /**
   * @param buf bytes to read
   * @param start where to start
   * @param end where the readable range ends (exclusive)
   */
  constructor(readonly buf: Uint8Array, start: number, readonly end: number) {
    this.pos = start;
  }

  /**
   * A varint as a non-negative number, exact below 2^53 (larger values,
   * which no number field of ours carries, come back rounded).
   */
  num(): number {
    if (this.pos >= this.end) throw new WireError(`truncated varint at ${this.pos}`);
    const buf = this.buf;
    let b = buf[this.pos++];
    if (b < 0x80) return b;
    let v = b & 0x7f;
    let mul = 128;
    for (let i = 1; i < 10; i++) {
      if (this.pos >= this.end) break;
      b = buf[this.pos++];
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new WireError(`bad varint at ${this.pos}`);
  }

  /** A uint64 varint as a bigint (bits past 64 dropped, as protobuf does; large ids cached). */
  uint64(): bigint {
    if (this.pos >= this.end) throw new WireError(`truncated uint64 at ${this.pos}`);
    const buf = this.buf;
    // Two tight loops, the low 32 bits then the high ones; bytes past the
    // range read as garbage (or undefined past the buffer) and are caught
    // by the check at the end, which costs less than a check per byte.
    let lo = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      b = buf[this.pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        if (this.pos > this.end) throw new WireError("truncated uint64");
        return BigInt(lo >>> 0);
      }
    }
    b = buf[this.pos++];
    lo |= (b & 0x0f) << 28;
    let hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (let shift = 3;; shift += 7) {
        if (shift > 31) throw new WireError(`bad uint64 varint at ${this.pos}`);
        b = buf[this.pos++];
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    if (this.pos > this.end) throw new WireError("truncated uint64");
    return decodedId(lo >>> 0, hi >>> 0);
  }

  /** The end offset of a length-delimited field whose length comes next. */
  sub(): number {
    const n = this.num();
    const end = this.pos + n;
    if (end > this.end) throw new WireError(`field of ${n} bytes overruns at ${this.pos}`);
    return end;
  }

  /** A length-delimited field's bytes: a view of the buffer (a shared empty array when empty). */
  bytes(): Uint8Array {
    const end = this.sub();
    const b = end === this.pos ? EMPTY : this.buf.subarray(this.pos, end);
    this.pos = end;
    return b;
  }

  /** Skips a field of an unknown number (a newer sender's), by wire type. */
  skip(tag: number): void {
    switch (tag & 7) {
      case 0:
        this.num();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.sub();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new WireError(`unsupported wire type ${tag & 7} at ${this.pos}`);
    }
    if (this.pos > this.end) throw new WireError("truncated field");
  }
}
