/**
 * Tests of the HTTP/2 client (client.ts): against cairn's own server
 * (test_server.ts), against node:http2's server, and against a raw server
 * (test_raw_server.ts) that sends exactly the frames a test wants, malformed
 * ones included. Every wait is bounded.
 */
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { type ClientStreamListener, H2ClientConnection, type H2ClientStream } from "./client.ts";
import { encodeHeaders, type HeaderField, pushInt } from "./hpack.ts";
import type { H2Options } from "./connection.ts";
import type { H2Stream } from "./stream.ts";
import { startTestH2Server } from "./test_server.ts";
import { rawFrame, readU32, settingsPayload, T, u32, within } from "./test_raw_client.ts";
import { headersFrame, isSettings, startRawServer } from "./test_raw_server.ts";

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PROTOCOL_ERROR = 1;
const FLOW_CONTROL_ERROR = 3;
const FRAME_SIZE_ERROR = 6;
const REFUSED_STREAM = 7;
const CANCEL = 8;
const COMPRESSION_ERROR = 9;
const SETTINGS_ENABLE_PUSH = 2;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;
const SETTINGS_MAX_FRAME_SIZE = 5;

const enc = new TextEncoder();
const dec = new TextDecoder();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

function req(path = "/echo", method = "POST"): Array<[string, string]> {
  return [[":method", method], [":scheme", "http"], [":authority", "localhost"], [":path", path]];
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return b;
}

/** Polls `cond` every 10 ms; throws after `ms`. */
async function waitFor(cond: () => boolean, ms = 2000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await sleep(10);
  }
}

/** Everything a stream heard, in order, with a promise settled by its end or abort. */
function record(s: H2ClientStream, extra: ClientStreamListener = {}) {
  const seen = {
    events: [] as string[],
    status: 0,
    fields: [] as HeaderField[],
    chunks: [] as Uint8Array[],
    trailers: undefined as HeaderField[] | undefined,
    aborted: undefined as string | undefined,
  };
  const done = new Promise<void>((resolve) => {
    s.listener = {
      ...extra,
      response: (status, fields) => {
        seen.events.push("response");
        seen.status = status;
        seen.fields = fields;
      },
      data: (c) => {
        if (seen.events.at(-1) !== "data") seen.events.push("data");
        seen.chunks.push(c);
      },
      end: (t) => {
        seen.events.push("end");
        seen.trailers = t;
        resolve();
      },
      abort: (why) => {
        seen.events.push("abort");
        seen.aborted = why;
        resolve();
      },
    };
  });
  const header = (name: string) => seen.fields.find(([n]) => n === name)?.[1];
  return { seen, done, header, body: () => Buffer.concat(seen.chunks) };
}

/** Echoes the request body (consuming it as it is read), with the path in `x-path`. */
function echo(s: H2Stream): void {
  if (s.method === "GET") return s.respond(encodeHeaders([[":status", "204"]]), true);
  s.respond(encodeHeaders([[":status", "200"], ["x-path", s.path]]));
  s.listener = {
    data: (c) => {
      s.writeNow(c);
      s.consumed(c.length);
    },
    end: () => s.end(),
  };
}

/** Runs `fn` against cairn's server and a client, closing both afterwards. */
async function withServer(
  onStream: (s: H2Stream) => void,
  serverOpts: Partial<H2Options>,
  clientOpts: ConstructorParameters<typeof H2ClientConnection>[1],
  fn: (c: H2ClientConnection, server: ReturnType<typeof startTestH2Server>) => Promise<void>,
): Promise<void> {
  const server = startTestH2Server(onStream, serverOpts);
  const c = await H2ClientConnection.connect("127.0.0.1", server.port, clientOpts);
  try {
    await fn(c, server);
  } finally {
    c.close();
    await within(server.close(), 2000, "server close");
  }
}

