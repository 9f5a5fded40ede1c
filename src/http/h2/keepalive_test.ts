import assert from "node:assert/strict";
import {
  GRPC_KEEPALIVE_DEFAULTS,
  IdlePinger,
  keepaliveFromFlags,
  NO_STREAM_PING_MS,
  PingPolicy,
  type Timers,
} from "./keepalive.ts";
import { encodeHeaders } from "./hpack.ts";
import type { H2Stream } from "./stream.ts";
import { startTestH2Server } from "./test_server.ts";
import { RawClient, type RawFrame, rawFrame, readU32, T, within } from "./test_raw_client.ts";

const ENHANCE_YOUR_CALM = 11;
const ACK = 0x1;
const END_HEADERS = 0x4;

// --- keepaliveFromFlags ---

Deno.test("keepalive: etcd's flags pass through when positive", () => {
  assert.deepEqual(
    keepaliveFromFlags({ minTimeMs: 5000, intervalMs: 7200_000, timeoutMs: 20_000 }),
    {
      minTimeMs: 5000,
      intervalMs: 7200_000,
      timeoutMs: 20_000,
      permitWithoutStream: false,
    },
  );
});

Deno.test("keepalive: a zero flag leaves grpc-go's default, interval and timeout only as a pair", () => {
  const d = GRPC_KEEPALIVE_DEFAULTS;
  const noMin = keepaliveFromFlags({ minTimeMs: 0, intervalMs: 1000, timeoutMs: 500 });
  assert.equal(noMin.minTimeMs, d.minTimeMs);
  assert.equal(noMin.intervalMs, 1000);
  // etcd passes ServerParameters only when both are positive.
  const noTimeout = keepaliveFromFlags({ minTimeMs: 1, intervalMs: 1000, timeoutMs: 0 });
  assert.equal(noTimeout.intervalMs, d.intervalMs);
  assert.equal(noTimeout.timeoutMs, d.timeoutMs);
  const noInterval = keepaliveFromFlags({ minTimeMs: 1, intervalMs: 0, timeoutMs: 700 });
  assert.equal(noInterval.intervalMs, d.intervalMs);
  assert.equal(noInterval.timeoutMs, d.timeoutMs);
});

// --- PingPolicy ---

Deno.test("ping policy: the third strike is tolerated, the fourth too-frequent ping is not", () => {
  const p = new PingPolicy(1000);
  assert.equal(p.ping(0, 1), false, "the first ping is free");
  assert.equal(p.ping(10, 1), false, "strike 1");
  assert.equal(p.ping(20, 1), false, "strike 2");
  assert.equal(p.ping(30, 1), true, "strike 3 is more than maxPingStrikes (2)");
});

Deno.test("ping policy: pings min-time apart never strike", () => {
  const p = new PingPolicy(1000);
  for (let t = 0; t < 20_000; t += 1000) assert.equal(p.ping(t, 1), false, `ping at ${t}`);
});

Deno.test("ping policy: the server's headers or data forgive the next ping and clear strikes", () => {
  const p = new PingPolicy(1000);
  p.ping(0, 1);
  p.ping(1, 1);
  p.ping(2, 1); // two strikes
  p.wrote();
  assert.equal(p.ping(3, 1), false, "forgiven: strikes back to zero");
  assert.equal(p.ping(4, 1), false, "strike 1");
  assert.equal(p.ping(5, 1), false, "strike 2");
  assert.equal(p.ping(6, 1), true, "strike 3");
});

Deno.test("ping policy: BDP pings after each burst of server data are never punished", () => {
  const p = new PingPolicy(5000);
  for (let t = 0; t < 1000; t++) {
    p.wrote(); // the response a gRPC client measures
    assert.equal(p.ping(t, t % 2), false, `BDP ping ${t}`);
  }
});

Deno.test("ping policy: without streams a ping needs two hours since the last one", () => {
  const p = new PingPolicy(1000);
  assert.equal(p.ping(0, 0), false);
  assert.equal(p.ping(5000, 0), false, "strike 1 (5 s > min-time, but no stream)");
  assert.equal(p.ping(10_000, 0), false, "strike 2");
  assert.equal(p.ping(15_000, 0), true, "strike 3");
  const q = new PingPolicy(1000);
  q.ping(0, 0);
  assert.equal(q.ping(NO_STREAM_PING_MS, 0), false);
  assert.equal(q.ping(2 * NO_STREAM_PING_MS, 0), false);
  assert.equal(q.ping(3 * NO_STREAM_PING_MS, 0), false);
  assert.equal(q.ping(4 * NO_STREAM_PING_MS, 0), false, "2 h apart is allowed");
});

