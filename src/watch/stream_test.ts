import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type ResponseHeader,
  ResponseHeaderSchema,
  WatchCreateRequest_FilterType,
  type WatchCreateRequestSchema,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { EventSchema } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { MvccStore } from "../mvcc/store.ts";
import { b, delReq, op, putReq, txnReq } from "../mvcc/test_helpers.ts";
import { fragmentResponse } from "./fragment.ts";
import { WatchHub } from "./hub.ts";
import { controlResponse, eventResponse, type StreamOptions, WatchStream } from "./stream.ts";
import { eventText, sleep } from "./test_sink.ts";

const header = (rev: number): ResponseHeader =>
  create(ResponseHeaderSchema, { revision: BigInt(rev), clusterId: 1n, memberId: 2n });

function setup(opts: Partial<StreamOptions> = {}) {
  const store = new MvccStore();
  const hub = new WatchHub({ retryMs: 5 });
  hub.attach(store);
  const stream = new WatchStream({ hub, header, maxRequestBytes: 1 << 20, ...opts });
  const close = () => {
    stream.close();
    hub.close();
  };
  return { store, hub, stream, close };
}

type CreateInit = MessageInitShape<typeof WatchCreateRequestSchema>;
const createReq = (v: CreateInit) =>
  create(WatchRequestSchema, { requestUnion: { case: "createRequest", value: v } });
const cancelReq = (watchId: bigint) =>
  create(WatchRequestSchema, { requestUnion: { case: "cancelRequest", value: { watchId } } });
const progressReq = () =>
  create(WatchRequestSchema, { requestUnion: { case: "progressRequest", value: {} } });

/** One line per response: id, flags, header revision and events. */
function show(r: WatchResponse): string {
  const parts = [`id=${r.watchId}`, `rev=${r.header?.revision}`];
  if (r.created) parts.push("created");
  if (r.canceled) parts.push("canceled");
  if (r.compactRevision !== 0n) parts.push(`compact=${r.compactRevision}`);
  if (r.cancelReason) parts.push(`reason=${r.cancelReason}`);
  if (r.fragment) parts.push("fragment");
  for (const ev of r.events) parts.push(eventText(ev) + (ev.prevKv ? " prev" : ""));
  return parts.join(" ");
}

Deno.test("stream: created first, server ids from 0, client ids, duplicate and empty range", () => {
  const { store, stream, close } = setup();
  store.put(putReq("k", "0"));
  stream.handle(createReq({ key: b("k") }));
  stream.handle(createReq({ key: b("k"), watchId: 5n }));
  stream.handle(createReq({ key: b("k"), watchId: 5n }));
  stream.handle(createReq({ key: b("b"), rangeEnd: b("a") }));
  stream.handle(createReq({ key: b("k") }));
  store.put(putReq("k", "1"));
  assert.deepEqual(stream.take().map(show), [
    "id=0 rev=2 created",
    "id=5 rev=2 created",
    "id=-1 rev=2 created canceled reason=mvcc: duplicate watch ID provided on the WatchStream",
    "id=-1 rev=2 created canceled reason=mvcc: watcher range is empty",
    "id=1 rev=2 created",
    "id=0 rev=3 PUT k=1@3",
    "id=5 rev=3 PUT k=1@3",
    "id=1 rev=3 PUT k=1@3",
  ]);
  close();
});

Deno.test("stream: cancel answers canceled; unknown ids get nothing; queued events dropped", () => {
  const { store, stream, close } = setup();
  stream.handle(createReq({ key: b("k") }));
  store.put(putReq("k", "1"));
  stream.handle(cancelReq(0n));
  stream.handle(cancelReq(42n));
  store.put(putReq("k", "2"));
  assert.deepEqual(stream.take().map(show), ["id=0 rev=1 created", "id=0 rev=2 canceled"]);
  close();
});

Deno.test("stream: prev_kv only when asked, never on create events", () => {
  const { store, stream, close } = setup();
  stream.handle(createReq({ key: b("k"), prevKv: true }));
  stream.handle(createReq({ key: b("k") }));
  store.put(putReq("k", "1"));
  store.put(putReq("k", "2"));
  store.deleteRange(delReq("k"));
  assert.deepEqual(stream.take().map(show).slice(2), [
    "id=0 rev=2 PUT k=1@2",
    "id=1 rev=2 PUT k=1@2",
    "id=0 rev=3 PUT k=2@3 prev",
    "id=1 rev=3 PUT k=2@3",
    "id=0 rev=4 DELETE k@4 prev",
    "id=1 rev=4 DELETE k@4",
  ]);
  close();
});

