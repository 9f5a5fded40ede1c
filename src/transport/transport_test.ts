import assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as net from "node:net";
import { type Message, MessageType, newMessage } from "../raft/types.ts";
import { app, freePort, type Harness, mesh, startHarness, waitFor } from "./test_util.ts";
import { H2ClientConnection } from "../http/h2/client.ts";
import { encodeFrame } from "./codec.ts";
import { crc32c } from "../wire/crc32c.ts";
import type { SnapshotSource } from "./transport.ts";
import { formatId, H_CLUSTER_ID, H_FROM, H_TO, PATH_STREAM } from "./protocol.ts";

async function stopAll(hs: Harness[]): Promise<void> {
  await Promise.all(hs.map((h) => h.t.stop()));
}

Deno.test("transport: two members exchange batches in order, one batch per turn", async () => {
  const a = await startHarness(1n);
  const b = await startHarness(0xfedcba9876543210n);
  try {
    mesh([a, b]);
    await waitFor(() => a.t.isActive(b.id) && b.t.isActive(a.id), "streams up");
    // Three turns of 100 messages each: each turn must arrive as one batch.
    for (let turn = 0; turn < 3; turn++) {
      a.t.send(Array.from({ length: 50 }, (_, i) => app(a.id, b.id, turn * 100 + i)));
      a.t.send(Array.from({ length: 50 }, (_, i) => app(a.id, b.id, turn * 100 + 50 + i)));
      b.t.send([app(b.id, a.id, turn)]);
      await waitFor(() => b.received.length === (turn + 1) * 100, `turn ${turn}`);
    }
    assert.deepEqual(b.batches, [100, 100, 100]);
    assert.deepEqual(b.received.map((m) => m.index), Array.from({ length: 300 }, (_, i) => i));
    assert.deepEqual(b.received[7], app(a.id, b.id, 7)); // every field intact
    await waitFor(() => a.received.length === 3, "replies");
    assert.deepEqual(a.received.map((m) => [m.from, m.index]), [[b.id, 0], [b.id, 1], [b.id, 2]]);
    assert.deepEqual([...a.unreachable, ...b.unreachable], []);
    assert.deepEqual([...a.logs, ...b.logs], []);
  } finally {
    await stopAll([a, b]);
  }
});

Deno.test("transport: three members, every pair in order", async () => {
  const hs = await Promise.all([1n, 2n, 3n].map((id) => startHarness(id)));
  try {
    mesh(hs);
    await waitFor(() => hs.every((x) => hs.every((y) => x === y || x.t.isActive(y.id))), "mesh");
    for (let round = 0; round < 20; round++) {
      for (const x of hs) {
        x.t.send(hs.filter((y) => y !== x).map((y) => app(x.id, y.id, round)));
      }
      await new Promise((r) => setTimeout(r, round % 5)); // vary how turns interleave
    }
    await waitFor(() => hs.every((h) => h.received.length === 40), "all messages");
    for (const h of hs) {
      for (const other of hs.filter((y) => y !== h)) {
        const from = h.received.filter((m) => m.from === other.id).map((m) => m.index);
        assert.deepEqual(from, Array.from({ length: 20 }, (_, i) => i));
      }
    }
    // A message to an unknown member is dropped quietly; a malformed one never throws.
    hs[0].t.send([app(1n, 99n, 0)]);
    hs[0].t.send([{ type: MessageType.App, to: 2n } as unknown as Message]);
    await waitFor(() => hs[0].unreachable.length === 1, "malformed message reported");
    hs[0].unreachable.length = 0;
    assert.deepEqual(hs.flatMap((h) => h.unreachable), []);
  } finally {
    await stopAll(hs);
  }
});