Deno.test("ping policy: permitWithoutStream applies min-time to streamless pings", () => {
  const p = new PingPolicy(1000, true);
  for (let t = 0; t < 10_000; t += 1000) assert.equal(p.ping(t, 0), false);
});

// --- IdlePinger with a fake clock ---

class FakeTime implements Timers {
  now = 0;
  #next = 1;
  readonly #pending = new Map<number, { at: number; fn: () => void }>();
  set(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clear(handle: unknown): void {
    this.#pending.delete(handle as number);
  }
  get pending(): number {
    return this.#pending.size;
  }
  /** Moves the clock to `to`, firing due timers in order. */
  advance(to: number): void {
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#pending) {
        if (e[1].at <= to && (!first || e[1].at < first[1].at)) first = e;
      }
      if (!first) break;
      this.#pending.delete(first[0]);
      this.now = first[1].at;
      first[1].fn();
    }
    this.now = to;
  }
}

function pinger(intervalMs: number, timeoutMs: number) {
  const time = new FakeTime();
  const events: string[] = [];
  const p = new IdlePinger(
    { intervalMs, timeoutMs },
    {
      sendPing: () => events.push(`ping@${time.now}`),
      close: () => events.push(`close@${time.now}`),
    },
    () => time.now,
    time,
  );
  p.start();
  return { time, events, p };
}

Deno.test("idle pinger: pings after interval without reads, closes after timeout without an answer", () => {
  const { time, events } = pinger(1000, 300);
  time.advance(999);
  assert.deepEqual(events, []);
  time.advance(1000);
  assert.deepEqual(events, ["ping@1000"]);
  time.advance(1299);
  assert.deepEqual(events, ["ping@1000"]);
  time.advance(1300);
  assert.deepEqual(events, ["ping@1000", "close@1300"]);
  assert.equal(time.pending, 0, "no timer left after closing");
});

Deno.test("idle pinger: an answer keeps the connection and the next ping waits a full interval", () => {
  const { time, events, p } = pinger(1000, 300);
  time.advance(1000);
  time.advance(1100);
  p.read(); // the PING ACK
  time.advance(2099);
  assert.deepEqual(events, ["ping@1000"], "no second ping before lastRead + interval");
  time.advance(2100);
  assert.deepEqual(events, ["ping@1000", "ping@2100"]);
});

Deno.test("idle pinger: reads keep a busy connection from being pinged", () => {
  const { time, events, p } = pinger(1000, 300);
  for (let t = 100; t <= 10_000; t += 500) {
    time.advance(t);
    p.read();
  }
  assert.deepEqual(events, [], "never idle for a whole interval");
  // The last read was at 9,600: a ping an interval later, closed a timeout after.
  time.advance(11_000);
  assert.deepEqual(events, ["ping@10600", "close@10900"]);
});

Deno.test("idle pinger: a timeout longer than the interval pings once and closes at the timeout", () => {
  const { time, events } = pinger(100, 350);
  time.advance(1000);
  assert.deepEqual(events, ["ping@100", "close@450"]);
});

Deno.test("idle pinger: waits longer than one timer allows are taken in steps", () => {
  const { time, events } = pinger(3 * 2 ** 31, 1000);
  time.advance(2 ** 31);
  assert.deepEqual(events, [], "no ping when the first timer step ends");
  time.advance(3 * 2 ** 31);
  assert.deepEqual(events, [`ping@${3 * 2 ** 31}`]);
});

Deno.test("idle pinger: stop clears its timer", () => {
  const { time, events, p } = pinger(1000, 300);
  p.stop();
  assert.equal(time.pending, 0);
  time.advance(5000);
  assert.deepEqual(events, []);
});

// --- on a real connection ---

const okHeaders = () => encodeHeaders([[":status", "200"]]);
function request(path = "/x"): Uint8Array {
  return encodeHeaders([[":method", "POST"], [":scheme", "http"], [":path", path], [
    ":authority",
    "localhost",
  ]]);
}

async function withKeepalive(
  ka: { intervalMs: number; timeoutMs: number; minTimeMs: number },
  onStream: (s: H2Stream) => void,
  fn: (c: RawClient) => Promise<void>,
): Promise<void> {
  const server = startTestH2Server(onStream, { keepalive: { ...ka, permitWithoutStream: false } });
  const client = await RawClient.connect(server.port);
  try {
    await fn(client);
  } finally {
    await client.close();
    await within(server.close(), 2000, "server close");
  }
}

const isGoaway = (f: RawFrame) => f.type === T.GOAWAY;
const isServerPing = (f: RawFrame) => f.type === T.PING && !(f.flags & ACK);

