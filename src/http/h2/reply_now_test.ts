import assert from "node:assert/strict";
import { encodeHeaders } from "./hpack.ts";
import type { H2Stream } from "./stream.ts";
import { startTestH2Server } from "./test_server.ts";
import { RawClient, rawFrame, T, u32, within } from "./test_raw_client.ts";

const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const SETTINGS_INITIAL_WINDOW_SIZE = 4;

const request = encodeHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/unary"],
  [":authority", "localhost"],
]);
const trailers = encodeHeaders([["grpc-status", "0"]]);

/** A unary reply as grpc_unary sends it: headers, the message, trailers; the queue is sampled after each. */
function reply(body: Uint8Array, queued: number[]): (s: H2Stream) => void {
  return (s) => {
    s.respond(encodeHeaders([[":status", "200"]]));
    s.writeNow(body);
    queued.push(s.queue.length, s.queuedBytes);
    s.sendTrailers(trailers);
    queued.push(s.queue.length);
  };
}

async function serve(
  body: Uint8Array,
  window: number | undefined,
  fn: (c: RawClient) => Promise<void>,
): Promise<number[]> {
  const queued: number[] = [];
  const server = startTestH2Server(reply(body, queued));
  const c = await RawClient.connect(server.port);
  try {
    await c.handshake(window === undefined ? [] : [[SETTINGS_INITIAL_WINDOW_SIZE, window]]);
    await c.write(rawFrame(T.HEADERS, END_STREAM | END_HEADERS, 1, request));
    await fn(c);
  } finally {
    await c.close();
    await within(server.close(), 2000, "server close");
  }
  return queued;
}

/** The frame types of stream 1, in order, until its END_STREAM. */
async function stream1(c: RawClient): Promise<number[]> {
  await c.until((f) => f.streamId === 1 && (f.flags & END_STREAM) !== 0);
  return c.seen.filter((f) => f.streamId === 1).map((f) => f.type);
}

Deno.test("a unary reply the windows take is framed at once: nothing queued, frames in order", async () => {
  const body = new Uint8Array(300).fill(5);
  const queued = await serve(body, undefined, async (c) => {
    assert.deepEqual(await stream1(c), [T.HEADERS, T.DATA, T.HEADERS]);
    const data = c.seen.find((f) => f.streamId === 1 && f.type === T.DATA)!;
    assert.deepEqual(data.payload, body);
    assert.equal(data.flags & END_STREAM, 0);
  });
  assert.deepEqual(queued, [0, 0, 0]);
});

Deno.test("a unary reply larger than the stream window waits, its trailers behind it", async () => {
  const body = Uint8Array.from({ length: 300 }, (_, i) => i % 251);
  const queued = await serve(body, 100, async (c) => {
    const first = await c.until((f) => f.streamId === 1 && f.type === T.DATA);
    assert.equal(first.payload.length, 100);
    assert.ok(
      await c.quiet(100, (f) => f.streamId === 1 && f.type !== T.DATA),
      "no trailers before the rest of the message",
    );
    await c.write(rawFrame(T.WINDOW_UPDATE, 0, 1, u32(200)));
    assert.deepEqual(await stream1(c), [T.HEADERS, T.DATA, T.DATA, T.HEADERS]);
    const got = c.seen.filter((f) => f.streamId === 1 && f.type === T.DATA).map((f) => f.payload);
    assert.deepEqual(Buffer.concat(got), Buffer.from(body));
  });
  assert.deepEqual(queued, [1, 200, 2]);
});
