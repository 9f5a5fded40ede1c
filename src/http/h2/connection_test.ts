import assert from "node:assert/strict";
import type { H2Options } from "./connection.ts";
import { encodeHeaders } from "./hpack.ts";
import { CONNECTION_WINDOW } from "./limits.ts";
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
const PADDED = 0x8;
const PRIORITY = 0x20;

const SETTINGS_ENABLE_PUSH = 2;
const SETTINGS_MAX_CONCURRENT_STREAMS = 3;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;
const SETTINGS_MAX_FRAME_SIZE = 5;

const PROTOCOL_ERROR = 1;
const FRAME_SIZE_ERROR = 6;
const REFUSED_STREAM = 7;
const CANCEL = 8;
const COMPRESSION_ERROR = 9;

const enc = new TextEncoder();
const dec = new TextDecoder();

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

/** Runs `fn` with a server and a raw client, closing both afterwards. */
async function withRaw(
  onStream: (s: H2Stream) => void,
  opts: Partial<H2Options>,
  fn: (c: RawClient, port: number) => Promise<void>,
): Promise<void> {
  const server = startTestH2Server(onStream, opts);
  const client = await RawClient.connect(server.port);
  try {
    await fn(client, server.port);
  } finally {
    await client.close();
    await within(server.close(), 2000, "server close");
  }
}

/** Collects DATA of `streamId` until END_STREAM (frames of other streams are dropped). */
async function readBody(c: RawClient, streamId: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (;;) {
    const f = await c.until((f) => f.type === T.DATA && f.streamId === streamId);
    parts.push(f.payload);
    if (f.flags & END_STREAM) return Buffer.concat(parts);
  }
}

const isGoaway = (f: RawFrame) => f.type === T.GOAWAY;

Deno.test("server SETTINGS come first and ours are ACKed", async () => {
  await withRaw(() => {}, { maxConcurrentStreams: 5, streamWindow: 1000 }, async (c) => {
    const settings = await c.handshake([[SETTINGS_MAX_FRAME_SIZE, 20_000]]);
    assert.equal(settings.get(SETTINGS_ENABLE_PUSH), 0);
    assert.equal(settings.get(SETTINGS_INITIAL_WINDOW_SIZE), 1000);
    assert.equal(settings.get(SETTINGS_MAX_CONCURRENT_STREAMS), 5);
    // The connection window (limits.ts) is announced with a WINDOW_UPDATE on stream 0.
    const wu = c.seen.find((f) => f.type === T.WINDOW_UPDATE && f.streamId === 0);
    assert.ok(wu);
    assert.equal(readU32(wu.payload), CONNECTION_WINDOW - 65_535);
    const ack = c.seen.find((f) => f.type === T.SETTINGS && f.flags === ACK);
    assert.equal(ack?.payload.length, 0);
  });
});

Deno.test("PING is echoed with ACK; a PING ACK is not", async () => {
  await withRaw(() => {}, {}, async (c) => {
    await c.handshake();
    await c.write(
      rawFrame(T.PING, ACK, 0, new Uint8Array(8).fill(9)),
      rawFrame(T.PING, 0, 0, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
    );
    const pong = await c.until((f) => f.type === T.PING);
    assert.equal(pong.flags, ACK);
    assert.deepEqual([...pong.payload], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.ok(await c.quiet(100), "nothing answers the PING ACK");
  });
});

Deno.test("a PING is answered while a streaming call stays silent", async () => {
  // An ACK may wait for a response to travel with; a stream whose request
  // is still open and never answered (a quiet watch) must not hold it back.
  await withRaw(() => {}, {}, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock("/silent")));
    await c.write(rawFrame(T.PING, 0, 0, Uint8Array.of(8, 7, 6, 5, 4, 3, 2, 1)));
    const pong = await within(c.until((f) => f.type === T.PING), 1000, "PING ACK");
    assert.equal(pong.flags, ACK);
    assert.deepEqual([...pong.payload], [8, 7, 6, 5, 4, 3, 2, 1]);
  });
});

