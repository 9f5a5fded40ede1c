import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  ResponseHeaderSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Event_EventType, EventSchema, KeyValueSchema } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { BatchBuffer, encodeWatchBatch, framedSizeBound, pieces } from "./batch_encode.ts";
import { withEncodedEvents } from "./wire.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function event(key: string, value: string, rev: bigint, withPrev: boolean) {
  const kv = create(KeyValueSchema, {
    key: enc(key),
    value: enc(value),
    createRevision: 2n,
    modRevision: rev,
    version: 3n,
    lease: 0x7fffffffffffffffn,
  });
  return create(EventSchema, {
    type: value === "" ? Event_EventType.DELETE : Event_EventType.PUT,
    kv,
    prevKv: withPrev ? create(KeyValueSchema, { key: enc(key), value: enc("old") }) : undefined,
  });
}

/** Splits gRPC-framed messages. */
function unframe(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  while (off < bytes.length) {
    assert.equal(bytes[off], 0, "uncompressed flag");
    const len = view.getUint32(off + 1);
    out.push(bytes.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  assert.equal(off, bytes.length, "no trailing bytes");
  return out;
}

function samples(): WatchResponse[] {
  const header = create(ResponseHeaderSchema, {
    clusterId: 0xfedcba9876543210n,
    memberId: 0x8e9e05c52164694dn,
    revision: 123456789012n,
    raftTerm: 7n,
  });
  const evs = [
    event("a", "1", 10n, false),
    event("b/é", "", 11n, true),
    event("c", "x".repeat(300), 12n, true),
  ];
  return [
    create(WatchResponseSchema, { header, watchId: 0n, created: true }),
    create(WatchResponseSchema, { header, watchId: 5n, events: evs }),
    create(WatchResponseSchema, { header, watchId: -1n }),
    create(WatchResponseSchema, {
      header,
      watchId: 2n ** 62n,
      canceled: true,
      compactRevision: 99n,
      cancelReason: "mvcc: required revision has been compacted — é",
    }),
    create(WatchResponseSchema, { header, watchId: 3n, fragment: true, events: [evs[2]] }),
    create(WatchResponseSchema, {}),
  ];
}

Deno.test("encodeWatchBatch: each message equals protobuf-es's encoding, byte for byte", () => {
  const batch = samples();
  const want = batch.map((r) => toBinary(WatchResponseSchema, r));
  const got = unframe(encodeWatchBatch(batch));
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.deepEqual(g, want[i], `response ${i}`));
});

Deno.test("encodeWatchBatch: responses whose events were pre-encoded give the same bytes", () => {
  const plain = samples().map((r) => toBinary(WatchResponseSchema, r));
  const moved = samples().map((r) => withEncodedEvents(r));
  const got = unframe(encodeWatchBatch(moved));
  got.forEach((g, i) => assert.deepEqual(g, plain[i], `response ${i}`));
});

Deno.test("encodeWatchBatch: an empty batch is empty; a large one grows its buffer", () => {
  assert.equal(encodeWatchBatch([]).length, 0);
  const big = create(WatchResponseSchema, {
    watchId: 1n,
    events: Array.from(
      { length: 50 },
      (_, i) => event(`k${i}`, "v".repeat(2000), BigInt(i + 1), true),
    ),
  });
  const got = unframe(encodeWatchBatch([big, big]));
  assert.deepEqual(got[0], toBinary(WatchResponseSchema, big));
  assert.deepEqual(got[1], got[0]);
});

Deno.test("framedSizeBound bounds the encoding; pieces keep order and stay near the limit", () => {
  const batch = samples();
  for (const r of batch) {
    assert.ok(encodeWatchBatch([r]).length <= framedSizeBound(r), "bound holds");
  }
  const many = Array.from({ length: 40 }, () => batch[1]);
  const one = framedSizeBound(batch[1]);
  const parts = [...pieces(many, one * 3)];
  assert.deepEqual(parts.map((p) => p.length), [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1]);
  assert.deepEqual(parts.flat(), many);
  // A response larger than the limit goes alone.
  assert.deepEqual([...pieces([batch[0], batch[1], batch[0]], 10)].map((p) => p.length), [1, 1, 1]);
});

Deno.test("encodeWatchBatch: responses sharing one events array, interleaved with others, encode alike", () => {
  const header = create(ResponseHeaderSchema, { clusterId: 1n, memberId: 2n, revision: 40n });
  const shared = [event("k", "v".repeat(70_000), 40n, false), event("k2", "w", 40n, true)];
  const other = [event("o", "x", 39n, false)];
  const batch: WatchResponse[] = [];
  for (let i = 0; i < 6; i++) {
    const events = i % 3 === 2 ? other : shared;
    batch.push(create(WatchResponseSchema, { header, watchId: BigInt(i), events }));
  }
  const want = batch.map((r) => toBinary(WatchResponseSchema, r));
  const got = unframe(encodeWatchBatch(batch));
  assert.equal(got.length, want.length);
  got.forEach((g, i) => assert.deepEqual(g, want[i], `response ${i}`));
  // A second batch with the same arrays (the memo is per batch) still matches.
  assert.deepEqual(unframe(encodeWatchBatch(batch.slice(1, 3))), want.slice(1, 3));
});

Deno.test("encodeWatchBatch into a reused buffer: the same bytes, grown when a batch needs more", () => {
  const all = samples();
  const buffer = new BatchBuffer(16);
  const small = encodeWatchBatch(all.slice(0, 1), buffer);
  assert.deepEqual(small, encodeWatchBatch(all.slice(0, 1)));
  const grown = encodeWatchBatch(all, buffer);
  assert.deepEqual(grown, encodeWatchBatch(all));
  assert.equal(grown.buffer, buffer.buf.buffer, "a view of the reused buffer");
  // Written again from the start: a smaller batch reuses the grown buffer.
  const again = encodeWatchBatch(all.slice(2, 4), buffer);
  assert.deepEqual(again, encodeWatchBatch(all.slice(2, 4)));
  assert.equal(again.buffer, grown.buffer);
  assert.equal(again.byteOffset, 0);
});

Deno.test("encodeWatchBatch: an events array shared by many responses, in one batch and across batches, encodes alike", () => {
  const header = create(ResponseHeaderSchema, { revision: 40n, clusterId: 1n });
  const shared = Array.from(
    { length: 30 },
    (_, i) => event(`k${i}`, "v".repeat(i * 3), BigInt(10 + i), false),
  );
  const other = [event("z", "1", 50n, false), event("z2", "", 51n, false)];
  const resp = (id: bigint, events: typeof shared) =>
    create(WatchResponseSchema, { header, watchId: id, events });
  const batches = [
    [resp(1n, shared), resp(2n, other), resp(3n, shared), resp(4n, shared)],
    [resp(5n, shared), resp(6n, shared.slice(1))],
    [resp(7n, other), resp(8n, shared)],
  ];
  for (const batch of batches) {
    const got = unframe(encodeWatchBatch(batch));
    assert.equal(got.length, batch.length);
    for (let i = 0; i < batch.length; i++) {
      assert.deepEqual(
        got[i],
        toBinary(WatchResponseSchema, batch[i]),
        `response ${batch[i].watchId}`,
      );
    }
  }
});