Deno.test("client: a POST body written in parts is echoed; a bodyless GET gets headers only", async () => {
  await withServer(echo, {}, {}, async (c) => {
    const s = c.request(req("/post"), false);
    const r = record(s);
    const parts = [1, 100, 20_000, 7, 70_000].map((n, i) => pattern(n, i));
    for (const p of parts) assert.equal(s.write(p), true);
    s.end();
    assert.equal(s.write(pattern(3, 9)), false, "nothing may be written after end()");
    await within(r.done, 3000, "echo");
    assert.deepEqual(r.seen.events, ["response", "data", "end"]);
    assert.equal(r.seen.status, 200);
    assert.equal(r.header("x-path"), "/post");
    assert.equal(r.seen.trailers, undefined);
    assert.deepEqual(r.body(), Buffer.concat(parts));

    const last = c.request(req("/post-end"), false);
    const rl = record(last);
    last.write(pattern(10, 1));
    last.end(pattern(5, 2));
    await within(rl.done, 2000, "echo with end(data)");
    assert.deepEqual(rl.body(), Buffer.concat([pattern(10, 1), pattern(5, 2)]));

    // end() once everything went out: an empty DATA frame carries END_STREAM.
    const late = c.request(req("/late-end"), false);
    const rle = record(late);
    late.write(pattern(10, 3));
    await within(c.ping(), 2000, "ping");
    await waitFor(() => rle.seen.chunks.length > 0, 2000, "echo of the first part");
    late.end();
    await within(rle.done, 2000, "echo ended by end()");
    assert.deepEqual(rle.seen.events, ["response", "data", "end"]);

    const get = c.request(req("/get", "GET"), true);
    const rg = record(get);
    await within(rg.done, 2000, "GET");
    assert.deepEqual(rg.seen.events, ["response", "end"]);
    assert.equal(rg.seen.status, 204);
    assert.equal(get.write(pattern(1, 1)), false, "a request sent with endStream takes no body");
    assert.equal(c.closed, false);
  });
});

Deno.test("client: 2,000 writes of 1 B..100 KiB arrive in order and byte-exact, drain after false", async () => {
  const received: Uint8Array[] = [];
  let serverTotal = 0;
  await withServer(
    (s) => {
      s.respond(encodeHeaders([[":status", "200"]]));
      s.listener = {
        data: (c) => {
          received.push(c);
          serverTotal += c.length;
          s.consumed(c.length);
        },
        end: () => s.writeNow(enc.encode(String(serverTotal)), true),
      };
    },
    {},
    {},
    async (c) => {
      const s = c.request(req("/raft/stream"), false);
      let drained: (() => void) | undefined;
      let drains = 0;
      const r = record(s, {
        drain: () => {
          drains++;
          drained?.();
        },
      });
      const sent: Uint8Array[] = [];
      let falses = 0;
      for (let i = 0; i < 2000; i++) {
        const size = i % 97 === 0 ? 100 * 1024 : 1 + (i * 7919) % 6000;
        const part = pattern(size, i);
        sent.push(part);
        if (!s.write(part)) {
          falses++;
          await within(new Promise<void>((res) => (drained = res)), 3000, `drain after write ${i}`);
        }
      }
      s.end();
      await within(r.done, 5000, "end of the response");
      const expected = Buffer.concat(sent);
      assert.ok(expected.length > 5 << 20, "several MiB, beyond the 1 MiB stream window");
      assert.equal(dec.decode(r.body()), String(expected.length));
      const got = Buffer.concat(received);
      assert.equal(got.length, expected.length);
      assert.ok(got.equals(expected), "request body bytes differ");
      assert.ok(falses > 0, "queuing several MiB must exceed the high-water mark");
      assert.equal(drains, falses, "one drain per write that said false");
    },
  );
});

Deno.test("client: no more than the server's stream window is sent until the server consumes", async () => {
  let server!: H2Stream;
  let received = 0;
  let consumed = 0;
  let autoConsume = false;
  /** Consumes what arrived and is not consumed yet (a server may not return more). */
  const consumeAll = () => {
    server.consumed(received - consumed);
    consumed = received;
  };
  await withServer(
    (s) => {
      server = s;
      s.respond(encodeHeaders([[":status", "200"]]));
      s.listener = {
        data: (ch) => {
          received += ch.length;
          if (autoConsume) consumeAll();
        },
        end: () => s.end(),
      };
    },
    { streamWindow: 1000 },
    {},
    async (c) => {
      // The server's SETTINGS precede the PING ACK: after it the 1000 applies.
      await within(c.ping(), 2000, "ping");
      const s = c.request(req(), false);
      const r = record(s);
      s.end(pattern(5000, 3));
      // DATA sent before a PING is read by the server before it answers.
      await within(c.ping(), 2000, "ping");
      await sleep(50);
      assert.equal(received, 1000);
      consumeAll();
      // One round trip brings the WINDOW_UPDATE, the next one the DATA it allowed.
      await within(c.ping(), 2000, "ping");
      await within(c.ping(), 2000, "ping");
      assert.equal(received, 2000);
      autoConsume = true;
      consumeAll();
      await within(r.done, 2000, "end");
      assert.equal(received, 5000);
      assert.equal(r.seen.status, 200);
    },
  );
});