Deno.test("transport: a peer that is down is reported, then messages resume when it comes up", async () => {
  const port = await freePort();
  const a = await startHarness(1n, { limits: { minBackoffMs: 10, maxBackoffMs: 50 } });
  let b: Harness | undefined;
  try {
    a.t.setPeer(2n, [`http://127.0.0.1:${port}`]);
    await waitFor(() => {
      a.t.send([app(1n, 2n, 0)]);
      return a.unreachable.length > 0;
    }, "onUnreachable while down");
    assert.equal(a.unreachable[0], 2n);
    assert.equal(a.t.isActive(2n), false);
    b = await startHarness(2n, { port });
    await waitFor(() => a.t.isActive(2n), "reconnect");
    a.t.send([app(1n, 2n, 41), app(1n, 2n, 42)]);
    await waitFor(() => b!.received.length === 2, "messages after reconnect");
    assert.deepEqual(b.received.map((m) => m.index), [41, 42]);
    // And it goes down again: reported as soon as the connection breaks.
    const before = a.unreachable.length;
    await b.t.stop();
    await waitFor(() => !a.t.isActive(2n) && a.unreachable.length > before, "loss noticed");
    assert.ok(a.logs.some((l) => l.includes("peer became inactive")));
  } finally {
    await stopAll(b ? [a, b] : [a]);
  }
});

Deno.test("transport: a peer of another cluster is refused and logged", async () => {
  const a = await startHarness(1n, { clusterId: 0xaaaan });
  const b = await startHarness(2n, { clusterId: 0xbbbbn });
  try {
    a.t.setPeer(b.id, [b.url]);
    await waitFor(() => b.logs.some((l) => l.includes("request cluster ID mismatch")), "b logs");
    const line = JSON.parse(b.logs.find((l) => l.includes("cluster ID mismatch"))!);
    assert.equal(line["remote-peer-cluster-id"], "aaaa");
    assert.equal(line["local-member-cluster-id"], "bbbb");
    await waitFor(() => a.logs.some((l) => l.includes("cluster ID mismatch")), "a logs refusal");
    await waitFor(() => {
      a.t.send([app(1n, 2n, 0)]);
      return a.unreachable.length > 0;
    }, "drops reported");
    assert.equal(a.t.isActive(b.id), false);
    assert.deepEqual(b.received, []);
  } finally {
    await stopAll([a, b]);
  }
});

Deno.test("transport: a 20 MiB snapshot arrives intact beside the message stream", async () => {
  const a = await startHarness(1n);
  const b = await startHarness(2n);
  try {
    mesh([a, b]);
    const data = new Uint8Array(20 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) crypto.getRandomValues(data.subarray(i, i + 4096));
    const snap = newMessage({
      type: MessageType.Snap,
      from: 1n,
      to: 2n,
      term: 3,
      snapshot: {
        meta: { index: 500, term: 3, confState: { voters: [1n, 2n], learners: [] } },
        data,
      },
    });
    a.t.send([snap, app(1n, 2n, 1)]);
    await waitFor(() => a.snapshotStatus.length === 1, "snapshot status", 10_000);
    assert.deepEqual(a.snapshotStatus, [[2n, true]]);
    assert.equal(b.snapshots.length, 1);
    const got = b.snapshots[0];
    assert.deepEqual(got.snapshot!.meta, snap.snapshot!.meta);
    assert.equal(got.snapshot!.data.length, data.length);
    assert.ok(got.snapshot!.data.every((v, i) => v === data[i]), "data intact");
    assert.deepEqual({ ...got, snapshot: undefined }, { ...snap, snapshot: undefined });
    // The message stream may still be connecting (a loaded machine, and the
    // 20 MiB comparison above held the loop): bounded, but not tight.
    await waitFor(() => b.received.length === 1, "the message sent with it", 15_000);
  } finally {
    await stopAll([a, b]);
  }
});

/** A snapshot source over `body` that counts what was read and whether it was closed. */
function countingSource(body: Uint8Array, failAt?: number) {
  let off = 0;
  const seen = { read: 0, pieces: [] as number[], closed: false };
  const src: SnapshotSource = {
    size: body.length,
    crc: crc32c(body),
    next(max) {
      if (failAt !== undefined && off >= failAt) {
        return Promise.reject(new Error("disk read error"));
      }
      if (off === body.length) return Promise.resolve(null);
      const piece = body.slice(off, Math.min(off + max, body.length));
      off += piece.length;
      seen.read = off;
      seen.pieces.push(piece.length);
      return Promise.resolve(piece);
    },
    close() {
      seen.closed = true;
    },
  };
  return { src, seen };
}

