/**
 * A small protobuf writer for the few messages encoded on every request
 * (watch responses, the Raft entry of a put, a put's response), where
 * protobuf-es's reflective `toBinary` was among the largest costs of a
 * member under load. Callers write fields in field-number order, as
 * `toBinary` does, so the bytes are the same; each use is checked against
 * `toBinary` by tests.
 *
 * @module
 */

import { MAX_VARINT_BYTES, uint64VarintBytes, varintSize, writeVarint } from "./varint.ts";

/** A growable byte buffer with protobuf's wire primitives. */
export class ProtoWriter {
  /** The bytes so far are buf[0, pos). */
  buf: Uint8Array;
  /** Write position. */
  pos = 0;

  /** @param size initial buffer size in bytes */
  constructor(size = 64) {
    this.buf = new Uint8Array(size);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  /** A varint of a non-negative integer below 2^53. */
  varint(v: number): void {
    // The size check inline, the call only to grow: this runs for every
    // tag and length of every message written.
    // Growing asks only for the varint's own size, so a buffer sized
    // exactly for a message is filled to its last byte without growing.
    if (this.pos + MAX_VARINT_BYTES > this.buf.length) this.ensure(varintSize(v));
    this.pos = writeVarint(this.buf, this.pos, v);
  }

  /** A 64-bit varint (negative int64 values as their two's complement). */
  varint64(v: bigint): void {
    if (v >= 0n && v < 0x20000000000000n) return this.varint(Number(v));
    this.bytes(uint64VarintBytes(v));
  }

  /** Raw bytes. */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A varint field, skipped when zero (proto3 default). */
  uint64Field(field: number, v: bigint): void {
    if (v === 0n) return;
    this.varint(field << 3);
    this.varint64(v);
  }

  /** A bool field, skipped when false. */
  boolField(field: number, v: boolean): void {
    if (!v) return;
    this.varint(field << 3);
    this.varint(1);
  }

  /** A bytes field, skipped when empty. */
  bytesField(field: number, v: Uint8Array): void {
    if (v.length === 0) return;
    this.varint((field << 3) | 2);
    this.varint(v.length);
    this.bytes(v);
  }

  /**
   * A length-delimited sub-message written by `body`. The length is not
   * known beforehand, so one byte is reserved and the body moved when its
   * length needs more.
   */
  message(field: number, body: (w: ProtoWriter) => void): void {
    this.varint((field << 3) | 2);
    this.ensure(1);
    const lenAt = this.pos++;
    body(this);
    const len = this.pos - lenAt - 1;
    if (len < 0x80) {
      this.buf[lenAt] = len;
      return;
    }
    const extra = varintSize(len) - 1;
    this.ensure(extra);
    this.buf.copyWithin(lenAt + 1 + extra, lenAt + 1, this.pos);
    const end = this.pos + extra;
    writeVarint(this.buf, lenAt, len);
    this.pos = end;
  }

  /** The bytes written (a view of the buffer). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