Deno.test("connection: a client pinging too often gets GOAWAY ENHANCE_YOUR_CALM too_many_pings", async () => {
  await withKeepalive(
    { intervalMs: 60_000, timeoutMs: 60_000, minTimeMs: 60_000 },
    () => {},
    async (c) => {
      await c.handshake();
      // An open stream, so the min-time rule (not the no-stream one) applies.
      await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, request()));
      for (let i = 0; i < 4; i++) await c.write(rawFrame(T.PING, 0, 0, new Uint8Array(8).fill(i)));
      const goaway = await c.until(isGoaway);
      assert.equal(readU32(goaway.payload, 4), ENHANCE_YOUR_CALM);
      assert.equal(new TextDecoder().decode(goaway.payload.subarray(8)), "too_many_pings");
      assert.equal(readU32(goaway.payload, 0), 1, "last stream id");
      await c.untilClosed();
      const acks = c.seen.filter((f) => f.type === T.PING && f.flags & ACK);
      assert.equal(acks.length, 4, "every ping was answered before the GOAWAY");
    },
  );
});

Deno.test("connection: pings that follow server data are not strikes", async () => {
  await withKeepalive(
    { intervalMs: 60_000, timeoutMs: 60_000, minTimeMs: 60_000 },
    (s) => {
      s.listener = { data: (chunk) => s.write(chunk) };
      s.respond(okHeaders());
    },
    async (c) => {
      await c.handshake();
      await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, request()));
      await c.until((f) => f.type === T.HEADERS);
      for (let i = 0; i < 10; i++) {
        await c.write(rawFrame(T.DATA, 0, 1, Uint8Array.of(i)));
        await c.until((f) => f.type === T.DATA); // the echo: server data
        await c.write(rawFrame(T.PING, 0, 0, new Uint8Array(8).fill(i))); // a BDP ping
        await c.until((f) => f.type === T.PING && (f.flags & ACK) !== 0);
      }
      assert.ok(await c.quiet(100, isGoaway), "no GOAWAY for pings after data");
    },
  );
});

Deno.test("connection: pings without any stream are struck even min-time apart", async () => {
  await withKeepalive(
    { intervalMs: 60_000, timeoutMs: 60_000, minTimeMs: 1 },
    () => {},
    async (c) => {
      await c.handshake();
      for (let i = 0; i < 4; i++) {
        await c.write(rawFrame(T.PING, 0, 0, new Uint8Array(8)));
        await c.until((f) => f.type === T.PING || isGoaway(f));
      }
      const goaway = await c.until(isGoaway, 1000).catch(() => c.seen.find(isGoaway));
      assert.ok(goaway, "GOAWAY sent");
      assert.equal(readU32(goaway.payload, 4), ENHANCE_YOUR_CALM);
    },
  );
});

Deno.test("connection: an idle connection gets a server PING, and is closed when it does not answer", async () => {
  await withKeepalive(
    { intervalMs: 150, timeoutMs: 150, minTimeMs: 60_000 },
    () => {},
    async (c) => {
      await c.handshake();
      const ping = await c.until(isServerPing, 2000);
      assert.equal(ping.streamId, 0);
      assert.equal(ping.payload.length, 8);
      const rest = await c.untilClosed(2000);
      assert.equal(rest.filter(isGoaway).length, 0, "grpc-go closes without GOAWAY");
    },
  );
});

Deno.test("connection: answered server PINGs keep an idle connection open", async () => {
  await withKeepalive(
    { intervalMs: 100, timeoutMs: 100, minTimeMs: 60_000 },
    () => {},
    async (c) => {
      await c.handshake();
      for (let i = 0; i < 3; i++) {
        const ping = await c.until(isServerPing, 2000);
        await c.write(rawFrame(T.PING, ACK, 0, ping.payload));
      }
      // Three rounds of interval + answer: the connection is still served.
      await c.write(rawFrame(T.PING, 0, 0, new Uint8Array(8).fill(7)));
      const ack = await c.until((f) => f.type === T.PING && (f.flags & ACK) !== 0, 2000);
      assert.equal(ack.payload[0], 7);
      assert.ok(!c.seen.some(isGoaway));
    },
  );
});

Deno.test("connection: without keepalive options no PING is sent", async () => {
  const server = startTestH2Server(() => {});
  const c = await RawClient.connect(server.port);
  try {
    await c.handshake();
    assert.ok(await c.quiet(300, isServerPing));
  } finally {
    await c.close();
    await within(server.close(), 2000, "server close");
  }
});