Deno.test("stream: filters from the create request", () => {
  const { store, stream, close } = setup();
  stream.handle(createReq({ key: b("k"), filters: [WatchCreateRequest_FilterType.NOPUT] }));
  store.put(putReq("k", "1"));
  store.deleteRange(delReq("k"));
  assert.deepEqual(stream.take().map(show), ["id=0 rev=1 created", "id=0 rev=3 DELETE k@3"]);
  close();
});

Deno.test("stream: progress request answers -1 with the current revision once all are synced", async () => {
  const { store, stream, close } = setup();
  stream.handle(progressReq());
  assert.deepEqual(stream.take().map(show), [], "no watchers, no progress (etcd 3.5)");
  for (let i = 0; i < 3; i++) store.put(putReq("x", `${i}`));
  stream.handle(createReq({ key: b("k") }));
  stream.handle(createReq({ key: b("x"), startRevision: 2n }));
  stream.handle(progressReq()); // deferred: watcher 1 is still catching up
  assert.deepEqual(stream.take().map(show), ["id=0 rev=4 created", "id=1 rev=4 created"]);
  await stream.wait();
  await sleep(10);
  assert.deepEqual(stream.take().map(show), [
    "id=1 rev=4 PUT x=0@2 PUT x=1@3 PUT x=2@4",
    "id=-1 rev=4",
  ]);
  stream.handle(progressReq());
  assert.deepEqual(stream.take().map(show), ["id=-1 rev=4"]);
  close();
});

Deno.test("stream: progress_notify ticks only for quiet, synced watchers", () => {
  // Ticks are driven by hand: wall-clock sleeps let a loaded machine fit
  // two ticks where the test expected one.
  let tick = () => {};
  const { store, stream, close } = setup({
    progressIntervalMs: 40,
    progressTimer: (t) => {
      tick = t;
      return () => {};
    },
  });
  stream.handle(createReq({ key: b("k"), progressNotify: true }));
  stream.handle(createReq({ key: b("j") }));
  stream.take();
  tick();
  assert.deepEqual(stream.take().map(show), ["id=0 rev=1"]);
  store.put(putReq("k", "1"));
  stream.take(); // the event resets the quiet flag
  tick();
  assert.deepEqual(stream.take().map(show), [], "an event since the last tick elides progress");
  tick();
  assert.deepEqual(stream.take().map(show), ["id=0 rev=2"]);
  close();
});

Deno.test("stream: a full buffer demotes the watcher; it catches up once drained", async () => {
  const { store, stream, hub, close } = setup({ bufferSize: 2 });
  stream.handle(createReq({ key: b("k") }));
  for (let i = 0; i < 10; i++) store.put(putReq("k", `${i}`));
  assert.equal(hub.counts.unsynced, 1);
  const got: string[] = [];
  while (got.length < 10) {
    await stream.wait();
    for (const r of stream.take()) got.push(...r.events.map(eventText));
    await sleep(2);
  }
  assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => `PUT k=${i}@${i + 2}`));
  await sleep(10);
  assert.equal(hub.counts.synced, 1);
  close();
});

Deno.test("stream: fragment splits a large revision by max request bytes", () => {
  const { store, stream, close } = setup({ maxRequestBytes: 300 });
  stream.handle(createReq({ key: b("k"), rangeEnd: b("l"), fragment: true }));
  stream.handle(createReq({ key: b("k"), rangeEnd: b("l") }));
  stream.take();
  // One revision of six 100-byte values: about 700 bytes in one response.
  store.txn(txnReq([], Array.from({ length: 6 }, (_, i) => op.put(`k${i}`, "v".repeat(100)))));
  const out = stream.take();
  const frag = out.filter((r) => r.watchId === 0n);
  const whole = out.filter((r) => r.watchId === 1n);
  assert.equal(whole.length, 1);
  assert.equal(whole[0].events.length, 6);
  assert.ok(frag.length > 1);
  assert.deepEqual(frag.map((r) => r.fragment), [...frag.slice(1).map(() => true), false]);
  assert.deepEqual(frag.flatMap((r) => r.events.map(eventText)), whole[0].events.map(eventText));
  close();
});

