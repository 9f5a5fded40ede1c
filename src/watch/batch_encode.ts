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
import { writeResponseHeader } from "../fast_codec.ts";
import { ProtoWriter as Writer } from "../wire/proto_writer.ts";
import { encodedEvent } from "./wire.ts";

const EVENTS_FIELD = 11;
const textEncoder = new TextEncoder();

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
  for (const ev of r.events) {
    w.varint((EVENTS_FIELD << 3) | 2);
    w.bytes(encodedEvent(ev));
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
  for (const ev of r.events) size += 2 + encodedEvent(ev).length;
  for (const u of r.$unknown ?? []) size += 6 + u.data.length;
  return size;
}

/** The responses as consecutive gRPC messages: [flag 0][u32 length][WatchResponse]... */
export function encodeWatchBatch(batch: readonly WatchResponse[]): Uint8Array {
  let estimate = 0;
  for (const r of batch) estimate += framedSizeBound(r);
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
