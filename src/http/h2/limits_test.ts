/**
 * The bounds of limits.ts on a server connection (connection.ts over
 * session.ts), each crossed on purpose by a raw client: the error it gets,
 * and that a client staying within the bound is served. The real-process
 * attack tests are in tests/h2_attack_test.ts.
 */
import assert from "node:assert/strict";
import { H2Connection, type H2Options } from "./connection.ts";
import { LimitError } from "./frames.ts";
import { encodeHeaders, pushInt } from "./hpack.ts";
import {
  MAX_CONTINUATION_FRAMES,
  MAX_QUEUED_CONTROL_FRAMES,
  MAX_RESETS_PER_SECOND,
  OUT_HIGH_WATER,
} from "./limits.ts";
import type { H2Stream } from "./stream.ts";
import { startTestH2Server } from "./test_server.ts";
import {
  deferred,
  PREFACE,
  RawClient,
  type RawFrame,
  rawFrame,
  readU32,
  settingsPayload,
  T,
  u32,
  within,
} from "./test_raw_client.ts";

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const NO_ERROR = 0;
const PROTOCOL_ERROR = 1;
const FLOW_CONTROL_ERROR = 3;
const SETTINGS_TIMEOUT = 4;
const ENHANCE_YOUR_CALM = 11;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;
const SETTINGS_MAX_HEADER_LIST_SIZE = 6;

function requestBlock(path = "/test", extra: Array<[string, string]> = []): Uint8Array {
  return encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", "localhost"],
    ...extra,
  ]);
}

const ok200 = () => encodeHeaders([[":status", "200"]]);
const isGoaway = (f: RawFrame) => f.type === T.GOAWAY;
const goawayCode = (f: RawFrame) => readU32(f.payload, 4);

/** Runs `fn` with a server and a raw client; collects the server's onError reports. */
async function withRaw(
  onStream: (s: H2Stream) => void,
  opts: Partial<H2Options>,
  fn: (c: RawClient, errors: Error[]) => Promise<void>,
): Promise<void> {
  const errors: Error[] = [];
  const server = startTestH2Server(onStream, { ...opts, onError: (e) => errors.push(e) });
  const client = await RawClient.connect(server.port);
  try {
    await fn(client, errors);
  } finally {
    await client.close();
    await within(server.close(), 3000, "server close");
  }
}

/** The GOAWAY the server sent before closing (fails when there is none). */
async function goawayBeforeClose(c: RawClient, ms = 3000): Promise<RawFrame> {
  const frames = await c.untilClosed(ms);
  const g = frames.find(isGoaway) ?? c.seen.find(isGoaway);
  assert.ok(g, "a GOAWAY before the close");
  return g;
}

// --- receive flow control ---

Deno.test("limits: DATA beyond a stream's window ends the connection with FLOW_CONTROL_ERROR", async () => {
  await withRaw(() => {}, { streamWindow: 1000 }, async (c, errors) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
    // Exactly the window is fine; one byte more is not.
    await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(1000)));
    assert.ok(await c.quiet(100, isGoaway), "the window itself may be used");
    await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(1)));
    assert.equal(goawayCode(await goawayBeforeClose(c)), FLOW_CONTROL_ERROR);
    assert.ok(errors.some((e) => e instanceof LimitError && /window of stream 1/.test(e.message)));
  });
});

Deno.test("limits: DATA beyond the connection window ends it with FLOW_CONTROL_ERROR", async () => {
  await withRaw(
    () => {},
    { streamWindow: 60_000, connectionWindow: 65_535 },
    async (c) => {
      await c.handshake();
      for (const id of [1, 3]) await c.write(rawFrame(T.HEADERS, END_HEADERS, id, requestBlock()));
      // 2 × 30,000 fit each stream's window, and together the connection's.
      for (const id of [1, 3]) {
        for (let i = 0; i < 2; i++) await c.write(rawFrame(T.DATA, 0, id, new Uint8Array(15_000)));
      }
      assert.ok(await c.quiet(100, isGoaway));
      await c.write(rawFrame(T.DATA, 0, 3, new Uint8Array(5536)));
      assert.equal(goawayCode(await goawayBeforeClose(c)), FLOW_CONTROL_ERROR);
    },
  );
});

