/**
 * Who the peer port hears, and what a sender can make it hold: streams and
 * snapshots only from current members (404 for strangers, 410 for removed
 * members, who then stop), every message tied to its authenticated sender,
 * frames and snapshots bounded, buffers growing only with real bytes.
 * Requests are written by hand with cairn's own HTTP/2 client.
 */
import assert from "node:assert/strict";
import { encodeFrame, encodeMessage, FRAME_HEADER } from "./codec.ts";
import {
  ERR_REMOVED_MEMBER,
  ERR_SENDER_NOT_FOUND,
  FRAME_TARGET_BYTES,
  GrowingBuffer,
  H_SNAPSHOT_CRC,
  H_SNAPSHOT_SIZE,
  PATH_SNAPSHOT,
  PATH_STREAM,
} from "./protocol.ts";
import { app, peerHeaders, rawPeerRequest, startHarness, waitFor } from "./test_util.ts";
import { MessageType, newMessage } from "../raft/types.ts";
import { within } from "../http/h2/test_raw_client.ts";

const CLUSTER = 0xc1057e7n;

/** Opens a message stream on `url` claiming to come from `from` to `to`. */
function openStream(url: string, from: bigint, to: bigint) {
  return rawPeerRequest(url, PATH_STREAM, peerHeaders(CLUSTER, from, to));
}

Deno.test("peer auth: a stranger's stream gets 404, a removed member's 410, a member's 200", async () => {
  const b = await startHarness(2n, {
    isMember: (id) => id === 1n,
    isRemoved: (id) => id === 9n,
  });
  const calls = [];
  try {
    const stranger = await openStream(b.url, 7n, 2n);
    calls.push(stranger);
    assert.deepEqual(await stranger.response, { status: 404, error: ERR_SENDER_NOT_FOUND });
    const removed = await openStream(b.url, 9n, 2n);
    calls.push(removed);
    assert.deepEqual(await removed.response, { status: 410, error: ERR_REMOVED_MEMBER });
    // A snapshot is held to the same rule.
    const snap = await rawPeerRequest(b.url, PATH_SNAPSHOT, [
      ...peerHeaders(CLUSTER, 7n, 2n),
      [H_SNAPSHOT_SIZE, "1"],
      [H_SNAPSHOT_CRC, "0"],
    ]);
    calls.push(snap);
    assert.equal((await snap.response).status, 404);
    assert.ok(
      b.logs.some((l) => l.includes("rejected peer request") && l.includes(ERR_SENDER_NOT_FOUND)),
      "the refusal is logged",
    );
    // The member's own stream is accepted and its messages arrive.
    const member = await openStream(b.url, 1n, 2n);
    calls.push(member);
    assert.equal((await member.response).status, 200);
    member.stream.write(encodeFrame([app(1n, 2n, 1)]));
    await waitFor(() => b.received.length === 1, "the member's message");
  } finally {
    for (const c of calls) c.close();
    await b.t.stop();
  }
});

Deno.test("peer auth: a member the peer knows as removed hears 410 and reports its own removal", async () => {
  const removedBy: bigint[] = [];
  const b = await startHarness(2n, { isMember: () => false, isRemoved: (id) => id === 1n });
  const a = await startHarness(1n, { onRemoved: (p) => removedBy.push(p) });
  try {
    a.t.setPeer(2n, [b.url]);
    await waitFor(() => removedBy.length > 0, "onRemoved");
    assert.equal(removedBy[0], 2n);
    assert.equal(a.t.isActive(2n), false);
  } finally {
    await a.t.stop();
    await b.t.stop();
  }
});

