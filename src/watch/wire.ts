/**
 * Cheap wire encoding of watch responses. One write reaches many watchers
 * with the very same `Event` objects, so each event is protobuf-encoded
 * once and its bytes are reused by every response that carries it: the
 * response keeps its header and id as fields and carries the events as
 * pre-encoded field-11 entries in `$unknown`, which protobuf-es writes
 * verbatim after the known fields (field order does not matter on the wire).
 *
 * @module
 */
import { toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { WatchResponse } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type Event, EventSchema, type KeyValue } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { uint64VarintBytes, varintSize, writeUint64Varint, writeVarint } from "../wire/varint.ts";

/** WatchResponse.events field number. */
const EVENTS_FIELD = 11;

/** Length-prefixed encodings, shared by every response that carries the event. */
const encoded = new WeakMap<Event, Uint8Array>();

/**
 * Encodings up to this size are views into shared slabs: with 1,000
 * watchers hundreds of thousands of events are in flight, and a buffer
 * of its own per event cost a backing store and an ArrayBuffer besides
 * the bytes. A slab lives as long as any view into it.
 */
const SLAB_BYTES = 64 * 1024;
const MAX_SLAB_PIECE = 4 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function allocate(n: number): Uint8Array {
  if (n > MAX_SLAB_PIECE) return new Uint8Array(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return out;
}

/** The event's body preceded by its varint length (the payload of a length-delimited field). */
export function encodedEvent(ev: Event): Uint8Array {
  let bytes = encoded.get(ev);
  if (bytes !== undefined) return bytes;
  if (hasUnknown(ev)) {
    const body = toBinary(EventSchema, ev);
    bytes = allocate(varintSize(body.length) + body.length);
    bytes.set(body, writeVarint(bytes, 0, body.length));
  } else {
    // Written by hand straight into its slab piece: every put a watcher
    // sees is encoded once, and protobuf-es's reflective writer (plus the
    // copy of its output) was the largest cost of a watched put.
    const size = eventSize(ev);
    bytes = allocate(varintSize(size) + size);
    writeEvent(bytes, writeVarint(bytes, 0, size), ev);
  }
  encoded.set(ev, bytes);
  return bytes;
}

/** Fields this encoder does not know (then `toBinary` writes the event). */
function hasUnknown(ev: Event): boolean {
  return (ev.$unknown !== undefined && ev.$unknown.length > 0) ||
    (ev.kv?.$unknown !== undefined && ev.kv.$unknown.length > 0) ||
    (ev.prevKv?.$unknown !== undefined && ev.prevKv.$unknown.length > 0);
}

/** Bytes of an int64 field with a one-byte tag, 0 when it is 0 (skipped). */
function int64FieldSize(v: bigint): number {
  if (v === 0n) return 0;
  if (v > 0n && v < 0x20000000000000n) return 1 + varintSize(Number(v));
  return 1 + uint64VarintBytes(v).length;
}

/** Bytes of a bytes field with a one-byte tag, 0 when empty (skipped). */
function bytesFieldSize(b: Uint8Array): number {
  return b.length === 0 ? 0 : 1 + varintSize(b.length) + b.length;
}

function kvSize(kv: KeyValue): number {
  return bytesFieldSize(kv.key) + int64FieldSize(kv.createRevision) +
    int64FieldSize(kv.modRevision) + int64FieldSize(kv.version) + bytesFieldSize(kv.value) +
    int64FieldSize(kv.lease);
}

/** The encoded size of `ev`'s body (what `toBinary(EventSchema, ev)` makes). */
function eventSize(ev: Event): number {
  let n = ev.type === 0 ? 0 : 1 + varintSize(ev.type);
  if (ev.kv !== undefined) {
    const k = kvSize(ev.kv);
    n += 1 + varintSize(k) + k;
  }
  if (ev.prevKv !== undefined) {
    const p = kvSize(ev.prevKv);
    n += 1 + varintSize(p) + p;
  }
  return n;
}

function writeInt64Field(buf: Uint8Array, pos: number, tag: number, v: bigint): number {
  if (v === 0n) return pos;
  buf[pos] = tag;
  return writeUint64Varint(buf, pos + 1, v);
}

function writeBytesField(buf: Uint8Array, pos: number, tag: number, b: Uint8Array): number {
  if (b.length === 0) return pos;
  buf[pos] = tag;
  pos = writeVarint(buf, pos + 1, b.length);
  buf.set(b, pos);
  return pos + b.length;
}

/** KeyValue fields in number order: key 1, create 2, mod 3, version 4, value 5, lease 6. */
function writeKv(buf: Uint8Array, pos: number, tag: number, kv: KeyValue): number {
  buf[pos] = tag;
  pos = writeVarint(buf, pos + 1, kvSize(kv));
  pos = writeBytesField(buf, pos, (1 << 3) | 2, kv.key);
  pos = writeInt64Field(buf, pos, 2 << 3, kv.createRevision);
  pos = writeInt64Field(buf, pos, 3 << 3, kv.modRevision);
  pos = writeInt64Field(buf, pos, 4 << 3, kv.version);
  pos = writeBytesField(buf, pos, (5 << 3) | 2, kv.value);
  return writeInt64Field(buf, pos, 6 << 3, kv.lease);
}

/** Event fields in number order: type 1, kv 2, prev_kv 3. */
function writeEvent(buf: Uint8Array, pos: number, ev: Event): number {
  if (ev.type !== 0) {
    buf[pos] = 1 << 3;
    pos = writeVarint(buf, pos + 1, ev.type);
  }
  if (ev.kv !== undefined) pos = writeKv(buf, pos, (2 << 3) | 2, ev.kv);
  if (ev.prevKv !== undefined) pos = writeKv(buf, pos, (3 << 3) | 2, ev.prevKv);
  return pos;
}

/**
 * Moves `resp`'s events into pre-encoded unknown fields (in place) so that
 * serialising it costs the header and id only. Returns `resp`. The bytes
 * on the wire are those `toBinary` would produce, apart from field order.
 */
export function withEncodedEvents(resp: WatchResponse): WatchResponse {
  if (resp.events.length === 0) return resp;
  const unknown = resp.$unknown ?? [];
  for (const ev of resp.events) {
    unknown.push({ no: EVENTS_FIELD, wireType: WireType.LengthDelimited, data: encodedEvent(ev) });
  }
  resp.$unknown = unknown;
  resp.events = [];
  return resp;
}