Deno.test("limits: the window comes back only as the handler consumes, never as an echo", async () => {
  const got = deferred<H2Stream>();
  await withRaw(
    (s) => {
      s.listener = { data: () => {} }; // holds everything until the test consumes
      got.resolve(s);
    },
    { streamWindow: 10_000, connectionWindow: 65_535 },
    async (c) => {
      await c.handshake();
      await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
      const s = await within(got.promise);
      await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(10_000)));
      assert.ok(
        await c.quiet(200, (f) => f.type === T.WINDOW_UPDATE),
        "no WINDOW_UPDATE for data nobody consumed",
      );
      assert.equal(s.held, 10_000);
      s.consumed(6000);
      const wu = await c.until((f) => f.type === T.WINDOW_UPDATE && f.streamId === 1);
      assert.equal(readU32(wu.payload), 6000);
      // A consumer cannot hand back more than it was given: 4,000 are left,
      // below half the window, so they wait for more.
      s.consumed(1_000_000);
      assert.ok(await c.quiet(200, (f) => f.type === T.WINDOW_UPDATE && f.streamId === 1));
      // 6,000 more fit what was returned; consumed, they go back with the 4,000.
      await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(6000)));
      await c.quiet(100);
      s.consumed(1_000_000);
      const wu2 = await c.until((f) => f.type === T.WINDOW_UPDATE && f.streamId === 1);
      assert.equal(readU32(wu2.payload), 10_000);
      assert.equal(s.held, 0);
      // The stream window is full again: 10,000 more bytes are allowed, not one beyond.
      await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(10_000)));
      assert.ok(await c.quiet(100, isGoaway));
      await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(1)));
      assert.equal(goawayCode(await goawayBeforeClose(c)), FLOW_CONTROL_ERROR);
    },
  );
});

Deno.test("limits: a stream whose answers cannot leave gets neither window nor its next input", async () => {
  // The client opens no window for responses (INITIAL_WINDOW_SIZE 0) and
  // keeps sending requests, which the handler consumes and answers at
  // once. While an answer waits, the next request is not handed to the
  // handler and consumed bytes do not come back as window: a client that
  // does not read cannot make the handler do more.
  const answer = new Uint8Array(10_000);
  const handled: number[] = [];
  await withRaw(
    (s) => {
      s.respond(ok200());
      s.listener = {
        data: (chunk) => {
          handled.push(chunk.length);
          s.writeNow(answer);
          s.consumed(chunk.length);
        },
      };
    },
    { streamWindow: 4000 },
    async (c) => {
      await c.handshake([[SETTINGS_INITIAL_WINDOW_SIZE, 0]]);
      await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
      await c.until((f) => f.type === T.HEADERS);
      const isUpdate = (f: RawFrame) => f.type === T.WINDOW_UPDATE && f.streamId === 1;
      await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(2000)));
      await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(1500)));
      assert.ok(await c.quiet(300, isUpdate), "no window while the answer waits");
      assert.deepEqual(handled, [2000], "the second request waits for the first answer to leave");
      // The client reads: the answers leave, the held request is handled, the window follows.
      await c.write(
        rawFrame(T.WINDOW_UPDATE, 0, 1, u32(1 << 20)),
        rawFrame(T.WINDOW_UPDATE, 0, 0, u32(1 << 20)),
      );
      let granted = 0;
      while (granted < 2000) granted += readU32((await c.until(isUpdate, 3000)).payload);
      assert.equal(granted, 2000, "half the window is returned at a time");
      assert.deepEqual(handled, [2000, 1500]);
      await c.quiet(100);
      const data = c.seen.filter((f) => f.type === T.DATA).reduce(
        (n, f) => n + f.payload.length,
        0,
      );
      assert.equal(data, 2 * answer.length, "both answers went out");
      // With answers flowing, input is handled and returned at once.
      await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(500)));
      assert.equal(readU32((await c.until(isUpdate, 3000)).payload), 2000);
      assert.deepEqual(handled, [2000, 1500, 500]);
    },
  );
});

