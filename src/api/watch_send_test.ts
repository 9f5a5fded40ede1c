import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ResponseHeaderSchema,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { MvccStore } from "../mvcc/store.ts";
import { op, putReq, txnReq } from "../mvcc/test_helpers.ts";
import { WatchHub } from "../watch/hub.ts";
import { Event_EventType, EventSchema, KeyValueSchema } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { eventResponse, WatchStream } from "../watch/stream.ts";
import { encodeWatchBatch } from "../watch/batch_encode.ts";
import { PieceSender } from "./watch.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function response(i: number, valueBytes: number): WatchResponse {
  const header = create(ResponseHeaderSchema, { revision: BigInt(i + 2), clusterId: 1n });
  const kv = create(KeyValueSchema, {
    key: enc(`k${i}`),
    value: enc(String.fromCharCode(97 + (i % 26)).repeat(valueBytes)),
    modRevision: BigInt(i + 2),
    createRevision: 2n,
    version: 1n,
  });
  return eventResponse(
    header,
    BigInt(i),
    [create(EventSchema, { type: Event_EventType.PUT, kv })],
    0,
  );
}

Deno.test("PieceSender: pieces reuse two buffers, never rewriting one before the connection wrote it", async () => {
  const batch = Array.from({ length: 40 }, (_, i) => response(i, 300 + i * 7));
  const sent: { view: Uint8Array; copy: Uint8Array }[] = [];
  // The connection's socket: written() settles only when the test says.
  const pending: { upTo: number; done: () => void }[] = [];
  let writtenUpTo = 0;
  const checkUnchanged = () => {
    for (const s of sent) {
      assert.deepEqual(s.view, s.copy, "a piece's bytes changed before it was written");
    }
  };
  const sender = {
    sendFramed(framed: Uint8Array) {
      checkUnchanged();
      sent.push({ view: framed, copy: framed.slice() });
      return Promise.resolve();
    },
    written() {
      const upTo = sent.length;
      return new Promise<void>((done) => pending.push({ upTo, done }));
    },
  };
  const out = new PieceSender(sender, 2048);
  // A catch-up batch in pieces, then live puts one response at a time.
  const sending = (async () => {
    await out.send(batch);
    for (let i = 0; i < 6; i++) await out.send([response(100 + i, 50)]);
  })();
  let finished = false;
  sending.then(() => (finished = true));
  // Let the socket take one piece at a time, checking after every step.
  const deadline = Date.now() + 5000;
  while (!finished) {
    assert.ok(Date.now() < deadline, "the sends finished");
    await new Promise((r) => setTimeout(r, 0));
    checkUnchanged();
    // The socket has written the oldest piece.
    for (let i = writtenUpTo; i < sent.length; i++) {
      sent[i] = { view: sent[i].copy, copy: sent[i].copy };
    }
    writtenUpTo = sent.length;
    for (const p of pending.splice(0)) p.done();
  }
  assert.ok(sent.length > 5, `several pieces (${sent.length})`);
  // Together they are exactly the batch, each response whole in one piece.
  const all = new Uint8Array(sent.reduce((n, s) => n + s.copy.length, 0));
  let off = 0;
  for (const s of sent) (all.set(s.copy, off), off += s.copy.length);
  const singles = Array.from({ length: 6 }, (_, i) => response(100 + i, 50));
  assert.deepEqual(all, encodeWatchBatch([...batch, ...singles]));
});

Deno.test("PieceSender: a stream's responses (fragments, progress, catch-up) arrive whole and in order", async () => {
  const store = new MvccStore();
  const hub = new WatchHub({ retryMs: 1 });
  hub.attach(store);
  const header = (rev: number) =>
    create(ResponseHeaderSchema, { revision: BigInt(rev), clusterId: 1n });
  const stream = new WatchStream({ hub, header, maxRequestBytes: 300, bufferSize: 4 });
  const createReq = (key: string, rangeEnd: string, fragment: boolean, startRevision = 0n) =>
    create(WatchRequestSchema, {
      requestUnion: {
        case: "createRequest",
        value: { key: enc(key), rangeEnd: enc(rangeEnd), fragment, startRevision },
      },
    });
  for (let i = 0; i < 5; i++) store.put(putReq(`a${i}`, "x".repeat(40)));
  stream.handle(createReq("a", "b", true));
  stream.handle(createReq("a", "b", false, 2n)); // catches up from history
  stream.handle(createReq("a3", "", false));
  const frames: Uint8Array[] = [];
  const out = new PieceSender({
    sendFramed: (framed) => (frames.push(framed.slice()), Promise.resolve()),
    written: () => Promise.resolve(),
  }, 700);
  const expected: WatchResponse[] = [];
  const pump = async () => {
    const batch = stream.take();
    expected.push(...batch);
    if (batch.length > 0) await out.send(batch);
  };
  await pump();
  for (let round = 0; round < 12; round++) {
    store.txn(
      txnReq([], Array.from({ length: 4 }, (_, i) => op.put(`a${i}`, "y".repeat(60 + round)))),
    );
    store.put(putReq("a3", `${round}`));
    if (round === 6) {
      stream.handle(
        create(WatchRequestSchema, { requestUnion: { case: "progressRequest", value: {} } }),
      );
    }
    await pump();
    await new Promise((r) => setTimeout(r, 2)); // the hub's catch-up rounds
    await pump();
  }
  for (let i = 0; i < 50 && hub.counts.unsynced > 0; i++) {
    await new Promise((r) => setTimeout(r, 2));
    await pump();
  }
  assert.equal(hub.counts.unsynced, 0);
  // The bytes decode to exactly the responses taken, in the order taken.
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let off = 0;
  for (const f of frames) (all.set(f, off), off += f.length);
  const got: WatchResponse[] = [];
  for (let p = 0; p < all.length;) {
    const len = new DataView(all.buffer, p + 1, 4).getUint32(0);
    got.push(fromBinary(WatchResponseSchema, all.subarray(p + 5, p + 5 + len)));
    p += 5 + len;
  }
  assert.equal(got.length, expected.length);
  for (let i = 0; i < got.length; i++) {
    assert.deepEqual(
      toBinary(WatchResponseSchema, got[i]),
      toBinary(WatchResponseSchema, expected[i]),
      `response ${i}`,
    );
  }
  assert.ok(got.some((r) => r.fragment), "some responses were fragmented");
  assert.ok(got.some((r) => r.watchId === -1n), "the progress notification");
  // Per watcher, events come in revision order and none twice.
  for (const id of [0n, 1n, 2n]) {
    const revs = got.filter((r) => r.watchId === id).flatMap((r) =>
      r.events.map((e) => e.kv!.modRevision)
    );
    for (let i = 1; i < revs.length; i++) {
      assert.ok(revs[i] >= revs[i - 1], `watcher ${id} in order`);
    }
  }
  const keysOf = (id: bigint) =>
    got.filter((r) => r.watchId === id).flatMap((r) =>
      r.events.map((e) => `${new TextDecoder().decode(e.kv!.key)}@${e.kv!.modRevision}`)
    );
  assert.equal(new Set(keysOf(1n)).size, keysOf(1n).length, "no event twice");
  assert.equal(keysOf(1n)[0], "a0@2", "the catch-up starts at its start revision");
  stream.close();
  hub.close();
});