for (const connectionWindow of [undefined, 100_000]) {
  Deno.test(`client: a 1 MiB response passes a 70,000-byte stream window (connection window ${connectionWindow ?? "default"})`, async () => {
    const big = pattern(1 << 20, 11);
    await withServer(
      (s) => {
        s.respond(encodeHeaders([[":status", "200"]]));
        s.listener = { end: () => s.writeNow(big, true) };
      },
      {},
      { streamWindow: 70_000, connectionWindow },
      async (c) => {
        for (let round = 0; round < 2; round++) {
          const r = record(c.request(req("/big"), true));
          await within(r.done, 5000, "1 MiB response");
          assert.equal(r.seen.aborted, undefined);
          assert.ok(r.body().equals(big), "response body bytes differ");
        }
      },
    );
  });
}

Deno.test("client: ping resolves; close() rejects pings, aborts streams, calls onClose once", async () => {
  const reasons: string[] = [];
  await withServer(echo, {}, { onClose: (why) => reasons.push(why) }, async (c) => {
    await within(c.ping(), 2000, "ping");
    await within(Promise.all([c.ping(), c.ping(), c.ping()]), 2000, "three pings");
    const open = c.request(req(), false);
    const r = record(open);
    open.write(pattern(100, 1));
    const pending = c.ping();
    c.close("test over");
    await within(assert.rejects(pending, /test over/), 1000, "pending ping");
    await within(assert.rejects(c.ping(), /closed/), 1000, "new ping");
    await within(r.done, 1000, "abort");
    assert.deepEqual(r.seen.events.filter((e) => e !== "response" && e !== "data"), ["abort"]);
    assert.equal(r.seen.aborted, "test over");
    assert.ok(c.closed);
    assert.throws(() => c.request(req(), true), /closed/);
    assert.equal(open.write(pattern(1, 1)), false);
    c.close("again");
    await sleep(50); // the read loop ends too: it must not report a second close
    assert.deepEqual(reasons, ["test over"]);
  });
});

Deno.test("client: a stream reset by the server aborts alone; the others go on", async () => {
  const closes: string[] = [];
  await withServer(
    (s) => {
      if (s.path === "/refuse") return s.reset(REFUSED_STREAM);
      if (s.path === "/half") {
        s.respond(encodeHeaders([[":status", "200"]]));
        s.writeNow(pattern(300, 4));
        s.listener = { data: () => s.reset(CANCEL) };
        return;
      }
      echo(s);
    },
    {},
    { onClose: (why) => closes.push(why) },
    async (c) => {
      const before = c.request(req("/before"), false);
      const rb = record(before);
      const refused = record(c.request(req("/refuse"), true));
      const half = c.request(req("/half"), false);
      const rh = record(half);
      await within(refused.done, 2000, "refused");
      assert.match(refused.seen.aborted ?? "", /reset/);
      assert.match(refused.seen.aborted ?? "", /code 7/);
      assert.deepEqual(refused.seen.events, ["abort"]);
      await waitFor(() => rh.seen.chunks.length > 0, 2000, "first half");
      half.write(pattern(10, 1));
      await within(rh.done, 2000, "half reset");
      assert.deepEqual(rh.seen.events, ["response", "data", "abort"]);
      assert.match(rh.seen.aborted ?? "", /code 8/);
      assert.deepEqual(rh.body(), Buffer.from(pattern(300, 4)));

      before.end(pattern(40_000, 5));
      const after = c.request(req("/after"), false);
      const ra = record(after);
      after.end(pattern(50, 6));
      await within(Promise.all([rb.done, ra.done]), 2000, "other streams");
      assert.deepEqual(rb.body(), Buffer.from(pattern(40_000, 5)));
      assert.deepEqual(ra.body(), Buffer.from(pattern(50, 6)));
      assert.equal(ra.header("x-path"), "/after");
      assert.equal(c.closed, false);
      assert.deepEqual(closes, []);
    },
  );
});

Deno.test("client: the server closing the connection aborts open streams and calls onClose", async () => {
  const server = startTestH2Server((s) => {
    if (s.path === "/answered") s.respond(encodeHeaders([[":status", "200"]]));
  });
  const closed = Promise.withResolvers<string>();
  let closes = 0;
  const c = await H2ClientConnection.connect("127.0.0.1", server.port, {
    onClose: (why) => {
      closes++;
      closed.resolve(why);
    },
  });
  try {
    const answered = record(c.request(req("/answered"), false));
    const silent = record(c.request(req("/silent"), false));
    await waitFor(() => answered.seen.status === 200, 2000, "response headers");
    await within(server.close(), 2000, "server close");
    const why = await within(closed.promise, 2000, "onClose");
    await within(Promise.all([answered.done, silent.done]), 1000, "aborts");
    assert.equal(answered.seen.aborted, why);
    assert.equal(silent.seen.aborted, why);
    assert.deepEqual(silent.seen.events, ["abort"]);
    assert.ok(c.closed);
    assert.throws(() => c.request(req(), true));
    await sleep(30);
    assert.equal(closes, 1);
  } finally {
    c.close();
  }
});

