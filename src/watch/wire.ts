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
import { type Event, EventSchema } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { varintSize, writeVarint } from "../wire/varint.ts";

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
  const body = toBinary(EventSchema, ev);
  bytes = allocate(varintSize(body.length) + body.length);
  bytes.set(body, writeVarint(bytes, 0, body.length));
  encoded.set(ev, bytes);
  return bytes;
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