function snapMessage(index: number): Message {
  return newMessage({
    type: MessageType.Snap,
    from: 1n,
    to: 2n,
    term: 3,
    snapshot: {
      meta: { index, term: 3, confState: { voters: [1n, 2n], learners: [] } },
      data: new Uint8Array(0),
    },
  });
}

Deno.test("transport: a snapshot message without data streams the body openSnapshot opens, a chunk at a time; a failed, damaged or hung read fails the send", async () => {
  const body = new Uint8Array(300_000).map((_, i) => (i * 13) & 0xff);
  const good = countingSource(body);
  const broken = countingSource(body, 100_000);
  const asked: number[] = [];
  const a = await startHarness(1n, {
    openSnapshot: (meta) => {
      asked.push(meta.index);
      if (meta.index === 300) return new Promise<SnapshotSource>(() => {}); // a hung disk
      if (meta.index === 400) return Promise.reject(new Error("file gone"));
      return Promise.resolve(meta.index === 500 ? good.src : broken.src);
    },
    limits: { snapshotIdleMs: 300, snapshotChunkBytes: 64 * 1024 },
  });
  const b = await startHarness(2n);
  try {
    mesh([a, b]);
    a.t.send([snapMessage(500)]);
    await waitFor(() => a.snapshotStatus.length === 1, "snapshot status", 10_000);
    assert.deepEqual(a.snapshotStatus, [[2n, true]]);
    assert.deepEqual(b.snapshots[0].snapshot!.data, body, "the body read for it arrived");
    assert.deepEqual(good.seen.pieces, [65536, 65536, 65536, 65536, 37856], "in chunks");
    assert.ok(good.seen.closed, "closed once sent");
    a.t.send([snapMessage(400)]);
    await waitFor(() => a.snapshotStatus.length === 2, "second snapshot status", 10_000);
    assert.deepEqual(a.snapshotStatus[1], [2n, false], "the file could not be opened");
    a.t.send([snapMessage(300)]);
    await waitFor(() => a.snapshotStatus.length === 3, "third snapshot status", 10_000);
    assert.deepEqual(a.snapshotStatus[2], [2n, false], "an open that never ends times out");
    a.t.send([snapMessage(600)]);
    await waitFor(() => a.snapshotStatus.length === 4, "fourth snapshot status", 10_000);
    assert.deepEqual(a.snapshotStatus[3], [2n, false], "a read failed halfway");
    assert.ok(broken.seen.closed, "closed after the failure");
    assert.equal(b.snapshots.length, 1, "the receiver took no partial snapshot");
    assert.deepEqual(asked, [500, 400, 300, 600]);
  } finally {
    await stopAll([a, b]);
  }
});

Deno.test("transport: a snapshot is read only as fast as the receiver takes it", async () => {
  // A receiver that accepts the transfer but never reads its body: the
  // sender must stop reading the file once the stream is full, not load
  // the whole body into memory waiting for it.
  const taken: number[] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    stream.pause();
    if (headers[":path"] === "/raft/snapshot") taken.push(1);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const body = new Uint8Array(32 << 20);
  const { src, seen } = countingSource(body);
  const a = await startHarness(1n, {
    openSnapshot: () => Promise.resolve(src),
    limits: { snapshotIdleMs: 2_000, snapshotChunkBytes: 64 * 1024 },
  });
  try {
    a.t.setPeer(2n, [`http://127.0.0.1:${port}`]);
    a.t.send([snapMessage(700)]);
    await waitFor(() => taken.length === 1 && seen.read > 0, "the transfer started", 10_000);
    // Reading stops; the idle limit then fails the send.
    await waitFor(() => a.snapshotStatus.length === 1, "the stalled send fails", 10_000);
    assert.deepEqual(a.snapshotStatus, [[2n, false]]);
    assert.ok(
      seen.read <= 4 << 20,
      `read ${seen.read} bytes of ${body.length} for a stalled stream`,
    );
    assert.ok(seen.closed);
  } finally {
    await a.t.stop();
    server.close();
  }
});

