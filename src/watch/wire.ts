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

/** The event's body preceded by its varint length (the payload of a length-delimited field). */
export function encodedEvent(ev: Event): Uint8Array {
  let bytes = encoded.get(ev);
  if (bytes !== undefined) return bytes;
  const body = toBinary(EventSchema, ev);
  bytes = new Uint8Array(varintSize(body.length) + body.length);
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