Deno.test("a PING ACK and the response that follows it arrive in order, once each", async () => {
  await withRaw(
    (s) => {
      setTimeout(() => {
        s.respond(ok200());
        s.end();
      }, 5);
    },
    {},
    async (c) => {
      await c.handshake();
      await c.write(
        rawFrame(T.PING, 0, 0, new Uint8Array(8).fill(3)),
        rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 1, requestBlock()),
      );
      await c.until((f) => f.type === T.HEADERS && f.streamId === 1);
      await readBody(c, 1);
      await c.quiet(50);
      const acks = c.seen.filter((f) => f.type === T.PING);
      assert.equal(acks.length, 1);
      assert.equal(acks[0].flags, ACK);
    },
  );
});

Deno.test("a request split over HEADERS and CONTINUATION frames is served", async () => {
  const big = "b".repeat(200);
  await withRaw(
    (s) => {
      s.respond(encodeHeaders([[":status", "200"], ["x-echo", `${s.path} ${s.header("x-big")}`]]));
      s.end();
    },
    {},
    async (c) => {
      await c.handshake();
      const block = requestBlock("/split", [["x-big", big]]);
      const a = block.subarray(0, 10), b = block.subarray(10, 100), rest = block.subarray(100);
      await c.write(rawFrame(T.HEADERS, END_STREAM, 1, a));
      // The second CONTINUATION arrives in two TCP writes: the parser must wait for it whole.
      await c.write(rawFrame(T.CONTINUATION, 0, 1, b));
      const last = rawFrame(T.CONTINUATION, END_HEADERS, 1, rest);
      await c.write(last.subarray(0, 5));
      await new Promise((r) => setTimeout(r, 20));
      await c.write(last.subarray(5));
      const h = await c.until((f) => f.type === T.HEADERS && f.streamId === 1);
      assert.equal(c.headers(h).get(":status"), "200");
      assert.equal(c.headers(h).get("x-echo"), `/split ${big}`);
      assert.equal((await readBody(c, 1)).length, 0);
    },
  );
});

Deno.test("a frame other than CONTINUATION inside a header block is a PROTOCOL_ERROR", async () => {
  await withRaw(() => assert.fail("no stream"), {}, async (c) => {
    await c.handshake();
    const block = requestBlock();
    await c.write(
      rawFrame(T.HEADERS, 0, 1, block.subarray(0, 4)),
      rawFrame(T.PING, 0, 0, new Uint8Array(8)),
    );
    const frames = await c.untilClosed();
    assert.equal(readU32(frames.find(isGoaway)!.payload, 4), PROTOCOL_ERROR);
  });
});

Deno.test("padded HEADERS (with priority) and padded DATA are accepted", async () => {
  await withRaw(
    (s) => {
      const parts: Uint8Array[] = [];
      s.listener = {
        data: (chunk) => parts.push(chunk),
        end: () => {
          s.respond(ok200());
          s.writeNow(Buffer.concat(parts), true);
        },
      };
    },
    {},
    async (c) => {
      await c.handshake();
      const block = requestBlock("/padded");
      // Pad length 5, then stream dependency (4) and weight (1), the block, 5 padding bytes.
      const headers = Uint8Array.from([5, 0, 0, 0, 0, 16, ...block, 9, 9, 9, 9, 9]);
      await c.write(rawFrame(T.HEADERS, END_HEADERS | PADDED | PRIORITY, 1, headers));
      await c.write(
        rawFrame(T.DATA, PADDED, 1, Uint8Array.from([3, ...enc.encode("hello"), 7, 7, 7])),
      );
      await c.write(
        rawFrame(T.DATA, PADDED | END_STREAM, 1, Uint8Array.from([0, ...enc.encode(" world")])),
      );
      const h = await c.until((f) => f.type === T.HEADERS);
      assert.equal(c.headers(h).get(":status"), "200");
      assert.equal(dec.decode(await readBody(c, 1)), "hello world");
    },
  );
});