Deno.test("limits: a socket that does not drain holds input and window back", async () => {
  // A socket whose writes hang: once OUT_HIGH_WATER is unwritten, input is
  // not handed to handlers and consumed bytes do not come back as window
  // until it drains.
  const conn = new FakeConn();
  let stream: H2Stream | undefined;
  let handled = 0;
  const h2 = new H2Connection(conn, {
    onStream: (s) => {
      stream = s;
      s.respond(ok200());
      s.listener = {
        data: (chunk) => {
          handled++;
          s.writeNow(new Uint8Array(OUT_HIGH_WATER));
          s.consumed(chunk.length);
        },
      };
    },
    streamWindow: 100_000,
    connectionWindow: 65_535 * 2,
  });
  const running = h2.run();
  conn.feed(
    PREFACE,
    rawFrame(T.SETTINGS, 0, 0, settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 1 << 30]])),
    rawFrame(T.WINDOW_UPDATE, 0, 0, u32(1 << 30)),
    rawFrame(T.SETTINGS, ACK, 0),
    rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()),
  );
  for (let i = 0; i < 6; i++) conn.feed(rawFrame(T.DATA, 0, 1, new Uint8Array(16_000)));
  await conn.settle();
  assert.ok(stream);
  // The first request was handled and consumed; its window is held back,
  // and the other five wait unhandled while the socket is full.
  assert.equal(handled, 1);
  assert.equal(stream.withheld, 16_000, "consumed, not returned while the socket is full");
  assert.equal(stream.held, 80_000, "not handed over while the socket is full");
  conn.release();
  for (let i = 0; i < 50 && (handled < 6 || stream.withheld > 0); i++) await conn.settle();
  assert.equal(handled, 6, "handled once the socket drained");
  const updates = conn.frames().filter((f) => f.type === T.WINDOW_UPDATE);
  const total = (id: number) =>
    updates.filter((f) => f.streamId === id).reduce((n, f) => n + readU32(f.payload), 0);
  // Returned in halves of the stream window: what is below half waits in `unacked`.
  assert.equal(total(1) + stream.unacked, 96_000, "the stream's window came back");
  assert.ok(total(1) >= 50_000);
  assert.ok(total(0) >= 2 * 65_535, "the connection's too (after the initial update)");
  h2.close();
  conn.end();
  await within(running, 3000, "connection end");
});

// --- header lists and blocks ---

Deno.test("limits: MAX_HEADER_LIST_SIZE is announced; a larger list gets 431, the connection lives", async () => {
  const paths: string[] = [];
  await withRaw(
    (s) => {
      paths.push(s.path);
      s.respond(ok200(), true);
    },
    { maxHeaderListSize: 2000 },
    async (c, errors) => {
      const settings = await c.handshake();
      assert.equal(settings.get(SETTINGS_MAX_HEADER_LIST_SIZE), 2000);
      // An HPACK bomb in miniature: one 1,000-byte entry indexed, then repeated.
      const entry = [0x40, 5, ...new TextEncoder().encode("x-big")];
      pushInt(entry, 1000, 7, 0);
      const big = Uint8Array.from([...entry, ...new Uint8Array(1000).fill(0x61)]);
      const bomb = Uint8Array.from([...requestBlock("/bomb"), ...big, ...new Array(20).fill(0xbe)]);
      await c.write(rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 1, bomb));
      const h = await c.until((f) => f.type === T.HEADERS && f.streamId === 1);
      assert.equal(c.headers(h).get(":status"), "431");
      assert.equal(h.flags & END_STREAM, END_STREAM);
      assert.ok(errors.some((e) => e instanceof LimitError && e.streamId === 1));
      // The table stayed in step: index 62 is the 1,000-byte entry, 1,074 octets with the rest.
      const next = Uint8Array.from([...requestBlock("/after"), 0xbe]);
      await c.write(rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 3, next));
      const h3 = await c.until((f) => f.type === T.HEADERS && f.streamId === 3);
      assert.equal(c.headers(h3).get(":status"), "200");
      assert.deepEqual(paths, ["/after"], "the refused request never reached a handler");
      // A second bomb (request still open: RST_STREAM NO_ERROR follows) is not logged again.
      const again = Uint8Array.from([...requestBlock("/again"), ...new Array(20).fill(0xbe)]);
      await c.write(rawFrame(T.HEADERS, END_HEADERS, 5, again));
      const h5 = await c.until((f) => f.type === T.HEADERS && f.streamId === 5);
      assert.equal(c.headers(h5).get(":status"), "431");
      const rst = await c.until((f) => f.type === T.RST_STREAM && f.streamId === 5);
      assert.equal(readU32(rst.payload), NO_ERROR);
      assert.equal(errors.filter((e) => e instanceof LimitError).length, 1, "one log line");
    },
  );
});

Deno.test("limits: a CONTINUATION flood ends the connection with ENHANCE_YOUR_CALM", async () => {
  await withRaw(() => assert.fail("no stream"), {}, async (c, errors) => {
    await c.handshake();
    const frames = [rawFrame(T.HEADERS, 0, 1, requestBlock().subarray(0, 3))];
    for (let i = 0; i <= MAX_CONTINUATION_FRAMES; i++) frames.push(rawFrame(T.CONTINUATION, 0, 1));
    await c.write(...frames);
    assert.equal(goawayCode(await goawayBeforeClose(c)), ENHANCE_YOUR_CALM);
    assert.ok(errors.some((e) => e instanceof LimitError && /CONTINUATION/.test(e.message)));
  });
});