/** A node:http2 server echoing bodies with trailers; its sessions are kept for GOAWAY. */
async function nodeServer() {
  const server = http2.createServer();
  const sessions: http2.ServerHttp2Session[] = [];
  const streams: http2.ServerHttp2Stream[] = [];
  server.on("session", (s) => sessions.push(s));
  server.on("stream", (stream, headers) => {
    streams.push(stream);
    stream.on("error", () => {});
    if (headers[":path"] === "/hang") return;
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      const body = Buffer.concat(chunks);
      stream.respond({ ":status": 200, "x-chunks": "n" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => {
        stream.sendTrailers({ "x-bytes": String(body.length), "x-path": headers[":path"] });
      });
      stream.end(body);
    });
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    sessions,
    streams,
    async close() {
      for (const s of sessions) s.destroy();
      await within(new Promise<void>((res) => server.close(() => res())), 2000, "node close");
    },
  };
}

Deno.test("client: node:http2 server echoes a POST and its trailers reach end()", async () => {
  const node = await nodeServer();
  const c = await H2ClientConnection.connect("127.0.0.1", node.port);
  try {
    for (const path of ["/a", "/b"]) {
      const s = c.request(req(path), false);
      const r = record(s);
      const parts = [pattern(30_000, 1), pattern(50_000, 2), pattern(1, 3)];
      for (const p of parts) s.write(p);
      s.end(pattern(20_000, 4));
      await within(r.done, 5000, "node echo");
      const expected = Buffer.concat([...parts, pattern(20_000, 4)]);
      assert.equal(r.seen.status, 200);
      assert.equal(r.header("x-chunks"), "n");
      assert.deepEqual(r.seen.events, ["response", "data", "end"]);
      assert.ok(r.body().equals(expected));
      const trailers = new Map(r.seen.trailers ?? []);
      assert.equal(trailers.get("x-bytes"), String(expected.length));
      assert.equal(trailers.get("x-path"), path);
    }
  } finally {
    c.close();
    await node.close();
  }
});

Deno.test("client: GOAWAY from node:http2 stops new requests; an idle connection closes", async () => {
  const node = await nodeServer();
  const closed = Promise.withResolvers<string>();
  const c = await H2ClientConnection.connect("127.0.0.1", node.port, {
    onClose: (why) => closed.resolve(why),
  });
  try {
    const r = record(c.request(req("/x"), true));
    await within(r.done, 2000, "first request");
    for (const s of node.sessions) s.goaway();
    const why = await within(closed.promise, 2000, "onClose after GOAWAY");
    assert.match(why, /GOAWAY/);
    assert.ok(c.closed);
    assert.throws(() => c.request(req(), true));
  } finally {
    c.close();
    await node.close();
  }
});

Deno.test("client: node:http2 session closing with a stream open aborts it", async () => {
  const node = await nodeServer();
  const closed = Promise.withResolvers<string>();
  const c = await H2ClientConnection.connect("127.0.0.1", node.port, {
    onClose: (why) => closed.resolve(why),
  });
  try {
    const r = record(c.request(req("/hang"), false));
    await waitFor(() => node.streams.length === 1, 2000, "stream at the server");
    for (const s of node.sessions) s.destroy();
    await within(r.done, 2000, "abort");
    assert.ok(r.seen.aborted);
    await within(closed.promise, 2000, "onClose");
    assert.ok(c.closed);
  } finally {
    c.close();
    await node.close();
  }
});

Deno.test("client: 50 concurrent streams on one connection each get their own response", async () => {
  await withServer(echo, {}, {}, async (c) => {
    const runs = Array.from({ length: 50 }, (_, i) => {
      const s = c.request(req(`/s${i}`), false);
      const r = record(s);
      const body = pattern(1 + (i * 1543) % 30_000, i);
      s.write(body.subarray(0, body.length >> 1));
      return { s, r, body };
    });
    assert.deepEqual(runs.map((x) => x.s.id), runs.map((_, i) => 2 * i + 1));
    for (const { s, body } of runs.toReversed()) s.end(body.subarray(body.length >> 1));
    await within(Promise.all(runs.map((x) => x.r.done)), 5000, "50 responses");
    runs.forEach(({ r, body }, i) => {
      assert.equal(r.seen.aborted, undefined);
      assert.equal(r.header("x-path"), `/s${i}`);
      assert.ok(r.body().equals(body), `body of stream ${i}`);
    });
  });
});