Deno.test("padding longer than the frame is a PROTOCOL_ERROR", async () => {
  await withRaw(() => {}, {}, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS | PADDED, 1, Uint8Array.of(4, 0x82, 0, 0)));
    const frames = await c.untilClosed();
    assert.equal(readU32(frames.find(isGoaway)!.payload, 4), PROTOCOL_ERROR);
  });
});

Deno.test("a small client stream window makes the response wait for WINDOW_UPDATEs", async () => {
  const body = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  const written = deferred();
  await withRaw(
    (s) => {
      s.respond(ok200());
      s.write(body, true).then(() => written.resolve());
    },
    {},
    async (c) => {
      await c.handshake([[SETTINGS_INITIAL_WINDOW_SIZE, 100]]);
      await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 1, requestBlock()));
      await c.until((f) => f.type === T.HEADERS && f.streamId === 1);
      const got: Uint8Array[] = [];
      let total = 0;
      const drain = async (expected: number) => {
        while (total < expected) {
          const f = await c.until((f) => f.type === T.DATA && f.streamId === 1);
          got.push(f.payload);
          total += f.payload.length;
        }
        assert.equal(total, expected, "no more than the window");
        assert.ok(await c.quiet(100, (f) => f.type === T.DATA), `nothing past ${expected} bytes`);
      };
      await drain(100);
      await c.write(rawFrame(T.WINDOW_UPDATE, 0, 1, u32(250)));
      await drain(350);
      await c.write(rawFrame(T.WINDOW_UPDATE, 0, 1, u32(1)));
      await drain(351);
      // Raising SETTINGS_INITIAL_WINDOW_SIZE applies to open streams too (RFC 9113 §6.9.2).
      await c.write(
        rawFrame(T.SETTINGS, 0, 0, settingsPayload([[SETTINGS_INITIAL_WINDOW_SIZE, 700]])),
      );
      await drain(951);
      await c.write(rawFrame(T.WINDOW_UPDATE, 0, 1, u32(49)));
      while (total < 1000) {
        const f = await c.until((f) => f.type === T.DATA && f.streamId === 1);
        got.push(f.payload);
        total += f.payload.length;
      }
      const last = c.seen.filter((f) => f.type === T.DATA && f.streamId === 1).at(-1)!;
      assert.equal(last.flags & END_STREAM, END_STREAM);
      assert.deepEqual(Buffer.concat(got), Buffer.from(body));
      await within(written.promise, 2000, "write() resolving");
    },
  );
});

Deno.test("the connection send window holds every stream until a stream-0 WINDOW_UPDATE", async () => {
  const size = 40_000;
  await withRaw(
    (s) => {
      const fill = Number(s.path.slice(1));
      s.respond(ok200());
      s.writeNow(new Uint8Array(size).fill(fill), true);
    },
    {},
    async (c) => {
      await c.handshake([[SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20]]);
      await c.write(
        rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 1, requestBlock("/1")),
        rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 3, requestBlock("/3")),
      );
      let total = 0;
      while (total < 65_535) total += (await c.until((f) => f.type === T.DATA)).payload.length;
      assert.equal(total, 65_535);
      assert.ok(await c.quiet(100, (f) => f.type === T.DATA), "nothing past the connection window");
      await c.write(rawFrame(T.WINDOW_UPDATE, 0, 0, u32(2 * size - 65_535)));
      while (total < 2 * size) total += (await c.until((f) => f.type === T.DATA)).payload.length;
      const ends = c.seen.filter((f) => f.type === T.DATA && (f.flags & END_STREAM) !== 0);
      assert.deepEqual(ends.map((f) => f.streamId).sort(), [1, 3]);
      assert.equal(total, 2 * size);
      for (const id of [1, 3]) {
        const data = Buffer.concat(
          c.seen.filter((f) => f.type === T.DATA && f.streamId === id).map((f) => f.payload),
        );
        assert.equal(data.length, size);
        assert.ok(data.every((b) => b === id));
      }
    },
  );
});

