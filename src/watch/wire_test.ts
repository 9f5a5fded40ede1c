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

Deno.test("encodedEvent: the hand encoder writes exactly toBinary's bytes", () => {
  const enc = new TextEncoder();
  const big = 0x7fff_ffff_ffff_ffffn;
  const kvs = [
    create(KeyValueSchema, {}),
    create(KeyValueSchema, { key: enc.encode("k") }),
    create(KeyValueSchema, {
      key: enc.encode("key/".repeat(40)),
      value: new Uint8Array(70_000).fill(7),
      createRevision: 1n,
      modRevision: 0x20_0000_0000_0000n,
      version: 300n,
      lease: big,
    }),
    create(KeyValueSchema, { key: enc.encode("neg"), lease: -5n, value: enc.encode("v") }),
  ];
  const cases = [];
  for (const type of [Event_EventType.PUT, Event_EventType.DELETE]) {
    cases.push(create(EventSchema, { type }));
    for (const kv of kvs) {
      cases.push(create(EventSchema, { type, kv }));
      for (const prevKv of kvs) cases.push(create(EventSchema, { type, kv, prevKv }));
    }
  }
  const withUnknown = create(EventSchema, { kv: create(KeyValueSchema, { key: enc.encode("u") }) });
  withUnknown.kv!.$unknown = [{ no: 99, wireType: 0, data: new Uint8Array([1]) }];
  cases.push(withUnknown);
  for (const ev of cases) {
    const body = toBinary(EventSchema, ev);
    const got = encodedEvent(ev);
    const prefix = new Uint8Array(10);
    const n = writeVarintForTest(prefix, body.length);
    assert.deepEqual(got.subarray(0, n), prefix.subarray(0, n));
    assert.deepEqual(got.subarray(n), body);
  }
});

function writeVarintForTest(out: Uint8Array, v: number): number {
  let i = 0;
  while (v >= 0x80) {
    out[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[i++] = v;
  return i;
}
