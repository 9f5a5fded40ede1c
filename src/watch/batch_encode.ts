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
/**
 * Largest events array kept a second time as one block: beyond it (a
 * thousand revisions of large values) the copy would double what the
 * member holds for the catch-up, for little gain per byte.
 */
const MAX_BLOCK_BYTES = 4 * 1024 * 1024;
const textEncoder = new TextEncoder();

/** An events array's encodings, as field-11 entries. */
interface EncodedEvents {
  /** Each event's length-prefixed encoding (its tag not included). */
  parts: Uint8Array[];
  /** Bytes of all the entries, tags included. */
  bytes: number;
  /**
   * The entries written out once, tags included, when the array is met a
   * second time: a catch-up read of a thousand revisions is shared by every
   * watcher that lags alike, and copying one block per response beats a
   * thousand small copies (and cache lookups) per response.
   */
  block: Uint8Array | undefined;
  /** Responses written from `parts` so far. */
  uses: number;
}

/**
 * Encodings by events array. Live fan-out hands every watcher of a write
 * the store's own array, and a catch-up round hands the watchers that
 * read the same span one array: the per-event lookups are done once per
 * array, not once per response (and not again for the size bound). Weak:
 * an entry lives as long as responses hold its array.
 */
const byArray = new WeakMap<readonly Event[], EncodedEvents>();

/** The last array looked up (most batches carry one array many times in a row). */
let memoEvents: readonly Event[] | undefined;
let memo: EncodedEvents | undefined;

/** Encoded events of `events` and their bytes as field-11 entries (tags included). */
function encodedEvents(events: readonly Event[]): EncodedEvents {
  if (events === memoEvents) return memo!;
  let found = events.length > 1 ? byArray.get(events) : undefined;
  if (found === undefined) {
    const parts: Uint8Array[] = new Array(events.length);
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const e = encodedEvent(events[i]);
      parts[i] = e;
      bytes += 1 + e.length;
    }
    found = { parts, bytes, block: undefined, uses: 0 };
    // A one-event array (a live put) is met again only within its batch,
    // which the memo covers: no weak entry per put.
    if (events.length > 1) byArray.set(events, found);
  }
  memoEvents = events;
  memo = found;
  return found;
}

/** Writes the field-11 entries of `parts` at `buf[pos]`; returns the end. */
function writeEntries(buf: Uint8Array, pos: number, parts: Uint8Array[]): number {
  for (let i = 0; i < parts.length; i++) {
    buf[pos++] = (EVENTS_FIELD << 3) | 2;
    buf.set(parts[i], pos);
    pos += parts[i].length;
  }
  return pos;
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
    w.ensure(encoded.bytes);
    if (encoded.block !== undefined) {
      w.buf.set(encoded.block, w.pos);
      w.pos += encoded.block.length;
    } else {
      const start = w.pos;
      w.pos = writeEntries(w.buf, start, encoded.parts);
      // Met a second time (the array is shared): keep these bytes as one
      // block. An array of one response (prev_kv stripped for it) never
      // pays for the copy, nor a one-event array (a live put) that gains
      // nothing from it.
      if (++encoded.uses === 2 && encoded.parts.length > 1 && encoded.bytes <= MAX_BLOCK_BYTES) {
        encoded.block = w.buf.slice(start, w.pos);
      }
    }
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
  if (r.events.length > 0) size += encodedEvents(r.events).bytes;
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
  memo = undefined;
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