Deno.test("RST_STREAM from the client aborts the stream's listener and signal", async () => {
  const aborted = deferred<string>();
  const got = deferred<H2Stream>();
  await withRaw(
    (s) => {
      s.listener = { abort: (reason) => aborted.resolve(reason) };
      got.resolve(s);
    },
    {},
    async (c, _port) => {
      await c.handshake();
      await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
      const stream = await within(got.promise);
      const signal = stream.signal;
      assert.equal(signal.aborted, false);
      await c.write(rawFrame(T.RST_STREAM, 0, 1, u32(CANCEL)));
      assert.match(await within(aborted.promise), /reset/);
      assert.equal(signal.aborted, true);
      assert.equal(stream.aborted, true);
      // The stream is gone; the connection still answers.
      stream.respond(ok200(), true);
      await c.write(rawFrame(T.PING, 0, 0, new Uint8Array(8)));
      const next = await c.next();
      assert.equal(next?.type, T.PING, "no response frames for a reset stream");
    },
  );
});

Deno.test("streams beyond maxConcurrentStreams are refused with REFUSED_STREAM", async () => {
  const streams: H2Stream[] = [];
  const seventh = deferred();
  await withRaw(
    (s) => {
      streams.push(s);
      if (s.id === 7) seventh.resolve();
    },
    { maxConcurrentStreams: 2 },
    async (c) => {
      await c.handshake();
      for (const id of [1, 3, 5]) {
        await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, id, requestBlock()));
      }
      const rst = await c.until((f) => f.type === T.RST_STREAM);
      assert.equal(rst.streamId, 5);
      assert.equal(readU32(rst.payload), REFUSED_STREAM);
      assert.deepEqual(streams.map((s) => s.id), [1, 3]);
      // Finishing one makes room for the next.
      streams[0].respond(ok200(), true);
      await c.until((f) =>
        f.type === T.HEADERS && f.streamId === 1 && (f.flags & END_STREAM) !== 0
      );
      await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 7, requestBlock()));
      await within(seventh.promise, 2000, "stream 7");
      assert.deepEqual(streams.map((s) => s.id), [1, 3, 7]);
    },
  );
});

Deno.test("a bad header block ends the connection with GOAWAY COMPRESSION_ERROR", async () => {
  await withRaw(() => assert.fail("no stream"), {}, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 1, Uint8Array.of(0x80)));
    const frames = await c.untilClosed();
    const goaway = frames.find(isGoaway);
    assert.ok(goaway, "GOAWAY before the close");
    assert.equal(readU32(goaway.payload, 4), COMPRESSION_ERROR);
  });
});

Deno.test("a frame larger than 16384 bytes gets GOAWAY FRAME_SIZE_ERROR", async () => {
  await withRaw(() => {}, {}, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
    // Only the header of the oversized frame: the length alone must be refused.
    await c.write(rawFrame(T.DATA, 0, 1, new Uint8Array(100), 16_385).subarray(0, 109));
    const frames = await c.untilClosed();
    const goaway = frames.find(isGoaway);
    assert.ok(goaway);
    assert.equal(readU32(goaway.payload, 4), FRAME_SIZE_ERROR);
    assert.equal(readU32(goaway.payload, 0), 1, "last stream id");
  });
});

Deno.test("a bad connection preface closes the connection", async () => {
  await withRaw(() => assert.fail("no stream"), {}, async (c) => {
    await c.write(enc.encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    const frames = await c.untilClosed();
    assert.equal(readU32(frames.find(isGoaway)!.payload, 4), PROTOCOL_ERROR);
  });
});

Deno.test("after a client GOAWAY the open stream finishes, then the connection closes", async () => {
  const got = deferred<H2Stream>();
  const ids: number[] = [];
  await withRaw(
    (s) => {
      ids.push(s.id);
      got.resolve(s);
    },
    {},
    async (c) => {
      await c.handshake();
      await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 1, requestBlock()));
      const stream = await within(got.promise);
      await c.write(rawFrame(T.GOAWAY, 0, 0, new Uint8Array(8)));
      // A stream opened after our GOAWAY is not served.
      await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 3, requestBlock()));
      assert.ok(await c.quiet(100), "connection still open while stream 1 runs");
      stream.respond(ok200());
      stream.writeNow(enc.encode("bye"), true);
      const frames = await c.untilClosed();
      const data = frames.filter((f) => f.type === T.DATA && f.streamId === 1);
      assert.equal(dec.decode(Buffer.concat(data.map((f) => f.payload))), "bye");
      assert.equal(data.at(-1)!.flags & END_STREAM, END_STREAM);
      assert.deepEqual(ids, [1]);
    },
  );
});

