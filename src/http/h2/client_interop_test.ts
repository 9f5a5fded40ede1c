/**
 * The HTTP/2 client (client.ts) against cairn's own server, node:http2's
 * server and a raw socket sending bad frames.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { H2ClientConnection, type H2ClientStream } from "./client.ts";
import { encodeHeaders, type HeaderField } from "./hpack.ts";
import { FrameType, frameU32, MAX_WINDOW, Setting, settingsFrame } from "./frames.ts";
import type { H2Stream } from "./stream.ts";
import { startTestH2Server } from "./test_server.ts";
import { within } from "./test_raw_client.ts";

const REQ: Array<[string, string]> = [
  [":method", "POST"],
  [":scheme", "http"],
  [":authority", "localhost"],
  [":path", "/echo"],
];

/** What a stream heard, with a promise for its end (or abort). */
function record(s: H2ClientStream) {
  const seen = {
    status: 0,
    chunks: [] as Uint8Array[],
    trailers: undefined as HeaderField[] | undefined,
    aborted: undefined as string | undefined,
    drains: 0,
  };
  const done = new Promise<void>((resolve) => {
    s.listener = {
      response: (status) => (seen.status = status),
      data: (c) => seen.chunks.push(c),
      end: (t) => {
        seen.trailers = t;
        resolve();
      },
      abort: (why) => {
        seen.aborted = why;
        resolve();
      },
      drain: () => seen.drains++,
    };
  });
  return { seen, done, body: () => Buffer.concat(seen.chunks) };
}

