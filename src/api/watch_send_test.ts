import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { ResponseHeaderSchema, type WatchResponse } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Event_EventType, EventSchema, KeyValueSchema } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { eventResponse } from "../watch/stream.ts";
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