Deno.test("DATA on an idle stream is a connection PROTOCOL_ERROR", async () => {
  await withRaw(() => assert.fail("no stream"), {}, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.DATA, END_STREAM, 5, enc.encode("x")));
    const frames = await c.untilClosed();
    assert.equal(readU32(frames.find(isGoaway)!.payload, 4), PROTOCOL_ERROR);
  });
});

for (const pad of [0, 200]) {
  Deno.test(`a request body larger than the stream window arrives as the handler consumes (padding ${pad})`, async () => {
    const total = pad ? 20 : 10_000;
    const received: Uint8Array[] = [];
    await withRaw(
      (s) => {
        s.listener = {
          data(chunk) {
            received.push(chunk);
            s.consumed(chunk.length);
          },
          end() {
            s.respond(ok200());
            s.writeNow(enc.encode(String(received.reduce((n, c) => n + c.length, 0))), true);
          },
        };
      },
      { streamWindow: 1000 },
      async (c) => {
        const settings = await c.handshake();
        let window = settings.get(SETTINGS_INITIAL_WINDOW_SIZE)!;
        assert.equal(window, 1000);
        const body = Uint8Array.from({ length: total }, (_, i) => (i * 7) % 256);
        await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
        let sent = 0;
        let updates = 0;
        // Padding and its length byte count against the window (RFC 9113 §6.1), so the
        // server must give them back even though the handler never sees them.
        const overhead = pad ? pad + 1 : 0;
        while (sent < total) {
          if (window <= overhead) {
            const wu = await c.until((f) => f.type === T.WINDOW_UPDATE && f.streamId === 1);
            window += readU32(wu.payload);
            updates++;
            continue;
          }
          const n = Math.min(window - overhead, pad ? 1 : 300, total - sent);
          const end = sent + n === total ? END_STREAM : 0;
          const data = body.subarray(sent, sent + n);
          const payload = pad ? Uint8Array.from([pad, ...data, ...new Uint8Array(pad)]) : data;
          await c.write(rawFrame(T.DATA, end | (pad ? PADDED : 0), 1, payload));
          sent += n;
          window -= n + overhead;
        }
        assert.ok(updates >= 2, `${updates} WINDOW_UPDATEs`);
        assert.equal(dec.decode(await readBody(c, 1)), String(total));
        assert.deepEqual(Buffer.concat(received), Buffer.from(body));
      },
    );
  });
}

Deno.test("a preface split across writes is accepted", async () => {
  await withRaw((s) => s.respond(ok200(), true), {}, async (c) => {
    await c.write(PREFACE.subarray(0, 7));
    await new Promise((r) => setTimeout(r, 20));
    await c.write(PREFACE.subarray(7), rawFrame(T.SETTINGS, 0, 0));
    await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 1, requestBlock()));
    const h = await c.until((f) => f.type === T.HEADERS);
    assert.equal(c.headers(h).get(":status"), "200");
  });
});

Deno.test("a response sent at once to a body-less request is not followed by RST_STREAM", async () => {
  await withRaw(
    (s) => {
      s.respond(ok200());
      s.writeNow(enc.encode("done"), true);
    },
    {},
    async (c) => {
      await c.handshake();
      await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 1, requestBlock()));
      assert.equal(dec.decode(await readBody(c, 1)), "done");
      // Both sides ended the stream: it is closed, and nothing more may be sent on it.
      assert.ok(await c.quiet(100, (f) => f.streamId === 1), "no frame after END_STREAM");
    },
  );
});