Deno.test("limits: MAX_CONTINUATION_FRAMES continuations are still one request", async () => {
  await withRaw((s) => s.respond(ok200(), true), {}, async (c) => {
    await c.handshake();
    const block = requestBlock("/many");
    const frames = [rawFrame(T.HEADERS, END_STREAM, 1, block.subarray(0, 1))];
    for (let i = 1; i < MAX_CONTINUATION_FRAMES; i++) frames.push(rawFrame(T.CONTINUATION, 0, 1));
    frames.push(rawFrame(T.CONTINUATION, END_HEADERS, 1, block.subarray(1)));
    await c.write(...frames);
    const h = await c.until((f) => f.type === T.HEADERS && f.streamId === 1);
    assert.equal(c.headers(h).get(":status"), "200");
  });
});

Deno.test("limits: a header block over maxHeaderBlock ends the connection before it is kept", async () => {
  await withRaw(() => assert.fail("no stream"), { maxHeaderBlock: 20_000 }, async (c) => {
    await c.handshake();
    await c.write(
      rawFrame(T.HEADERS, 0, 1, new Uint8Array(16_000)),
      rawFrame(T.CONTINUATION, 0, 1, new Uint8Array(4001)),
    );
    assert.equal(goawayCode(await goawayBeforeClose(c)), ENHANCE_YOUR_CALM);
  });
});

// --- control frames, resets, timers ---

Deno.test("limits: control frames a client never reads end the connection with ENHANCE_YOUR_CALM", async () => {
  const conn = new FakeConn();
  const errors: Error[] = [];
  const h2 = new H2Connection(conn, { onStream: () => {}, onError: (e) => errors.push(e) });
  const running = h2.run();
  conn.feed(PREFACE, rawFrame(T.SETTINGS, 0, 0), rawFrame(T.SETTINGS, ACK, 0));
  await conn.settle();
  // The socket takes nothing: every PING ACK waits in the writer.
  const ping = rawFrame(T.PING, 0, 0, new Uint8Array(8));
  for (let i = 0; i <= MAX_QUEUED_CONTROL_FRAMES; i++) conn.feed(ping);
  await conn.settle();
  assert.ok(
    errors.some((e) => e instanceof LimitError && /control frames/.test(e.message)),
    "a limit error reported",
  );
  // Once the socket moves, the GOAWAY goes out right after what was in flight.
  conn.release();
  await within(running, 3000, "connection end");
  const frames = conn.frames();
  const goaway = frames.find(isGoaway);
  assert.ok(goaway);
  assert.equal(goawayCode(goaway), ENHANCE_YOUR_CALM);
  const acks = frames.filter((f) => f.type === T.PING);
  assert.ok(acks.length < 100, `${acks.length} PING ACKs written, the rest dropped`);
});

Deno.test("limits: more than MAX_RESETS_PER_SECOND resets end the connection (rapid reset)", async () => {
  let opened = 0;
  await withRaw(() => opened++, {}, async (c, errors) => {
    await c.handshake();
    const frames: Uint8Array[] = [];
    for (let i = 0; i <= MAX_RESETS_PER_SECOND; i++) {
      const id = 2 * i + 1;
      frames.push(rawFrame(T.HEADERS, END_HEADERS, id, requestBlock()));
      frames.push(rawFrame(T.RST_STREAM, 0, id, u32(8)));
    }
    await c.write(...frames);
    const g = await goawayBeforeClose(c);
    assert.equal(goawayCode(g), ENHANCE_YOUR_CALM);
    assert.equal(opened, MAX_RESETS_PER_SECOND + 1);
    assert.ok(errors.some((e) => e instanceof LimitError && /resets/.test(e.message)));
  });
});

Deno.test("limits: resets refused streams provoke count too (a client ignoring the stream cap)", async () => {
  await withRaw(() => {}, { maxConcurrentStreams: 1 }, async (c) => {
    await c.handshake();
    const frames: Uint8Array[] = [];
    // Stream 1 stays open; every later one is refused.
    for (let i = 0; i <= MAX_RESETS_PER_SECOND + 1; i++) {
      frames.push(rawFrame(T.HEADERS, END_HEADERS, 2 * i + 1, requestBlock()));
    }
    await c.write(...frames);
    assert.equal(goawayCode(await goawayBeforeClose(c)), ENHANCE_YOUR_CALM);
  });
});