Deno.test("peer stream: malformed or misattributed batches are refused, the stream reset, the member unharmed", async () => {
  const b = await startHarness(2n);
  const bad: [string, Uint8Array][] = [
    ["a message naming another sender", encodeFrame([app(3n, 2n, 1)])],
    ["a message for another member", encodeFrame([app(1n, 5n, 1)])],
    ["bytes that do not decode", new Uint8Array([0, 0, 0, 3, 0xff, 0xff, 0xff])],
    ["a local-only type", encodeFrame([newMessage({ type: MessageType.Hup, from: 1n, to: 2n })])],
    ["an append without a term", encodeFrame([{ ...app(1n, 2n, 1), term: 0 }])],
    ["an unknown type", encodeFrame([{ ...app(1n, 2n, 1), type: 42 as MessageType }])],
    [
      "a snapshot on the stream",
      encodeFrame([newMessage({
        type: MessageType.Snap,
        from: 1n,
        to: 2n,
        term: 1,
        snapshot: {
          meta: { index: 1, term: 1, confState: { voters: [], learners: [] } },
          data: new Uint8Array(),
        },
      })]),
    ],
  ];
  try {
    for (const [what, frame] of bad) {
      const call = await openStream(b.url, 1n, 2n);
      try {
        assert.equal((await call.response).status, 200, what);
        // A good message first: the bad frame must not take it back, and
        // must not let anything after it through.
        call.stream.write(encodeFrame([app(1n, 2n, 10)]));
        call.stream.write(frame);
        call.stream.write(encodeFrame([app(1n, 2n, 11)]));
        const why = await call.ended;
        // PROTOCOL_ERROR is code 1.
        assert.equal(why, "stream reset by the server (code 1)", what);
      } finally {
        call.close();
      }
      assert.deepEqual(b.received.map((m) => m.index), [10], `${what}: only the good message`);
      b.received.length = 0;
    }
    assert.equal(
      b.logs.filter((l) => l.includes("refused a frame on a peer stream")).length,
      bad.length,
    );
    // The member still takes a well-formed stream.
    const ok = await openStream(b.url, 1n, 2n);
    try {
      ok.stream.write(encodeFrame([app(1n, 2n, 1)]));
      await waitFor(() => b.received.length === 1, "a good message after the bad ones");
    } finally {
      ok.close();
    }
  } finally {
    await b.t.stop();
  }
});

Deno.test("peer stream: a frame announced over the limit is refused before its body is read", async () => {
  const b = await startHarness(2n, { maxFrameBytes: 1 << 20 });
  const call = await openStream(b.url, 1n, 2n);
  try {
    assert.equal((await call.response).status, 200);
    call.stream.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    assert.equal(await call.ended, "stream reset by the server (code 1)");
    assert.ok(b.logs.some((l) => l.includes("exceeds the limit of 1048576")));
  } finally {
    call.close();
    await b.t.stop();
  }
});

/** The frame carrying a Snap message's metadata, as a sender writes it. */
function snapshotHead(from: bigint, to: bigint): Uint8Array {
  const head = encodeMessage(newMessage({
    type: MessageType.Snap,
    from,
    to,
    term: 1,
    snapshot: {
      meta: { index: 5, term: 1, confState: { voters: [1n, 2n], learners: [] } },
      data: new Uint8Array(),
    },
  }));
  const frame = new Uint8Array(FRAME_HEADER + head.length);
  new DataView(frame.buffer).setUint32(0, head.length);
  frame.set(head, FRAME_HEADER);
  return frame;
}

Deno.test("peer snapshot: a 16 GiB claim gets 413 at once; a head naming another sender gets 400", async () => {
  const b = await startHarness(2n, { maxSnapshotBytes: 64 << 20 });
  const huge = await rawPeerRequest(b.url, PATH_SNAPSHOT, [
    ...peerHeaders(CLUSTER, 1n, 2n),
    [H_SNAPSHOT_SIZE, String(16 * 1024 ** 3)],
    [H_SNAPSHOT_CRC, "0"],
  ]);
  const forged = await rawPeerRequest(b.url, PATH_SNAPSHOT, [
    ...peerHeaders(CLUSTER, 1n, 2n),
    [H_SNAPSHOT_SIZE, "4"],
    [H_SNAPSHOT_CRC, "0"],
  ]);
  try {
    const r = await huge.response;
    assert.equal(r.status, 413);
    assert.match(r.error ?? "", /exceeds the limit/);
    forged.stream.write(snapshotHead(3n, 2n));
    forged.stream.end(new Uint8Array(4));
    const f = await forged.response;
    assert.equal(f.status, 400);
    assert.match(f.error ?? "", /arrived on the connection of 1/);
    assert.deepEqual(b.snapshots, []);
  } finally {
    huge.close();
    forged.close();
    await b.t.stop();
  }
});