Deno.test("a response complete before the request body ends asks the client to stop", async () => {
  const got = deferred<H2Stream>();
  await withRaw((s) => got.resolve(s), {}, async (c) => {
    await c.handshake();
    await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()));
    const stream = await within(got.promise);
    stream.respond(ok200(), true);
    const rst = await c.until((f) => f.type === T.RST_STREAM);
    assert.equal(rst.streamId, 1);
    assert.equal(readU32(rst.payload), 0, "RST_STREAM NO_ERROR (RFC 9113 §8.1)");
    assert.equal(stream.aborted, false);
    // Late request DATA for the finished stream is dropped, not an error.
    await c.write(rawFrame(T.DATA, END_STREAM, 1, enc.encode("late")));
    await c.write(rawFrame(T.PING, 0, 0, new Uint8Array(8)));
    assert.equal((await c.until((f) => f.type === T.PING || f.type === T.GOAWAY)).type, T.PING);
  });
});

Deno.test("request trailers end the request; a response header block over 16 KiB is continued", async () => {
  const big = "z".repeat(20_000);
  await withRaw(
    (s) => {
      const parts: Uint8Array[] = [];
      s.listener = {
        data: (c) => parts.push(c),
        end: () => {
          s.respond(encodeHeaders([[":status", "200"], ["x-big", big]]));
          s.writeNow(Buffer.concat(parts), true);
        },
      };
    },
    {},
    async (c) => {
      await c.handshake();
      await c.write(
        rawFrame(T.HEADERS, END_HEADERS, 1, requestBlock()),
        rawFrame(T.DATA, 0, 1, enc.encode("body")),
        rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaders([["x-trailer", "t"]])),
      );
      const first = await c.until((f) => f.type === T.HEADERS && f.streamId === 1);
      assert.equal(first.flags & END_HEADERS, 0);
      assert.equal(first.payload.length, 16_384);
      const cont = await c.next();
      assert.equal(cont?.type, T.CONTINUATION);
      assert.equal(cont.flags & END_HEADERS, END_HEADERS);
      const fields = new Map(c.decoder.decode(Buffer.concat([first.payload, cont.payload])));
      assert.equal(fields.get("x-big"), big);
      assert.equal(dec.decode(await readBody(c, 1)), "body");
    },
  );
});

Deno.test("protocol violations end the connection with the right GOAWAY code", async () => {
  const cases: Array<[string, Uint8Array, number]> = [
    [
      "PUSH_PROMISE from a client",
      rawFrame(T.PUSH_PROMISE, END_HEADERS, 1, u32(2)),
      PROTOCOL_ERROR,
    ],
    ["SETTINGS of 5 bytes", rawFrame(T.SETTINGS, 0, 0, new Uint8Array(5)), FRAME_SIZE_ERROR],
    ["SETTINGS on a stream", rawFrame(T.SETTINGS, 0, 1), PROTOCOL_ERROR],
    // FRAME_SIZE_ERROR as RFC 9113 §6.7 says, the same in the client (one shared check).
    ["PING of 4 bytes", rawFrame(T.PING, 0, 0, new Uint8Array(4)), FRAME_SIZE_ERROR],
    ["zero connection WINDOW_UPDATE", rawFrame(T.WINDOW_UPDATE, 0, 0, u32(0)), PROTOCOL_ERROR],
    ["window overflow", rawFrame(T.WINDOW_UPDATE, 0, 0, u32(2 ** 31 - 1)), 3],
    ["even stream id", rawFrame(T.HEADERS, END_HEADERS, 2, requestBlock()), PROTOCOL_ERROR],
    [
      "INITIAL_WINDOW_SIZE too large",
      rawFrame(T.SETTINGS, 0, 0, settingsPayload([[4, 2 ** 31]])),
      3,
    ],
  ];
  for (const [what, bytes, code] of cases) {
    await withRaw(() => {}, {}, async (c) => {
      await c.handshake();
      await c.write(bytes);
      const goaway = (await c.untilClosed()).find(isGoaway);
      assert.ok(goaway, what);
      assert.equal(readU32(goaway.payload, 4), code, what);
    });
  }
});
