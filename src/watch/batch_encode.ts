/**
 * Encodes a batch of watch responses straight into one buffer of gRPC
 * messages (each with its 5-byte length prefix), for the client port's
 * direct gRPC Watch path. With 1,000 watchers every put becomes 1,000
 * responses; encoding each with protobuf-es's reflective writer cost one
 * allocation chain per response, and the garbage arrays alone (hundreds of
 * MiB per second) dominated the member's memory. The bytes are exactly
 * those of `toBinary(WatchResponseSchema, withEncodedEvents(resp))`:
 * known fields in field-number order, then the pre-encoded events.
 *
 * @module
 */
import type { ResponseHeader, WatchResponse } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { encodedEvent } from "./wire.ts";

const EVENTS_FIELD = 11;
const textEncoder = new TextEncoder();

/** A growable byte buffer with protobuf's varint helpers. */
class Writer {
  buf: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    bigger.set(this.buf.subarray(0, this.pos));
    this.buf = bigger;
  }

  /** A varint of a non-negative number below 2^53. */
  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** A 64-bit varint (negative int64 values as their two's complement). */
  varint64(v: bigint): void {
    let u = BigInt.asUintN(64, v);
    if (u < 0x20000000000000n) return this.varint(Number(u));
    this.ensure(10);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

/** Encoded ResponseHeader bodies: one header object serves many responses. */
const headerCache = new WeakMap<ResponseHeader, Uint8Array>();

function headerBody(h: ResponseHeader): Uint8Array {
  let bytes = headerCache.get(h);
  if (bytes) return bytes;
  const w = new Writer(48);
  if (h.clusterId !== 0n) (w.varint(1 << 3), w.varint64(h.clusterId));
  if (h.memberId !== 0n) (w.varint(2 << 3), w.varint64(h.memberId));
  if (h.revision !== 0n) (w.varint(3 << 3), w.varint64(h.revision));
  if (h.raftTerm !== 0n) (w.varint(4 << 3), w.varint64(h.raftTerm));
  bytes = w.buf.slice(0, w.pos);
  headerCache.set(h, bytes);
  return bytes;
}

function encodeOne(w: Writer, r: WatchResponse): void {
  if (r.header) {
    const h = headerBody(r.header);
    w.varint((1 << 3) | 2);
    w.varint(h.length);
    w.bytes(h);
  }
  if (r.watchId !== 0n) (w.varint(2 << 3), w.varint64(r.watchId));
  if (r.created) (w.varint(3 << 3), w.varint(1));
  if (r.canceled) (w.varint(4 << 3), w.varint(1));
  if (r.compactRevision !== 0n) (w.varint(5 << 3), w.varint64(r.compactRevision));
  if (r.cancelReason !== "") {
    const s = textEncoder.encode(r.cancelReason);
    w.varint((6 << 3) | 2);
    w.varint(s.length);
    w.bytes(s);
  }
  if (r.fragment) (w.varint(7 << 3), w.varint(1));
  for (const ev of r.events) {
    w.varint((EVENTS_FIELD << 3) | 2);
    w.bytes(encodedEvent(ev));
  }
  for (const u of r.$unknown ?? []) {
    w.varint((u.no << 3) | u.wireType);
    w.bytes(u.data);
  }
}

/** The responses as consecutive gRPC messages: [flag 0][u32 length][WatchResponse]... */
export function encodeWatchBatch(batch: readonly WatchResponse[]): Uint8Array {
  let estimate = 0;
  for (const r of batch) estimate += 64 + r.events.length * 320;
  const w = new Writer(estimate);
  for (const r of batch) {
    w.ensure(5);
    const start = w.pos;
    w.pos += 5;
    encodeOne(w, r);
    const len = w.pos - start - 5;
    w.buf[start] = 0;
    new DataView(w.buf.buffer).setUint32(start + 1, len);
  }
  return w.buf.subarray(0, w.pos);
}