Deno.test("limits: SETTINGS not acknowledged in time end the connection with SETTINGS_TIMEOUT", async () => {
  await withRaw(() => {}, { settingsAckTimeoutMs: 200 }, async (c) => {
    await c.write(PREFACE, rawFrame(T.SETTINGS, 0, 0));
    const started = Date.now();
    const g = await goawayBeforeClose(c, 3000);
    assert.equal(goawayCode(g), SETTINGS_TIMEOUT);
    assert.ok(Date.now() - started >= 150, "not before the timeout");
  });
});

Deno.test("limits: a connection silent after connecting is closed at the SETTINGS timeout", async () => {
  await withRaw(() => {}, { settingsAckTimeoutMs: 200 }, async (c) => {
    const frames = await c.untilClosed(3000);
    assert.equal(goawayCode(frames.find(isGoaway)!), SETTINGS_TIMEOUT);
  });
});

Deno.test("limits: the first frame after the preface must be SETTINGS", async () => {
  await withRaw(() => assert.fail("no stream"), {}, async (c) => {
    await c.write(PREFACE, rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 1, requestBlock()));
    assert.equal(goawayCode(await goawayBeforeClose(c)), PROTOCOL_ERROR);
  });
});

Deno.test("limits: an idle connection gets GOAWAY NO_ERROR; one with a stream open does not", async () => {
  const got = deferred<H2Stream>();
  await withRaw((s) => got.resolve(s), { idleTimeoutMs: 300 }, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
    const s = await within(got.promise);
    assert.ok(await c.quiet(700, isGoaway), "a stream is open: not idle");
    s.respond(ok200(), true);
    const started = Date.now();
    const g = await goawayBeforeClose(c, 3000);
    assert.equal(goawayCode(g), NO_ERROR);
    assert.equal(readU32(g.payload, 0), 1, "last stream id");
    assert.ok(Date.now() - started >= 250, "a full idle period after the last stream");
  });
});

Deno.test("limits: INITIAL_WINDOW_SIZE pushing a stream window past 2^31-1 is FLOW_CONTROL_ERROR", async () => {
  await withRaw(() => {}, {}, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
    // The stream's send window becomes 2^31-1 exactly: allowed.
    await c.write(rawFrame(T.WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1 - 65_535)));
    assert.ok(await c.quiet(100, isGoaway));
    await c.write(
      rawFrame(T.SETTINGS, 0, 0, settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 65_536]])),
    );
    assert.equal(goawayCode(await goawayBeforeClose(c)), FLOW_CONTROL_ERROR);
  });
});

/**
 * A socket driven by the test: `feed` queues bytes for the server to read;
 * the first write hangs until `release` (a peer that does not read), and
 * every byte written is kept for `frames`.
 */
class FakeConn {
  readonly #incoming: Uint8Array[] = [];
  #wakeRead: (() => void) | undefined;
  #ended = false;
  #released = false;
  #wakeWrite: (() => void)[] = [];
  readonly #written: Uint8Array[] = [];
  closed = false;

  feed(...chunks: Uint8Array[]): void {
    this.#incoming.push(...chunks);
    this.#wakeRead?.();
  }

  end(): void {
    this.#ended = true;
    this.#wakeRead?.();
  }

  release(): void {
    this.#released = true;
    for (const w of this.#wakeWrite.splice(0)) w();
  }

  /** Lets the server handle what was fed (a few turns of the event loop). */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#incoming.length === 0) {
      if (this.#ended || this.closed) return null;
      await new Promise<void>((r) => (this.#wakeRead = r));
    }
    const next = this.#incoming[0];
    const n = Math.min(p.length, next.length);
    p.set(next.subarray(0, n));
    if (n === next.length) this.#incoming.shift();
    else this.#incoming[0] = next.subarray(n);
    return n;
  }

  async write(p: Uint8Array): Promise<number> {
    if (this.closed) throw new Error("closed");
    if (!this.#released) await new Promise<void>((r) => this.#wakeWrite.push(r));
    if (this.closed) throw new Error("closed");
    this.#written.push(p.slice());
    return p.length;
  }

  close(): void {
    this.closed = true;
    this.#wakeRead?.();
    for (const w of this.#wakeWrite.splice(0)) w();
  }

  /** The server half-closed: this peer, having read everything, closes too. */
  closeWrite(): void {
    this.end();
  }

  /** Every frame written so far (the server writes no preface). */
  frames(): RawFrame[] {
    const buf = Buffer.concat(this.#written);
    const out: RawFrame[] = [];
    for (let off = 0; off + 9 <= buf.length;) {
      const len = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      out.push({
        type: buf[off + 3],
        flags: buf[off + 4],
        streamId: readU32(buf, off + 5) & 0x7fffffff,
        payload: buf.subarray(off + 9, off + 9 + len),
      });
      off += 9 + len;
    }
    return out;
  }
}