Deno.test("GrowingBuffer: memory follows the bytes that arrived, not the size announced", () => {
  const before = Deno.memoryUsage().external;
  const bufs: GrowingBuffer[] = [];
  // Eight 512 MiB claims with a kilobyte each: an eager buffer would take 4 GiB.
  for (let i = 0; i < 8; i++) {
    const g = new GrowingBuffer(512 * 1024 * 1024);
    g.push(new Uint8Array(1024).fill(i));
    bufs.push(g);
  }
  const grown = Deno.memoryUsage().external - before;
  assert.ok(grown < 64 * 1024 * 1024, `external memory grew by ${grown} bytes`);
  assert.equal(bufs[0].length, 1024);
  assert.throws(() => bufs[0].take(), RangeError);

  // A complete body comes out as one exact buffer, whatever the chunking.
  const size = 3 * 1024 * 1024 + 7;
  const g = new GrowingBuffer(size);
  let off = 0;
  while (off < size) {
    const n = Math.min(100_000, size - off);
    g.push(new Uint8Array(n).map((_, i) => (off + i) & 0xff));
    off += n;
  }
  const body = g.take();
  assert.equal(body.length, size);
  assert.ok(body.every((v, i) => v === (i & 0xff)));
  assert.throws(() => g.push(new Uint8Array(1)), RangeError);
});

Deno.test("peer sender: a large backlog leaves in frames of about FRAME_TARGET_BYTES, in order", async () => {
  const a = await startHarness(1n);
  const b = await startHarness(2n);
  try {
    a.t.setPeer(2n, [b.url]);
    await waitFor(() => a.t.isActive(2n), "stream up");
    const n = 12;
    a.t.send(Array.from({ length: n }, (_, i) => app(1n, 2n, i, 1 << 20)));
    await waitFor(() => b.received.length === n, "all messages", 20_000);
    assert.deepEqual(b.received.map((m) => m.index), Array.from({ length: n }, (_, i) => i));
    assert.ok(b.batches.length >= 3, `batches ${b.batches}`);
    const perFrame = Math.ceil(FRAME_TARGET_BYTES / (1 << 20));
    assert.ok(b.batches.every((k) => k <= perFrame), `batches ${b.batches}`);
  } finally {
    await a.t.stop();
    await b.t.stop();
  }
});

Deno.test("peer endpoints: one connection cannot buffer more than 16 MiB of request bodies", async () => {
  const b = await startHarness(2n, {
    routes: (path) =>
      path === "/echo-size"
        ? (body) => ({
          status: 200,
          contentType: "text/plain",
          body: new TextEncoder().encode(String(body.length)),
        })
        : undefined,
  });
  const first = await rawPeerRequest(b.url, "/echo-size", []);
  const conn = first.conn;
  const open = (): typeof first => {
    const stream = conn.request([
      [":method", "POST"],
      [":scheme", "http"],
      [":authority", new URL(b.url).host],
      [":path", "/echo-size"],
    ], false);
    let onResponse!: (r: { status: number; error?: string }) => void;
    const response = new Promise<{ status: number; error?: string }>((r) => (onResponse = r));
    stream.listener = {
      response: (status, fields) =>
        onResponse({ status, error: fields.find(([n]) => n === "x-cairn-error")?.[1] }),
    };
    return { ...first, stream, response };
  };
  const body = new Uint8Array(4 * 1024 * 1024);
  try {
    // Four bodies of the largest size, none ended yet: 16 MiB held.
    const held = [first, open(), open(), open()];
    for (const c of held) c.stream.write(body);
    const fifth = open();
    fifth.stream.write(new Uint8Array(1024));
    // Bounded: without the budget the fifth would wait for its end forever.
    const r = await within(fifth.response, 5000, "the fifth request's answer");
    assert.equal(r.status, 413);
    assert.equal(r.error, "too many request bytes buffered on this connection");
    // Once one of them is answered its bytes are free again.
    held[0].stream.end();
    assert.equal((await held[0].response).status, 200);
    const sixth = open();
    sixth.stream.end(new Uint8Array(1024));
    assert.equal((await sixth.response).status, 200);
  } finally {
    conn.close();
    await b.t.stop();
  }
});
