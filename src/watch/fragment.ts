/**
 * etcd's watch response fragmentation: a response for a watcher created
 * with `fragment` that is at least `--max-request-bytes` long (and has two
 * or more events) is split into pieces, each flagged `fragment` except the
 * last. Events of one revision are only ever split this way.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { type WatchResponse, WatchResponseSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EventSchema } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { varintSize } from "../wire/varint.ts";

/**
 * Splits `resp` the way etcd's `sendFragments` does: pieces are filled
 * event by event and a piece is closed just before the event that makes it
 * reach `maxBytes` (a piece always holds at least one event).
 */
export function fragmentResponse(resp: WatchResponse, maxBytes: number): WatchResponse[] {
  if (resp.events.length < 2) return [resp];
  const eventSizes = resp.events.map((ev) => {
    const n = toBinary(EventSchema, ev).length;
    return 1 + varintSize(n) + n; // field 11 tag, length, body
  });
  const base = toBinary(WatchResponseSchema, create(WatchResponseSchema, { ...resp, events: [] }))
    .length;
  const whole = base + eventSizes.reduce((a, b) => a + b, 0);
  if (whole < maxBytes) return [resp];
  // etcd measures every piece with its fragment flag set (2 more bytes when resp has none).
  const pieceBase = resp.fragment ? base : base + 2;
  const out: WatchResponse[] = [];
  let i = 0;
  while (i < resp.events.length) {
    const start = i;
    let size = pieceBase;
    while (i < resp.events.length) {
      size += eventSizes[i];
      if (i > start && size >= maxBytes) break;
      i++;
    }
    out.push(create(WatchResponseSchema, {
      ...resp,
      events: resp.events.slice(start, i),
      fragment: i < resp.events.length,
    }));
  }
  return out;
}
