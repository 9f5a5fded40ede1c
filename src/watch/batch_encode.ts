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
import type { WatchResponse } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Event } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { writeResponseHeader } from "../fast_codec.ts";
import { ProtoWriter as Writer } from "../wire/proto_writer.ts";

export { ProtoWriter as BatchBuffer } from "../wire/proto_writer.ts";
import { encodedEvent } from "./wire.ts";

const EVENTS_FIELD = 11;
const textEncoder = new TextEncoder();

/**
 * The last events array encoded and its pieces. Live fan-out hands every
 * watcher of a write the store's own array (1,000 watchers of one prefix
 * make 1,000 responses carrying the same array), so the per-event cache
 * lookups are done once per array, not once per response.
 */
let memoEvents: readonly Event[] | undefined;
let memoEncoded: Uint8Array[] = [];
let memoBytes = 0;

/** Encoded events of `events` and their bytes as field-11 entries (tags included). */
function encodedEvents(events: readonly Event[]): Uint8Array[] {
  if (events === memoEvents) return memoEncoded;
  const out: Uint8Array[] = new Array(events.length);
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const e = encodedEvent(events[i]);
    out[i] = e;
    bytes += 1 + e.length;
  }
  memoEvents = events;
  memoEncoded = out;
  memoBytes = bytes;
  return out;
}

function encodeOne(w: Writer, r: WatchResponse): void {
  if (r.header) writeResponseHeader(w, 1, r.header);
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
  if (r.events.length > 0) {
    const encoded = encodedEvents(r.events);
    w.ensure(memoBytes);
    const buf = w.buf;
    let pos = w.pos;
    for (let i = 0; i < encoded.length; i++) {
      buf[pos++] = (EVENTS_FIELD << 3) | 2;
      buf.set(encoded[i], pos);
      pos += encoded[i].length;
    }
    w.pos = pos;
  }
  for (const u of r.$unknown ?? []) {
    w.varint((u.no << 3) | u.wireType);
    w.bytes(u.data);
  }
}

/**
 * An upper bound of a response's encoded size including its 5-byte gRPC
 * prefix (events are encoded once and cached, so this is cheap).
 */
export function framedSizeBound(r: WatchResponse): number {
  let size = 5 + 64 + r.cancelReason.length * 3;
  if (r.events.length > 0) {
    encodedEvents(r.events);
    size += memoBytes + r.events.length;
  }
  for (const u of r.$unknown ?? []) size += 6 + u.data.length;
  return size;
}

/**
 * The responses as consecutive gRPC messages: [flag 0][u32 length][WatchResponse]...
 * With `into`, they are written over that writer's buffer (grown when
 * too small) and the result is a view of it: the caller owns the buffer
 * and must not write into it again while the view is still in use.
 */
export function encodeWatchBatch(
  batch: readonly WatchResponse[],
  into?: Writer,
): Uint8Array {
  let estimate = 0;
  for (const r of batch) estimate += framedSizeBound(r);
  let w: Writer;
  if (into === undefined) w = new Writer(estimate);
  else {
    w = into;
    w.pos = 0;
    w.ensure(estimate);
  }
  for (const r of batch) {
    w.ensure(5);
    const start = w.pos;
    w.pos += 5;
    encodeOne(w, r);
    const len = w.pos - start - 5;
    // The big-endian length by hand: a DataView per response was garbage.
    const buf = w.buf;
    buf[start] = 0;
    buf[start + 1] = len >>> 24;
    buf[start + 2] = (len >>> 16) & 0xff;
    buf[start + 3] = (len >>> 8) & 0xff;
    buf[start + 4] = len & 0xff;
  }
  // The memo would keep the last batch's events alive until the next one.
  memoEvents = undefined;
  memoEncoded = [];
  return w.buf.subarray(0, w.pos);
}

/**
 * Splits `batch` into consecutive runs whose encoding stays near
 * `maxBytes` (a single larger response makes a run of its own), so a
 * stream holds one such piece at a time while the peer reads: catch-up
 * responses carry up to a thousand revisions each, and a whole queue of
 * them encoded at once made tens of MiB per stream.
 */
export function* pieces(
  batch: readonly WatchResponse[],
  maxBytes: number,
): Generator<readonly WatchResponse[]> {
  let start = 0;
  let size = 0;
  for (let i = 0; i < batch.length; i++) {
    const s = framedSizeBound(batch[i]);
    if (i > start && size + s > maxBytes) {
      yield batch.slice(start, i);
      start = i;
      size = 0;
    }
    size += s;
  }
  if (start < batch.length) yield batch.slice(start);
}