/** A server stream handler echoing the request body, consuming as it reads. */
function echo(s: H2Stream): void {
  s.respond(encodeHeaders([[":status", "200"]]));
  s.listener = {
    data: (c) => {
      s.writeNow(c);
      s.consumed(c.length);
    },
    end: () => s.end(),
  };
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

Deno.test("h2 client: a body far beyond every window is echoed byte for byte, with drain", async () => {
  const server = startTestH2Server(echo, { streamWindow: 70_000 });
  const c = await H2ClientConnection.connect("127.0.0.1", server.port, {
    streamWindow: 80_000,
    highWater: 256 * 1024,
  });
  try {
    const s = c.request(REQ, false);
    const r = record(s);
    const parts: Uint8Array[] = [];
    let saidWait = false;
    for (let i = 0; i < 400; i++) {
      const part = pattern(1 + (i * 7919) % 40_000, i);
      parts.push(part);
      if (!s.write(part)) saidWait = true;
    }
    s.end();
    await within(r.done, 10_000, "echo");
    assert.equal(r.seen.aborted, undefined);
    assert.equal(r.seen.status, 200);
    assert.deepEqual(r.body(), Buffer.concat(parts));
    assert.ok(saidWait, "several MiB queued at once must exceed the high-water mark");
    assert.ok(r.seen.drains > 0, "a stream told to wait hears drain");
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("h2 client: the server's window is honoured until the server consumes", async () => {
  let serverStream: H2Stream | undefined;
  let received = 0;
  let consuming = false;
  const server = startTestH2Server((s) => {
    serverStream = s;
    s.respond(encodeHeaders([[":status", "200"]]));
    s.listener = {
      data: (ch) => {
        received += ch.length;
        if (consuming) s.consumed(ch.length);
      },
      end: () => s.end(),
    };
  }, { streamWindow: 1000 });
  const c = await H2ClientConnection.connect("127.0.0.1", server.port);
  try {
    // Until the server's SETTINGS arrive the default 65,535 applies (RFC
    // 9113 §6.9.2): a PING answered means they were read.
    await within(c.ping(), 2000, "ping");
    const s = c.request(REQ, false);
    const r = record(s);
    s.end(pattern(5000, 1));
    await new Promise((res) => setTimeout(res, 200));
    assert.equal(received, 1000, "no more than the stream window before a WINDOW_UPDATE");
    // From now on the server consumes what arrives, the first 1000 bytes too.
    consuming = true;
    serverStream!.consumed(1000);
    for (let i = 0; i < 100 && received < 5000; i++) {
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(received, 5000);
    await within(r.done, 2000, "end");
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("h2 client: a reset stream aborts alone; ping, close and the calls after it", async () => {
  const server = startTestH2Server((s) => {
    if (s.path === "/reset") return s.reset();
    echo(s);
  });
  let closes = 0;
  const c = await H2ClientConnection.connect("127.0.0.1", server.port, {
    onClose: () => closes++,
  });
  try {
    const bad = record(c.request([...REQ.slice(0, 3), [":path", "/reset"]], true));
    const good = c.request(REQ, false);
    const ok = record(good);
    await within(bad.done, 2000, "reset");
    assert.match(bad.seen.aborted ?? "", /reset/);
    good.end(pattern(100, 3));
    await within(ok.done, 2000, "echo");
    assert.deepEqual(ok.body(), Buffer.from(pattern(100, 3)));
    await within(c.ping(), 2000, "ping");

    const open = record(c.request(REQ, false));
    c.close("test over");
    await within(open.done, 2000, "abort on close");
    assert.equal(open.seen.aborted, "test over");
    assert.equal(closes, 1);
    assert.ok(c.closed);
    await assert.rejects(c.ping());
    assert.throws(() => c.request(REQ, true));
    c.close();
    assert.equal(closes, 1, "onClose is called once");
  } finally {
    await server.close();
  }
});

Deno.test("h2 client: node:http2's server, trailers and GOAWAY", async () => {
  const server = http2.createServer();
  const sessions: http2.ServerHttp2Session[] = [];
  server.on("session", (s) => sessions.push(s));
  server.on("stream", (stream) => {
    stream.on("error", () => {});
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      stream.respond({ ":status": 201 }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "x-size": String(chunks.length) }));
      stream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const port = (server.address() as { port: number }).port;
  const c = await H2ClientConnection.connect("127.0.0.1", port);
  try {
    const req = c.request(REQ, false);
    const rr = record(req);
    req.write(pattern(70_000, 5));
    req.end(pattern(10, 6));
    await within(rr.done, 5000, "node answer");
    assert.equal(rr.seen.status, 201);
    assert.deepEqual(rr.body(), Buffer.concat([pattern(70_000, 5), pattern(10, 6)]));
    assert.ok(rr.seen.trailers?.some(([n]) => n === "x-size"), "trailers arrive with end");
    for (const sess of sessions) sess.goaway();
    for (let i = 0; i < 100 && !c.closed; i++) await new Promise((res) => setTimeout(res, 20));
    assert.ok(c.closed, "GOAWAY stops new requests");
    assert.throws(() => c.request(REQ, true));
  } finally {
    c.close();
    for (const sess of sessions) sess.destroy();
    await new Promise<void>((res) => server.close(() => res()));
  }
});

Deno.test("h2 client: an oversized frame from the server ends the connection as a protocol error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(1024);
    await conn.read(buf); // preface and SETTINGS
    // A DATA frame announcing 20,000 bytes: above the 16,384 never raised.
    const header = new Uint8Array([0x00, 0x4e, 0x20, 0x00, 0x00, 0, 0, 0, 1]);
    await conn.write(header);
    await new Promise((res) => setTimeout(res, 300));
    try {
      conn.close();
    } catch { /* closed by the client */ }
  })();
  const closed = Promise.withResolvers<string>();
  const c = await H2ClientConnection.connect("127.0.0.1", (listener.addr as Deno.NetAddr).port, {
    onClose: (why) => closed.resolve(why),
  });
  try {
    const why = await within(closed.promise, 2000, "close");
    assert.match(why, /protocol error/);
    assert.ok(c.closed);
  } finally {
    listener.close();
    await serving;
  }
});

Deno.test("h2 client: close() drops the socket at once even with a write stuck in it", async () => {
  // A peer whose network went silent stops reading; giving up on it must
  // not wait for TCP to time out the write.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const tcp = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  let socketClosed = false;
  const conn = {
    read: (p: Uint8Array) => tcp.read(p),
    write: (p: Uint8Array) => tcp.write(p),
    close() {
      socketClosed = true;
      tcp.close();
    },
  };
  const server = await accepted;
  // Windows wide open, then never a read: the client's socket fills up.
  await server.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]]));
  await server.write(frameU32(FrameType.WINDOW_UPDATE, 0, MAX_WINDOW - 65_535));
  const c = new H2ClientConnection(conn);
  c.start();
  const s = c.request(REQ, false);
  s.listener = { abort: () => {} };
  await new Promise((res) => setTimeout(res, 100)); // the SETTINGS are read
  for (let i = 0; i < 64; i++) s.write(pattern(1 << 20, i)); // far beyond the kernel's buffers
  await new Promise((res) => setTimeout(res, 300));
  c.close("peer silent");
  assert.ok(socketClosed, "the socket is closed by close() itself");
  server.close();
  listener.close();
});