// --- against a raw server ---

/** Connects a client to a raw server; the peer has read the client's SETTINGS. */
async function rawSetup(clientOpts: ConstructorParameters<typeof H2ClientConnection>[1] = {}) {
  const server = startRawServer();
  const reasons: string[] = [];
  const closed = Promise.withResolvers<string>();
  const c = await H2ClientConnection.connect("127.0.0.1", server.port, {
    ...clientOpts,
    onClose: (why) => {
      reasons.push(why);
      closed.resolve(why);
    },
  });
  const peer = await server.accept();
  const settings = await peer.until(isSettings);
  return { server, peer, c, reasons, closed: closed.promise, settings };
}

const malformed: Array<[string, Uint8Array, number, RegExp]> = [
  [
    "a frame over 16,384 bytes",
    rawFrame(T.DATA, 0, 1, new Uint8Array(20_000)),
    FRAME_SIZE_ERROR,
    /20000/,
  ],
  ["DATA on stream 0", rawFrame(T.DATA, 0, 0, new Uint8Array(5)), PROTOCOL_ERROR, /stream 0/],
  [
    "PUSH_PROMISE",
    rawFrame(T.PUSH_PROMISE, END_HEADERS, 1, new Uint8Array(4)),
    PROTOCOL_ERROR,
    /PUSH/,
  ],
  ["SETTINGS on a stream", rawFrame(T.SETTINGS, 0, 1), PROTOCOL_ERROR, /SETTINGS/],
  [
    "a zero WINDOW_UPDATE on the connection",
    rawFrame(T.WINDOW_UPDATE, 0, 0, u32(0)),
    PROTOCOL_ERROR,
    /WINDOW_UPDATE/,
  ],
  [
    "a connection window overflow",
    rawFrame(T.WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1)),
    FLOW_CONTROL_ERROR,
    /overflow/,
  ],
  [
    "an undecodable header block",
    rawFrame(T.HEADERS, END_HEADERS, 1, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff])),
    COMPRESSION_ERROR,
    /./,
  ],
  [
    "a header block interrupted",
    Buffer.concat([
      headersFrame(1, [[":status", "200"]], 0),
      rawFrame(T.DATA, 0, 1, new Uint8Array(1)),
    ]),
    PROTOCOL_ERROR,
    /CONTINUATION/,
  ],
];

for (const [what, bytes, code, text] of malformed) {
  Deno.test(`client: ${what} from the server ends the connection with GOAWAY ${code}`, async () => {
    const { server, peer, c, closed } = await rawSetup();
    try {
      const r = record(c.request(req(), false));
      await peer.requestHeaders(1);
      await peer.write(rawFrame(T.SETTINGS, 0, 0), bytes);
      const why = await within(closed, 2000, "onClose");
      assert.match(why, /protocol error/);
      assert.match(why, text);
      await within(r.done, 1000, "abort");
      assert.equal(r.seen.aborted, why);
      assert.ok(c.closed);
      const goaway = await peer.until((f) => f.type === T.GOAWAY, 2000);
      assert.equal(readU32(goaway.payload, 4), code);
      assert.deepEqual(await peer.untilClosed(2000), [], "the client closes after its GOAWAY");
    } finally {
      c.close();
      await server.close();
    }
  });
}

const sum = (frames: Array<{ payload: Uint8Array }>) =>
  frames.reduce((n, f) => n + f.payload.length, 0);

