/**
 * Minimal growable byte writer and bounds-checked reader (unsigned varints
 * up to 2^53, fixed 64-bit integers) for snapshots and hashing. The
 * varints are src/wire's.
 */

import { ProtoReader, WireError } from "../wire/proto_reader.ts";
import { MAX_VARINT_BYTES, writeUint64Varint, writeVarint } from "../wire/varint.ts";

/** Appends bytes to a growing buffer. `reset()` reuses the memory. */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  /** Bytes written so far. */
  length = 0;

  /** @param capacity initial buffer size in bytes */
  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  #ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Forgets the contents, keeping the memory. */
  reset(): void {
    this.length = 0;
  }

  /** One byte. */
  byte(b: number): void {
    this.#ensure(1);
    this.#buf[this.length++] = b;
  }

  /** Raw bytes. */
  bytes(b: Uint8Array): void {
    this.#ensure(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  /** Unsigned varint of a non-negative safe integer. */
  uvarint(n: number): void {
    this.#ensure(8);
    this.length = writeVarint(this.#buf, this.length, n);
  }

  /** Protobuf int64 varint (negative values as 64-bit two's complement). */
  varint64(n: bigint): void {
    this.#ensure(MAX_VARINT_BYTES);
    this.length = writeUint64Varint(this.#buf, this.length, n);
  }

  /** Length-prefixed bytes. */
  lenBytes(b: Uint8Array): void {
    this.uvarint(b.length);
    this.bytes(b);
  }

  /** Big-endian unsigned 64-bit integer from a non-negative safe integer. */
  u64be(n: number): void {
    this.#ensure(8);
    this.#view.setUint32(this.length, Math.floor(n / 0x100000000));
    this.#view.setUint32(this.length + 4, n >>> 0);
    this.length += 8;
  }

  /** Little-endian signed 64-bit integer. */
  i64le(n: bigint): void {
    this.#ensure(8);
    this.#view.setBigInt64(this.length, n, true);
    this.length += 8;
  }

  /** A view of the bytes written (valid until the next write). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }

  /** A copy of the bytes written. */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

/** Reads what ByteWriter wrote; throws on truncation. */
export class ByteReader {
  #buf: Uint8Array;
  #view: DataView;
  #varints: ProtoReader;
  /** Read position. */
  pos = 0;

  /** @param buf bytes to read */
  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#varints = new ProtoReader(buf, 0, buf.length);
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  #need(n: number): void {
    if (this.pos + n > this.#buf.length) throw new Error("mvcc snapshot: truncated data");
  }

  /** One byte. */
  byte(): number {
    this.#need(1);
    return this.#buf[this.pos++];
  }

  /** `n` raw bytes, copied. */
  bytes(n: number): Uint8Array {
    this.#need(n);
    const out = this.#buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Unsigned varint (safe integer range). */
  uvarint(): number {
    // A snapshot holds about six varints per version, nearly all of one to
    // four bytes (lengths, revisions below 2^28): those are read here, the
    // rest (and any near the end) by the shared reader with its checks.
    const buf = this.#buf;
    const p = this.pos;
    if (p + 4 <= buf.length) {
      const b0 = buf[p];
      if (b0 < 0x80) {
        this.pos = p + 1;
        return b0;
      }
      const b1 = buf[p + 1];
      if (b1 < 0x80) {
        this.pos = p + 2;
        return (b0 & 0x7f) | (b1 << 7);
      }
      const b2 = buf[p + 2];
      if (b2 < 0x80) {
        this.pos = p + 3;
        return (b0 & 0x7f) | ((b1 & 0x7f) << 7) | (b2 << 14);
      }
      const b3 = buf[p + 3];
      if (b3 < 0x80) {
        this.pos = p + 4;
        return (b0 & 0x7f) | ((b1 & 0x7f) << 7) | ((b2 & 0x7f) << 14) | (b3 << 21);
      }
    }
    return this.#longUvarint();
  }

  #longUvarint(): number {
    const r = this.#varints;
    r.pos = this.pos;
    try {
      return r.num();
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      throw new Error(
        r.pos >= this.#buf.length ? "mvcc snapshot: truncated data" : "mvcc snapshot: bad varint",
      );
    } finally {
      this.pos = r.pos;
    }
  }

  /** Length-prefixed bytes, copied. */
  lenBytes(): Uint8Array {
    return this.bytes(this.uvarint());
  }

  /** Little-endian signed 64-bit integer. */
  i64le(): bigint {
    this.#need(8);
    const v = this.#view.getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /**
   * {@link i64le}, but 0 comes back as the literal `0n` (one shared
   * constant): a snapshot's versions mostly carry no lease, and a BigInt
   * made per version is a million short-lived objects at restart.
   */
  i64leOrZero(): bigint {
    this.#need(8);
    const dv = this.#view;
    const p = this.pos;
    this.pos += 8;
    if (dv.getUint32(p, true) === 0 && dv.getUint32(p + 4, true) === 0) return 0n;
    return dv.getBigInt64(p, true);
  }

  /** True when every byte has been read. */
  done(): boolean {
    return this.pos === this.#buf.length;
  }
}