Deno.test("transport: a corrupt snapshot is refused; an unreachable one fails", async () => {
  const b = await startHarness(2n);
  const client = http2.connect(b.url);
  client.on("error", () => {});
  try {
    const req = client.request({
      ":method": "POST",
      ":path": "/raft/snapshot",
      "x-cairn-cluster-id": (0xc1057e7n).toString(16),
      "x-cairn-from": "1",
      "x-cairn-to": "2",
      "x-cairn-snapshot-size": "3",
      "x-cairn-snapshot-crc32c": "12345",
    });
    req.on("error", () => {});
    const { encodeMessage } = await import("./codec.ts");
    const head = encodeMessage(newMessage({
      type: MessageType.Snap,
      from: 1n,
      to: 2n,
      term: 1,
      snapshot: {
        meta: { index: 1, term: 1, confState: { voters: [], learners: [] } },
        data: new Uint8Array(),
      },
    }));
    const frame = new Uint8Array([0, 0, 0, head.length, ...head, 1, 2, 3]);
    req.end(frame);
    const status = await new Promise((r) => req.on("response", (h) => r(h[":status"])));
    assert.equal(status, 400);
    assert.deepEqual(b.snapshots, []);
    assert.ok(b.logs.some((l) => l.includes("snapshot checksum mismatch")));
  } finally {
    client.destroy();
    await b.t.stop();
  }
  // A snapshot to a peer nobody listens for fails with onSnapshotStatus(false).
  const a = await startHarness(1n);
  try {
    a.t.setPeer(3n, [`http://127.0.0.1:${await freePort()}`]);
    a.t.send([newMessage({
      type: MessageType.Snap,
      to: 3n,
      snapshot: {
        meta: { index: 1, term: 1, confState: { voters: [], learners: [] } },
        data: new Uint8Array(10),
      },
    })]);
    await waitFor(() => a.snapshotStatus.length === 1, "failure status");
    assert.deepEqual(a.snapshotStatus, [[3n, false]]);
  } finally {
    await a.t.stop();
  }
});

Deno.test("transport: a peer that stops reading does not hold up another", async () => {
  // A fake member that accepts the stream and then never reads from it.
  const stalled: http2.ServerHttp2Stream[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  const slow = http2.createServer();
  slow.on("error", () => {});
  slow.on("session", (s) => {
    sessions.push(s);
    s.on("error", () => {});
  });
  slow.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.respond({ ":status": 200 });
    stream.pause();
    stalled.push(stream);
  });
  await new Promise<void>((r) => slow.listen(0, "127.0.0.1", () => r()));
  const slowPort = (slow.address() as net.AddressInfo).port;
  const limits = { maxQueuedMessages: 64, maxQueuedBytes: 1024 * 1024 };
  const a = await startHarness(1n, { limits });
  const b = await startHarness(2n);
  try {
    a.t.setPeer(2n, [b.url]);
    a.t.setPeer(9n, [`http://127.0.0.1:${slowPort}`]);
    await waitFor(() => a.t.isActive(2n) && a.t.isActive(9n), "both active");
    const turns = 200;
    for (let turn = 0; turn < turns; turn++) {
      const msgs = [app(1n, 2n, turn)];
      for (let i = 0; i < 8; i++) msgs.push(app(1n, 9n, turn * 8 + i, 16 * 1024));
      a.t.send(msgs);
      assert.ok(a.t.queued(9n) <= limits.maxQueuedMessages, "queue bound");
      await new Promise((r) => setTimeout(r, 0));
    }
    await waitFor(() => b.received.length === turns, "the healthy peer got everything");
    assert.deepEqual(b.received.map((m) => m.index), Array.from({ length: turns }, (_, i) => i));
    assert.ok(a.unreachable.includes(9n), "drops to the stalled peer reported");
    assert.ok(!a.unreachable.includes(2n));
    assert.ok(a.t.queued(9n) > 0 && a.t.queued(9n) <= limits.maxQueuedMessages);
  } finally {
    await stopAll([a, b]);
    for (const s of sessions) s.destroy();
    await new Promise<void>((r) => slow.close(() => r()));
  }
});