Deno.test("fragmentResponse: pieces stay under the limit unless one event alone exceeds it", () => {
  const ev = (i: number, size: number) => ({
    type: 0,
    kv: { key: b(`k${i}`), value: b("x".repeat(size)), modRevision: 9n },
  });
  const resp = create(WatchResponseSchema, {
    watchId: 3n,
    events: [ev(0, 50), ev(1, 50), ev(2, 500), ev(3, 10), ev(4, 10)],
  });
  const pieces = fragmentResponse(resp, 200);
  assert.deepEqual(pieces.map((p) => p.events.length), [2, 1, 2]);
  for (const p of pieces.slice(0, -1)) assert.ok(p.fragment);
  assert.equal(pieces.at(-1)!.fragment, false);
  for (const p of pieces) {
    const size =
      toBinary(WatchResponseSchema, create(WatchResponseSchema, { ...p, fragment: true }))
        .length;
    assert.ok(size < 200 || p.events.length === 1, `piece of ${size} bytes`);
  }
  assert.deepEqual(fragmentResponse(resp, 10_000), [resp]);
});

Deno.test("eventResponse: the same message create(WatchResponseSchema) makes", () => {
  const header = create(ResponseHeaderSchema, { clusterId: 1n, memberId: 2n, revision: 9n });
  const ev = create(EventSchema, { kv: { key: new Uint8Array([97]), modRevision: 9n } });
  for (const [events, compact] of [[[ev], 0], [[], 0], [[], 7]] as const) {
    const expected = create(WatchResponseSchema, {
      header,
      watchId: 3n,
      events: [...events],
      compactRevision: BigInt(compact),
      canceled: compact !== 0,
    });
    const got = eventResponse(header, 3n, [...events], compact);
    assert.deepStrictEqual(got, expected);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort());
    assert.deepEqual(
      toBinary(WatchResponseSchema, got),
      toBinary(WatchResponseSchema, expected),
    );
  }
});

Deno.test("controlResponse: the same message create(WatchResponseSchema) makes", () => {
  const header = create(ResponseHeaderSchema, { clusterId: 1n, memberId: 2n, revision: 9n });
  const cases = [
    [3n, true, false, ""],
    [3n, false, true, ""],
    [-1n, true, true, "mvcc: watcher range is empty"],
    [-1n, false, false, ""],
  ] as const;
  for (const [watchId, created, canceled, cancelReason] of cases) {
    const expected = create(WatchResponseSchema, {
      header,
      watchId,
      created,
      canceled,
      cancelReason,
    });
    const got = controlResponse(header, watchId, created, canceled, cancelReason);
    assert.deepStrictEqual(got, expected);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort());
    assert.deepEqual(
      toBinary(WatchResponseSchema, got),
      toBinary(WatchResponseSchema, expected),
    );
  }
});

Deno.test("stream: watchers skipped because the buffer was full catch up as soon as it drains, not on the retry timer", () => {
  // A clock whose timers only run when the test fires them.
  const now = 0;
  const timers = new Map<number, { due: number; fn: () => void }>();
  let nextTimer = 1;
  const clock = {
    now: () => now,
    monotonic: () => now,
    setTimeout: (fn: () => void, ms: number) => {
      timers.set(nextTimer, { due: now + ms, fn });
      return nextTimer++;
    },
    clearTimeout: (id: number | undefined) => void timers.delete(id as number),
    setInterval: () => 0,
    clearInterval: () => {},
  };
  const runDue = () => {
    for (const [id, t] of [...timers]) {
      if (t.due > now) continue;
      timers.delete(id);
      t.fn();
    }
  };
  const store = new MvccStore();
  const hub = new WatchHub({ retryMs: 1000, clock });
  hub.attach(store);
  const stream = new WatchStream({ hub, header, maxRequestBytes: 1 << 20, bufferSize: 1 });
  for (let i = 0; i < 3; i++) store.put(putReq(`k${i}`, `${i}`));
  for (let i = 0; i < 3; i++) stream.handle(createReq({ key: b(`k${i}`), startRevision: 1n }));
  assert.equal(hub.counts.unsynced, 3);
  stream.take(); // the three "created" responses
  runDue(); // one catch-up round: k0's watcher fills the buffer, the other two are skipped
  assert.deepEqual(stream.take().flatMap((r) => r.events.map(eventText)), ["PUT k0=0@2"]);
  // Drained: the next round is due now, not 1000 ms later.
  assert.ok([...timers.values()].some((t) => t.due === now), "a round is scheduled at once");
  const got: string[] = [];
  for (let round = 0; round < 4 && hub.counts.unsynced > 0; round++) {
    runDue();
    for (const r of stream.take()) got.push(...r.events.map(eventText));
  }
  assert.deepEqual(got, ["PUT k1=1@3", "PUT k2=2@4"]);
  assert.equal(hub.counts.synced, 3);
  stream.close();
  hub.close();
});
