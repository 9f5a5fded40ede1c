import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { WatchResponseSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Event_EventType, EventSchema, KeyValueSchema } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { encodedEvent, withEncodedEvents } from "./wire.ts";

function event(key: string, rev: number, value: string) {
  const enc = new TextEncoder();
  return create(EventSchema, {
    type: Event_EventType.PUT,
    kv: create(KeyValueSchema, {
      key: enc.encode(key),
      value: enc.encode(value),
      modRevision: BigInt(rev),
      createRevision: 1n,
      version: 2n,
    }),
    prevKv: create(KeyValueSchema, { key: enc.encode(key), value: enc.encode("old") }),
  });
}

Deno.test("withEncodedEvents: decodes to the same response, events in order", () => {
  const evs = [event("a", 5, "x".repeat(200)), event("b", 5, "y"), event("c", 5, "")];
  const plain = create(WatchResponseSchema, {
    header: { revision: 5n, clusterId: 9n, memberId: 3n, raftTerm: 2n },
    watchId: 7n,
    events: evs,
  });
  const expect = fromBinary(WatchResponseSchema, toBinary(WatchResponseSchema, plain));
  const fast = withEncodedEvents(create(WatchResponseSchema, { ...plain, events: [...evs] }));
  assert.equal(fast.events.length, 0);
  const got = fromBinary(WatchResponseSchema, toBinary(WatchResponseSchema, fast));
  assert.deepEqual(got, expect);
  assert.equal(got.events.length, 3);
  assert.equal(got.events[0].kv!.value.length, 200);
});

Deno.test("encodedEvent: cached per event object, length-prefixed", () => {
  const ev = event("k", 9, "v".repeat(300));
  const a = encodedEvent(ev);
  assert.equal(encodedEvent(ev), a);
  const body = toBinary(EventSchema, ev);
  assert.ok(body.length >= 128); // two-byte varint length
  assert.equal(a.length, body.length + 2);
  assert.deepEqual(a.subarray(2), body);
  assert.equal((a[0] & 0x7f) + (a[1] << 7), body.length);
});

Deno.test("withEncodedEvents: a response without events is left alone", () => {
  const r = create(WatchResponseSchema, { watchId: 1n, created: true });
  assert.equal(withEncodedEvents(r), r);
  assert.equal(r.$unknown, undefined);
});

Deno.test("encodedEvent: slab pieces never overlap and each keeps its own bytes", () => {
  // Enough events to fill several 64 KiB slabs, plus one too big for a slab.
  const evs = Array.from({ length: 600 }, (_, i) => event(`k${i}`, i + 1, "v".repeat(i % 300)));
  evs.push(event("big", 9, "x".repeat(10_000)));
  const bytes = evs.map((ev) => encodedEvent(ev));
  for (let i = 0; i < evs.length; i++) {
    const body = toBinary(EventSchema, evs[i]);
    // The varint length prefix, then the body.
    assert.deepEqual(bytes[i].subarray(bytes[i].length - body.length), body, `event ${i}`);
    assert.equal(
      fromBinary(EventSchema, bytes[i].subarray(bytes[i].length - body.length)).kv!
        .modRevision,
      BigInt(i < 600 ? i + 1 : 9),
    );
  }
  // Cached: the same view again.
  assert.equal(encodedEvent(evs[3]), bytes[3]);
});