Deno.test("transport: stop() closes listeners and connections", async () => {
  const a = await startHarness(1n);
  const b = await startHarness(2n);
  mesh([a, b]);
  await waitFor(() => a.t.isActive(2n) && b.t.isActive(1n), "streams up");
  const port = a.t.addresses[0].port;
  await a.t.stop();
  await a.t.stop(); // idempotent
  assert.equal(a.t.isActive(2n), false);
  a.t.send([app(1n, 2n, 0)]); // ignored, no throw
  await waitFor(() => !b.t.isActive(1n), "b sees a gone");
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(true));
  });
  assert.ok(refused, "listener closed");
  await b.t.stop();
  // Deno's op and resource sanitizers fail this test if anything was left open.
});

Deno.test("transport: a peer whose network goes silent is detected by PING", async () => {
  const a = await startHarness(1n, { limits: { pingIntervalMs: 20, pingTimeoutMs: 100 } });
  const b = await startHarness(2n);
  // A TCP relay from a to b that can be frozen: bytes stop flowing, nothing is reset.
  let frozen = false;
  const sockets: net.Socket[] = [];
  const relay = net.createServer((down) => {
    const up = net.connect(b.t.addresses[0].port, "127.0.0.1");
    sockets.push(down, up);
    for (const [from, to] of [[down, up], [up, down]]) {
      from.on("error", () => {});
      from.on("data", (d) => {
        if (!frozen) to.write(d);
      });
    }
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
  try {
    a.t.setPeer(2n, [`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`]);
    await waitFor(() => a.t.isActive(2n), "active through the relay");
    a.t.send([app(1n, 2n, 1)]);
    await waitFor(() => b.received.length === 1, "delivered");
    await new Promise((r) => setTimeout(r, 100)); // pings keep succeeding meanwhile
    assert.ok(a.t.isActive(2n));
    frozen = true;
    await waitFor(() => !a.t.isActive(2n), "silence noticed", 2000);
    assert.deepEqual(a.unreachable, [2n]);
    assert.ok(a.logs.some((l) => l.includes("no answer to PING")));
    // A first connection into the silence: what was queued is dropped once it times out.
    const c = await startHarness(3n, { limits: { pingIntervalMs: 20, pingTimeoutMs: 100 } });
    try {
      c.t.setPeer(2n, [`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`]);
      c.t.send([app(3n, 2n, 1)]);
      assert.equal(c.t.queued(2n), 1);
      await waitFor(() => c.unreachable.length === 1, "connect timeout", 2000);
      assert.equal(c.t.queued(2n), 0);
    } finally {
      await c.t.stop();
    }
  } finally {
    await stopAll([a, b]);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => relay.close(() => r()));
  }
});

Deno.test("transport: a peer's new message stream closes its old connection", async () => {
  // A partition or a vanished peer host can leave the old connection open
  // on our side with nobody behind it; the peer's next stream replaces it.
  const b = await startHarness(2n);
  const url = new URL(b.url);
  const closed: string[] = [];
  const open = async (n: number) => {
    const c = await H2ClientConnection.connect(url.hostname, Number(url.port), {
      onClose: (why) => closed.push(`${n}: ${why}`),
    });
    const s = c.request([
      [":method", "POST"],
      [":scheme", "http"],
      [":authority", url.host],
      [":path", PATH_STREAM],
      [H_CLUSTER_ID, formatId(0xc1057e7n)],
      [H_FROM, formatId(1n)],
      [H_TO, formatId(2n)],
    ], false);
    const status = await new Promise<number>((resolve) => {
      s.listener = { response: resolve, abort: () => resolve(0) };
    });
    assert.equal(status, 200);
    return { c, s };
  };
  try {
    const first = await open(1);
    const second = await open(2);
    await waitFor(() => closed.some((l) => l.startsWith("1:")), "old connection closed");
    assert.ok(!second.c.closed, "the new connection stays");
    second.s.write(encodeFrame([app(1n, 2n, 5)]));
    await waitFor(() => b.received.length === 1, "messages flow on the new stream");
    first.c.close();
    second.c.close();
  } finally {
    await stopAll([b]);
  }
});