Deno.test("client: handshake sends preface, SETTINGS, connection window; ACKs and answers PING", async () => {
  const { server, peer, c, settings } = await rawSetup({
    streamWindow: 70_000,
    connectionWindow: 200_000,
  });
  try {
    assert.equal(peer.badPreface, false);
    const s = new Map<number, number>();
    const view = new DataView(settings.payload.buffer, settings.payload.byteOffset);
    for (let p = 0; p < settings.payload.length; p += 6) {
      s.set(view.getUint16(p), view.getUint32(p + 2));
    }
    assert.equal(s.get(SETTINGS_ENABLE_PUSH), 0);
    assert.equal(s.get(SETTINGS_INITIAL_WINDOW_SIZE), 70_000);
    const wu = await peer.until((f) => f.type === T.WINDOW_UPDATE);
    assert.equal(wu.streamId, 0);
    assert.equal(readU32(wu.payload), 200_000 - 65_535);
    await peer.write(
      rawFrame(T.SETTINGS, 0, 0, settingsPayload([[SETTINGS_MAX_FRAME_SIZE, 20_000]])),
    );
    await peer.until((f) => f.type === T.SETTINGS && f.flags === ACK);
    const payload = pattern(8, 9);
    await peer.write(rawFrame(T.PING, 0, 0, payload));
    const pong = await peer.until((f) => f.type === T.PING);
    assert.equal(pong.flags, ACK);
    assert.deepEqual([...pong.payload], [...payload]);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: a ping resolves only on the ACK carrying its payload", async () => {
  const { server, peer, c } = await rawSetup();
  try {
    let resolved = 0;
    const first = c.ping().then(() => resolved++);
    const second = c.ping().then(() => resolved++);
    const p1 = await peer.until((f) => f.type === T.PING);
    const p2 = await peer.until((f) => f.type === T.PING);
    assert.notDeepEqual(p1.payload, p2.payload);
    await peer.write(rawFrame(T.PING, ACK, 0, pattern(8, 1)));
    await sleep(100);
    assert.equal(resolved, 0, "an ACK of an unknown payload answers nothing");
    // An ACK answers its PING and every one sent before it.
    await peer.write(rawFrame(T.PING, ACK, 0, p2.payload));
    await within(Promise.all([first, second]), 1000, "pings");
    assert.equal(resolved, 2);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: the server's SETTINGS and WINDOW_UPDATEs govern what is sent", async () => {
  const { server, peer, c } = await rawSetup();
  try {
    const initial100 = settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 100]]);
    await peer.write(rawFrame(T.SETTINGS, 0, 0, initial100));
    await peer.until((f) => f.type === T.SETTINGS && f.flags === ACK);
    const s = c.request(req(), false);
    const r = record(s);
    s.write(pattern(1000, 1));
    assert.equal(sum(await peer.dataUntilPong()), 100, "the stream window");
    // A larger initial window grows open streams' windows by the difference.
    const initial600 = settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 600]]);
    assert.equal(sum(await peer.dataUntilPong(rawFrame(T.SETTINGS, 0, 0, initial600))), 500);
    assert.equal(sum(await peer.dataUntilPong(rawFrame(T.WINDOW_UPDATE, 0, 1, u32(300)))), 300);
    s.end(pattern(200_000, 2));
    // The connection window (65,535, 900 used) now holds the stream back.
    const held = await peer.dataUntilPong(
      rawFrame(T.SETTINGS, 0, 0, settingsPayload([[SETTINGS_MAX_FRAME_SIZE, 40_000]])),
      rawFrame(T.WINDOW_UPDATE, 0, 1, u32(1 << 20)),
    );
    assert.equal(sum(held), 65_535 - 900);
    assert.ok(held.some((f) => f.payload.length > 16_384), "frames grow to MAX_FRAME_SIZE");
    assert.ok(held.every((f) => f.payload.length <= 40_000));
    const rest = await peer.dataUntilPong(rawFrame(T.WINDOW_UPDATE, 0, 0, u32(1 << 20)));
    assert.equal(sum(rest), 201_000 - 65_535);
    const all = [...peer.seen.filter((f) => f.type === T.DATA)];
    assert.equal(all.at(-1)!.flags & END_STREAM, END_STREAM);
    assert.deepEqual(
      Buffer.concat(all.map((f) => f.payload)),
      Buffer.concat([pattern(1000, 1), pattern(200_000, 2)]),
    );
    assert.equal(r.seen.aborted, undefined);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: a response with a 103, CONTINUATION, padded DATA and trailers", async () => {
  const { server, peer, c } = await rawSetup();
  try {
    const r = record(c.request(req(), true));
    await peer.requestHeaders(1);
    const long = "v".repeat(30_000);
    const block = encodeHeaders([[":status", "200"], ["x-long", long]]);
    const padded = new Uint8Array(1 + 50 + 10);
    padded[0] = 10;
    padded.set(pattern(50, 3), 1);
    await peer.write(
      headersFrame(1, [[":status", "103"], ["link", "</a>"]]),
      rawFrame(T.HEADERS, 0, 1, block.subarray(0, 16_000)),
      rawFrame(T.CONTINUATION, END_HEADERS, 1, block.subarray(16_000)),
      rawFrame(T.DATA, PADDED, 1, padded),
      rawFrame(T.DATA, 0, 1, pattern(20, 4)),
      headersFrame(1, [["grpc-status", "0"]], END_HEADERS | END_STREAM),
    );
    await within(r.done, 2000, "response");
    assert.deepEqual(r.seen.events, ["response", "data", "end"]);
    assert.equal(r.seen.status, 200);
    assert.equal(r.header("x-long"), long);
    assert.deepEqual(r.body(), Buffer.concat([pattern(50, 3), pattern(20, 4)]));
    assert.deepEqual(r.seen.trailers, [["grpc-status", "0"]]);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: DATA before headers or trailers without END_STREAM reset that stream alone", async () => {
  const { server, peer, c, reasons } = await rawSetup();
  try {
    const early = record(c.request(req("/1"), true));
    const trailing = record(c.request(req("/3"), true));
    const fine = record(c.request(req("/5"), true));
    await peer.requestHeaders(5);
    await peer.write(
      rawFrame(T.DATA, 0, 1, pattern(5, 1)),
      headersFrame(3, [[":status", "200"]]),
      headersFrame(3, [["x-t", "1"]]),
      headersFrame(5, [[":status", "200"]], END_HEADERS | END_STREAM),
    );
    await within(Promise.all([early.done, trailing.done, fine.done]), 2000, "streams");
    assert.match(early.seen.aborted ?? "", /DATA before/);
    assert.match(trailing.seen.aborted ?? "", /trailers/);
    assert.deepEqual(fine.seen.events, ["response", "end"]);
    for (const id of [1, 3]) {
      const rst = await peer.until((f) => f.type === T.RST_STREAM && f.streamId === id);
      assert.equal(readU32(rst.payload), PROTOCOL_ERROR);
    }
    assert.equal(c.closed, false);
    assert.deepEqual(reasons, []);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: the limits are the server's: a bad PING length is FRAME_SIZE_ERROR", async () => {
  const { server, peer, c, closed } = await rawSetup();
  try {
    await peer.write(rawFrame(T.SETTINGS, 0, 0), rawFrame(T.PING, 0, 0, new Uint8Array(4)));
    assert.match(await within(closed, 2000, "onClose"), /PING length/);
    const goaway = await peer.until((f) => f.type === T.GOAWAY, 2000);
    assert.equal(readU32(goaway.payload, 4), FRAME_SIZE_ERROR);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: response DATA beyond the window it announced is FLOW_CONTROL_ERROR", async () => {
  const { server, peer, c, closed } = await rawSetup({ streamWindow: 1000 });
  try {
    const r = record(c.request(req(), true));
    await peer.requestHeaders(1);
    // Once the server ACKs the client's SETTINGS, the 1,000-byte window applies.
    await peer.write(
      rawFrame(T.SETTINGS, 0, 0),
      rawFrame(T.SETTINGS, ACK, 0),
      headersFrame(1, [[":status", "200"]]),
      rawFrame(T.DATA, 0, 1, pattern(1001, 1)),
    );
    assert.match(await within(closed, 2000, "onClose"), /beyond the window/);
    await within(r.done, 1000, "abort");
    const goaway = await peer.until((f) => f.type === T.GOAWAY, 2000);
    assert.equal(readU32(goaway.payload, 4), FLOW_CONTROL_ERROR);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: a response header list over the limit resets that stream alone", async () => {
  const { server, peer, c, reasons } = await rawSetup();
  try {
    const big = record(c.request(req("/1"), true));
    const fine = record(c.request(req("/3"), true));
    await peer.requestHeaders(3);
    // An HPACK bomb: one 4,000-byte entry, then 300 one-byte references to it.
    const entry = [0x40, 5, ...enc.encode("x-big")];
    pushInt(entry, 4000, 7, 0);
    const block = Uint8Array.from([
      ...encodeHeaders([[":status", "200"]]),
      ...entry,
      ...new Uint8Array(4000).fill(0x68),
      ...new Array(300).fill(0x80 | 62),
    ]);
    const frames = [rawFrame(T.HEADERS, END_HEADERS, 1, block)];
    await peer.write(...frames, headersFrame(3, [[":status", "200"]], END_HEADERS | END_STREAM));
    await within(Promise.all([big.done, fine.done]), 2000, "streams");
    assert.match(big.seen.aborted ?? "", /header list limit/);
    assert.deepEqual(fine.seen.events, ["response", "end"]);
    const rst = await peer.until((f) => f.type === T.RST_STREAM && f.streamId === 1);
    assert.equal(readU32(rst.payload), 11, "ENHANCE_YOUR_CALM");
    assert.deepEqual(reasons, []);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: RST_STREAM NO_ERROR after a whole response ends the request quietly", async () => {
  const { server, peer, c } = await rawSetup();
  try {
    const s = c.request(req(), false);
    const r = record(s);
    s.write(pattern(10, 1));
    await peer.requestHeaders(1);
    await peer.write(
      headersFrame(1, [[":status", "200"]]),
      rawFrame(T.DATA, END_STREAM, 1, pattern(7, 2)),
      rawFrame(T.RST_STREAM, 0, 1, u32(0)),
    );
    await within(r.done, 2000, "end");
    await sleep(50);
    assert.deepEqual(r.seen.events, ["response", "data", "end"], "no abort after the end");
    assert.equal(s.write(pattern(10, 3)), false);
    s.end();
    const after = await peer.dataUntilPong();
    assert.deepEqual(after.filter((f) => f.streamId === 1 && f.payload.length > 10), []);
    assert.equal(c.closed, false);
  } finally {
    c.close();
    await server.close();
  }
});

Deno.test("client: GOAWAY aborts streams above its last id; those below finish", async () => {
  const { server, peer, c, reasons } = await rawSetup();
  try {
    const one = record(c.request(req("/1"), true));
    const three = record(c.request(req("/3"), true));
    const five = record(c.request(req("/5"), true));
    await peer.requestHeaders(5);
    const goaway = new Uint8Array(8);
    goaway.set(u32(3));
    await peer.write(rawFrame(T.GOAWAY, 0, 0, goaway));
    await within(five.done, 2000, "stream above the last id");
    assert.match(five.seen.aborted ?? "", /GOAWAY/);
    assert.ok(c.closed, "no new requests after GOAWAY");
    assert.throws(() => c.request(req(), true));
    assert.deepEqual(reasons, [], "the connection outlives the GOAWAY while streams finish");
    await peer.write(
      headersFrame(1, [[":status", "200"]], END_HEADERS | END_STREAM),
      headersFrame(3, [[":status", "201"]]),
      rawFrame(T.DATA, END_STREAM, 3, pattern(3, 3)),
    );
    await within(Promise.all([one.done, three.done]), 2000, "streams below");
    assert.deepEqual(one.seen.events, ["response", "end"]);
    assert.deepEqual(three.body(), Buffer.from(pattern(3, 3)));
  } finally {
    c.close();
    await server.close();
  }
});

// After a GOAWAY that left streams open, the connection must close once they
// finish, or peer_client.ts would keep a dead connection cached.
Deno.test({
  name: "client: after GOAWAY the connection closes once its last stream finishes",
  async fn() {
    const { server, peer, c, closed } = await rawSetup();
    try {
      const one = record(c.request(req("/1"), true));
      await peer.requestHeaders(1);
      const goaway = new Uint8Array(8);
      goaway.set(u32(1));
      await peer.write(rawFrame(T.GOAWAY, 0, 0, goaway));
      await peer.write(headersFrame(1, [[":status", "200"]], END_HEADERS | END_STREAM));
      await within(one.done, 2000, "stream 1");
      assert.match(await within(closed, 1000, "onClose"), /GOAWAY/);
      assert.deepEqual(await peer.untilClosed(1000), []);
    } finally {
      c.close();
      await server.close();
    }
  },
});

// RFC 9113 §6.4 and §6.7: a PING whose length is not 8 and a RST_STREAM
// whose length is not 4 are connection errors of type FRAME_SIZE_ERROR.
for (
  const [what, bytes] of [
    ["a 4-byte PING", rawFrame(T.PING, 0, 0, new Uint8Array(4))],
    ["a 3-byte RST_STREAM", rawFrame(T.RST_STREAM, 0, 1, new Uint8Array(3))],
  ] as const
) {
  Deno.test({
    name: `client: ${what} is a FRAME_SIZE_ERROR`,
    async fn() {
      const { server, peer, c, closed } = await rawSetup();
      try {
        c.request(req(), true).listener = { abort: () => {} };
        await peer.requestHeaders(1);
        await peer.write(bytes);
        assert.match(await within(closed, 2000, "onClose"), /protocol error/);
        const goaway = await peer.until((f) => f.type === T.GOAWAY);
        assert.equal(readU32(goaway.payload, 4), FRAME_SIZE_ERROR);
      } finally {
        c.close();
        await server.close();
      }
    },
  });
}

Deno.test("client: a request header block over 16 KiB goes out with CONTINUATION", async () => {
  const big = "h".repeat(40_000);
  await withServer(
    (s) => {
      s.respond(encodeHeaders([[":status", "200"], ["x-len", String(s.header("x-big")?.length)]]));
      s.end();
    },
    {},
    {},
    async (c) => {
      const r = record(c.request([...req("/big-headers", "GET"), ["x-big", big]], true));
      await within(r.done, 2000, "response");
      assert.equal(r.header("x-len"), "40000");
    },
  );
});
