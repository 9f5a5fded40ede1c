/**
 * Attacks on cairn's HTTP/2 (issue 11), one test per bound of
 * src/http/h2/limits.ts, each against a live member on loopback. Every
 * test asserts three things:
 *
 * - the member keeps serving etcdctl during and after the attack;
 * - its resident memory grows less than a stated bound (RSS_BOUND_MIB
 *   unless the test says otherwise; etcd 3.4 stayed under 20 MiB in the
 *   issue's runs of the same floods, cairn grew by 0.6 to 1.4 GiB before
 *   the bounds);
 * - the attacking connection gets the stated HTTP/2 error.
 *
 * Floods are bounded in count and in time (at most a few seconds each).
 * The idle-connection timeout (3 minutes) is too long for a test here: it
 * is covered with a short timeout in src/http/h2/limits_test.ts.
 */

import assert from "node:assert/strict";
import { MAX_RESETS_PER_SECOND, SNIFF_TIMEOUT_MS } from "../src/http/h2/limits.ts";
import {
  RawClient,
  type RawFrame,
  rawFrame,
  readU32,
  T,
  u32,
} from "../src/http/h2/test_raw_client.ts";
import {
  dial,
  END_HEADERS,
  END_STREAM,
  flood,
  goawayOf,
  grpcRequest,
  H2,
  handshake,
  indexedLiteral,
  leaseKeepAlive,
  peakRss,
  range,
  readUntilClosed,
  repeat,
  rssMiB,
  SETTINGS_INITIAL_WINDOW_SIZE,
  sleep,
  watchCreate,
  whileServing,
  writeAll,
} from "./harness/h2_attack.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("h2_attack_test.ts");
const options = { ignore, sanitizeOps: false, sanitizeResources: false };

/** Growth of the member's RSS an attack may cause (MiB). */
const RSS_BOUND_MIB = 64;
/**
 * The bound for floods of new connections that each open a call the member
 * starts to serve (20 to 140 connections a second here): V8 lets the
 * garbage of that churn build up before its heap settles. Measured peaks
 * were +100 to +130 MiB, and the RSS came back to its baseline seconds
 * after the flood; what one connection can make the member hold is bounded
 * by the windows (limits.ts).
 */
const CHURN_RSS_BOUND_MIB = 192;
/**
 * The bound for MAX_CONNECTIONS_PER_LISTENER idle HTTP/2 connections held
 * open at once: about 30 KiB each (socket, 4 KiB read buffer, timers,
 * HPACK table), which the cap bounds. grpc-go, behind etcd's client port,
 * allocates 64 KiB of buffers per connection.
 */
const CONNECTIONS_RSS_BOUND_MIB = 512;
/**
 * The bound for HPACK bombs: each run sends a 1 MiB header block and 2,000
 * small bombs, 50 to 80 runs in the 3 s, and the garbage of that churn took
 * the RSS up by 47 to 75 MiB, on this stop's code and on 7b55c69's alike
 * (the flat 64 MiB bound failed in CI at +78). A decoder that expanded the
 * references would hold 4 GB per run.
 */
const HPACK_RSS_BOUND_MIB = 128;

const WATCH = "/etcdserverpb.Watch/Watch";
const KEEPALIVE = "/etcdserverpb.Lease/LeaseKeepAlive";
const RANGE = "/etcdserverpb.KV/Range";

let shared: Promise<Member> | undefined;
function member(): Promise<Member> {
  shared ??= Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
  return shared;
}

/**
 * Runs `attack` under `whileServing` for `ms` and checks the RSS bound;
 * returns the attack's results.
 */
async function attackFor<R>(
  label: string,
  ms: number,
  attack: (m: Member) => Promise<R>,
  boundMiB = RSS_BOUND_MIB,
): Promise<R[]> {
  const m = await member();
  const before = rssMiB(m.pid!);
  const [results, peak] = await peakRss(m, () => whileServing(m, label, ms, () => attack(m)));
  const after = rssMiB(m.pid!);
  console.log(
    `${label}: RSS ${before.toFixed(1)} MiB before, peak ${peak.toFixed(1)}, after ${
      after.toFixed(1)
    } (bound +${boundMiB}); ${results.length} attack runs`,
  );
  assert.ok(
    peak - before < boundMiB,
    `${label}: RSS grew ${(peak - before).toFixed(1)} MiB (bound ${boundMiB})\n${await m
      .stderrTail()}`,
  );
  assert.ok(m.running, `${label}: the member is still running`);
  return results;
}

// --- receive flow control ---

/** Opens `path` with no window for answers and sends `message` over and over, ignoring windows. */
async function overrun(m: Member, path: string, message: Uint8Array) {
  const conn = await dial(m.clientPort);
  await writeAll(conn, handshake([[SETTINGS_INITIAL_WINDOW_SIZE, 0]]));
  await writeAll(conn, rawFrame(T.HEADERS, END_HEADERS, 1, grpcRequest(path)));
  const body = repeat(message, Math.floor(16_384 / message.length));
  const chunk = repeat(rawFrame(T.DATA, 0, 1, body), 64); // 1 MiB per write
  const sent = await flood(conn, chunk, 48, 3000);
  return { sent, goaway: goawayOf(await readUntilClosed(conn, 5000), path) };
}

Deno.test({
  name: "h2 attack: DATA beyond the windows on Watch and LeaseKeepAlive gets FLOW_CONTROL_ERROR",
  ...options,
  async fn() {
    const runs = await attackFor("flow control", 3000, async (m) => {
      const watch = await overrun(m, WATCH, watchCreate("flood"));
      const keepalive = await overrun(m, KEEPALIVE, leaseKeepAlive(1));
      return [watch, keepalive];
    }, CHURN_RSS_BOUND_MIB);
    for (const r of runs.flat()) {
      assert.equal(r.goaway.code, H2.FLOW_CONTROL_ERROR, r.goaway.debug);
      assert.match(r.goaway.debug, /beyond the window/);
    }
  },
});

/**
 * Sends `message` on a new `path` stream as fast as the windows allow for
 * 1.5 s, with no window for the answers (they are never let through).
 * Returns the bytes sent and the stream window the member granted.
 */
async function askWithoutReading(m: Member, path: string, message: Uint8Array) {
  const c = await RawClient.connect(m.clientPort);
  try {
    const settings = await c.handshake([[SETTINGS_INITIAL_WINDOW_SIZE, 0]]);
    let window = settings.get(SETTINGS_INITIAL_WINDOW_SIZE) ?? 65_535;
    await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, grpcRequest(path)));
    const request = repeat(message, Math.floor(16_384 / message.length));
    let sent = 0;
    let granted = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline) {
      while (window >= request.length) {
        await c.write(rawFrame(T.DATA, 0, 1, request));
        window -= request.length;
        sent += request.length;
      }
      const f = await c.next(200).catch(() => null);
      if (f?.type === T.WINDOW_UPDATE && f.streamId === 1) {
        window += readU32(f.payload);
        granted += readU32(f.payload);
      }
      if (f?.type === T.GOAWAY || f?.type === T.RST_STREAM) {
        throw new Error(`${path}: unexpected ${f.type === T.GOAWAY ? "GOAWAY" : "RST_STREAM"}`);
      }
    }
    return { path, sent, granted };
  } finally {
    await c.close();
  }
}

Deno.test({
  name: "h2 attack: a client that asks without reading the answers stops getting window",
  ...options,
  async fn() {
    // Respects flow control, never lets an answer through (window 0): the
    // member returns window while answers are few, then holds it back.
    const results = await attackFor("backpressure", 3000, async (m) => {
      const watch = await askWithoutReading(m, WATCH, watchCreate("bp"));
      const keepalive = await askWithoutReading(m, KEEPALIVE, leaseKeepAlive(1));
      return [watch, keepalive];
    });
    for (const r of results.flat()) {
      // The first MiB (the announced window) and at most one half-window more.
      assert.ok(r.sent <= (1 << 20) + (512 << 10), `sent ${r.sent} bytes`);
      assert.ok(r.granted <= 512 << 10, `granted ${r.granted} bytes`);
    }
  },
});

// --- control frames ---

/** Floods `port` with `frame` copies without reading; returns the GOAWAY it got. */
async function controlFlood(port: number, frame: Uint8Array, copies: number) {
  const conn = await dial(port);
  await writeAll(conn, handshake());
  const chunk = repeat(frame, Math.floor((1 << 20) / frame.length));
  const writes = Math.ceil(copies / Math.floor((1 << 20) / frame.length));
  await flood(conn, chunk, writes, 3000);
  return goawayOf(await readUntilClosed(conn, 8000), "control flood");
}

const PING = rawFrame(T.PING, 0, 0, new Uint8Array(8));

Deno.test({
  name: "h2 attack: 2M PINGs never read on the client port get ENHANCE_YOUR_CALM too_many_pings",
  ...options,
  async fn() {
    const runs = await attackFor(
      "ping flood (client port)",
      2000,
      (m) => controlFlood(m.clientPort, PING, 2_000_000),
    );
    for (const g of runs) {
      assert.equal(g.code, H2.ENHANCE_YOUR_CALM);
      assert.equal(g.debug, "too_many_pings");
    }
  },
});

Deno.test({
  name: "h2 attack: 2M PINGs never read on the peer port get ENHANCE_YOUR_CALM (control-frame cap)",
  ...options,
  async fn() {
    const runs = await attackFor(
      "ping flood (peer port)",
      2000,
      (m) => controlFlood(m.peerPort, PING, 2_000_000),
    );
    for (const g of runs) {
      assert.equal(g.code, H2.ENHANCE_YOUR_CALM);
      assert.match(g.debug, /control frames queued/);
    }
  },
});

Deno.test({
  name: "h2 attack: 2M SETTINGS never read get ENHANCE_YOUR_CALM (control-frame cap)",
  ...options,
  async fn() {
    const runs = await attackFor(
      "settings flood",
      2000,
      (m) => controlFlood(m.clientPort, rawFrame(T.SETTINGS, 0, 0), 2_000_000),
    );
    for (const g of runs) {
      assert.equal(g.code, H2.ENHANCE_YOUR_CALM);
      assert.match(g.debug, /control frames queued/);
    }
  },
});

// --- header blocks ---

Deno.test({
  name: "h2 attack: a CONTINUATION flood gets ENHANCE_YOUR_CALM",
  ...options,
  async fn() {
    const runs = await attackFor("continuation flood", 2000, async (m) => {
      const conn = await dial(m.clientPort);
      await writeAll(conn, handshake());
      await writeAll(conn, rawFrame(T.HEADERS, 0, 1, grpcRequest(RANGE).subarray(0, 4)));
      // 1M empty CONTINUATIONs at most (9 MB), 116,508 per write.
      const chunk = repeat(rawFrame(T.CONTINUATION, 0, 1), 116_508);
      await flood(conn, chunk, 9, 2000);
      return goawayOf(await readUntilClosed(conn, 5000), "continuation flood");
    });
    for (const g of runs) {
      assert.equal(g.code, H2.ENHANCE_YOUR_CALM);
      assert.match(g.debug, /CONTINUATION/);
    }
  },
});

Deno.test({
  name: "h2 attack: HPACK bombs on LeaseKeepAlive get 431, a flood of them ENHANCE_YOUR_CALM",
  ...options,
  async fn() {
    const runs = await attackFor("hpack bomb", 3000, async (m) => {
      const c = await RawClient.connect(m.clientPort);
      try {
        await c.handshake();
        // Stream 1: the largest block accepted (1 MiB over CONTINUATIONs),
        // nearly all of it one-byte references to a 4,000-byte entry: 4 GB decoded.
        const head = Buffer.concat([grpcRequest(KEEPALIVE), indexedLiteral("x-bomb", 4000)]);
        const block = Buffer.concat([head, new Uint8Array((1 << 20) - head.length).fill(0xbe)]);
        const frames = [rawFrame(T.HEADERS, END_STREAM, 1, block.subarray(0, 16_384))];
        for (let off = 16_384; off < block.length; off += 16_384) {
          const last = off + 16_384 >= block.length ? END_HEADERS : 0;
          frames.push(rawFrame(T.CONTINUATION, last, 1, block.subarray(off, off + 16_384)));
        }
        await c.write(...frames);
        const first = await c.until((f) => f.type === T.HEADERS && f.streamId === 1, 5000);
        const status = c.headers(first).get(":status");
        // Then one bomb per stream, 300 references each (1.2 MB decoded, 316 bytes sent).
        const bomb = Buffer.concat([grpcRequest(KEEPALIVE), new Uint8Array(300).fill(0xbe)]);
        const bombs: Uint8Array[] = [];
        for (let i = 1; i <= 2 * MAX_RESETS_PER_SECOND; i++) {
          bombs.push(rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 2 * i + 1, bomb));
        }
        await c.write(...bombs).catch(() => {});
        const frames2 = await c.untilClosed(5000);
        const refused = frames2.filter((f) => f.type === T.HEADERS).length;
        const g = frames2.find((f) => f.type === T.GOAWAY);
        return { status, refused, code: g && readU32(g.payload, 4) };
      } finally {
        await c.close();
      }
    }, HPACK_RSS_BOUND_MIB);
    for (const r of runs) {
      assert.equal(r.status, "431");
      assert.ok(r.refused >= MAX_RESETS_PER_SECOND - 1, `${r.refused} bombs answered 431`);
      assert.equal(r.code, H2.ENHANCE_YOUR_CALM);
    }
  },
});

// --- resets and streams ---

Deno.test({
  name: "h2 attack: rapid reset (HEADERS + RST_STREAM in a loop) gets ENHANCE_YOUR_CALM",
  ...options,
  async fn() {
    const runs = await attackFor("rapid reset", 3000, async (m) => {
      const conn = await dial(m.clientPort);
      await writeAll(conn, handshake());
      const request = grpcRequest(RANGE);
      const batch: Uint8Array[] = [];
      for (let i = 0; i < 10_000; i++) {
        const id = 2 * i + 1;
        batch.push(rawFrame(T.HEADERS, END_HEADERS, id, request));
        batch.push(rawFrame(T.DATA, END_STREAM, id, range("k")));
        batch.push(rawFrame(T.RST_STREAM, 0, id, u32(8)));
      }
      await flood(conn, Buffer.concat(batch), 1, 3000);
      return goawayOf(await readUntilClosed(conn, 5000), "rapid reset");
    });
    for (const g of runs) {
      assert.equal(g.code, H2.ENHANCE_YOUR_CALM);
      assert.match(g.debug, /resets in a second/);
    }
  },
});

Deno.test({
  name:
    "h2 attack: --max-concurrent-streams caps streams with REFUSED_STREAM; a flood past it is sent away",
  ...options,
  async fn() {
    const m = await Member.start({
      kind: "cairn",
      extraArgs: ["--log-level=warn", "--max-concurrent-streams=8"],
    });
    try {
      const before = rssMiB(m.pid!);
      const [runs, peak] = await peakRss(m, () =>
        whileServing(m, "stream cap", 2000, async () => {
          const c = await RawClient.connect(m.clientPort);
          try {
            const settings = await c.handshake();
            const open: Uint8Array[] = [];
            for (let i = 0; i < 8 + 20; i++) {
              open.push(rawFrame(T.HEADERS, END_HEADERS, 2 * i + 1, grpcRequest(WATCH)));
            }
            await c.write(...open);
            const refused: RawFrame[] = [];
            while (refused.length < 20) {
              refused.push(await c.until((f) => f.type === T.RST_STREAM, 3000));
            }
            // Past the cap, every stream refused is a reset the client provoked.
            const more: Uint8Array[] = [];
            for (let i = 28; i < 28 + 2 * MAX_RESETS_PER_SECOND; i++) {
              more.push(rawFrame(T.HEADERS, END_HEADERS, 2 * i + 1, grpcRequest(WATCH)));
            }
            await c.write(...more).catch(() => {});
            const g = (await c.untilClosed(5000)).find((f) => f.type === T.GOAWAY);
            return {
              announced: settings.get(3),
              refusedIds: refused.map((f) => f.streamId),
              codes: new Set(refused.map((f) => readU32(f.payload))),
              goaway: g && readU32(g.payload, 4),
            };
          } finally {
            await c.close();
          }
        }));
      console.log(`stream cap: RSS ${before.toFixed(1)} MiB before, peak ${peak.toFixed(1)}`);
      assert.ok(peak - before < RSS_BOUND_MIB);
      for (const r of runs) {
        assert.equal(r.announced, 8);
        assert.deepEqual(r.refusedIds, Array.from({ length: 20 }, (_, i) => 2 * (8 + i) + 1));
        assert.deepEqual([...r.codes], [H2.REFUSED_STREAM]);
        assert.equal(r.goaway, H2.ENHANCE_YOUR_CALM);
      }
    } finally {
      await m.destroy();
    }
  },
});

Deno.test({
  name: "h2 attack: INITIAL_WINDOW_SIZE pushing a window past 2^31-1 gets FLOW_CONTROL_ERROR",
  ...options,
  async fn() {
    const runs = await attackFor("window overflow", 500, async (m) => {
      const c = await RawClient.connect(m.clientPort);
      try {
        await c.handshake();
        await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, grpcRequest(WATCH)));
        await c.write(rawFrame(T.WINDOW_UPDATE, 0, 1, u32(2 ** 31 - 1 - 65_535)));
        await c.write(rawFrame(T.SETTINGS, 0, 0, Uint8Array.of(0, 4, 0, 1, 0, 0)));
        const g = (await c.untilClosed(3000)).find((f) => f.type === T.GOAWAY);
        return g && readU32(g.payload, 4);
      } finally {
        await c.close();
      }
    });
    for (const code of runs) assert.equal(code, H2.FLOW_CONTROL_ERROR);
  },
});

// --- connections and time ---

Deno.test({
  name:
    "h2 attack: 10,050 idle connections: the oldest get GOAWAY NO_ERROR to make room, etcdctl still gets in",
  ...options,
  async fn() {
    const m = await member();
    const before = rssMiB(m.pid!);
    const total = 10_050;
    const conns: Deno.TcpConn[] = [];
    const closedAt: Array<number | undefined> = [];
    const received: Uint8Array[] = [];
    // Idle HTTP/2 connections (preface, SETTINGS and ACK sent, then
    // nothing): past the sniff, so only eviction (GOAWAY and FIN) ends them.
    const preamble = handshake();
    const watch = async (conn: Deno.TcpConn, i: number) => {
      const buf = new Uint8Array(512);
      let len = 0;
      try {
        for (;;) {
          const n = await conn.read(buf.subarray(Math.min(len, 448)));
          if (n === null) break;
          len = Math.min(len + n, 512);
        }
      } catch { /* reset */ }
      received[i] = buf.subarray(0, len);
      closedAt[i] ??= Date.now();
    };
    const open = async () => {
      const c = await dial(m.clientPort);
      await writeAll(c, preamble);
      return c;
    };
    const [, peak] = await peakRss(m, async () => {
      const deadline = Date.now() + 20_000;
      for (let i = 0; i < total && Date.now() < deadline; i += 500) {
        const batch = await Promise.all(Array.from({ length: Math.min(500, total - i) }, open));
        batch.forEach((c, j) => {
          conns.push(c);
          void watch(c, i + j);
        });
      }
      await whileServing(m, "connection flood", 200, () => sleep(50));
      await sleep(500);
    });
    try {
      assert.equal(conns.length, total, "every connection was opened in time");
      const evicted = closedAt.filter((t) => t !== undefined).length;
      console.log(
        `connection flood: ${evicted} of ${conns.length} closed to make room; RSS ${
          before.toFixed(1)
        } MiB before, peak ${peak.toFixed(1)}`,
      );
      // 50 over the cap plus etcdctl's: the oldest idle ones made room.
      assert.ok(evicted >= 50, `${evicted} connections made room`);
      assert.ok(
        Array.from({ length: 50 }, (_, i) => closedAt[i]).every((t) => t !== undefined),
        "the oldest went first",
      );
      const newest = Array.from({ length: 100 }, (_, i) => closedAt[total - 1 - i]);
      assert.ok(newest.every((t) => t === undefined), "the newest stayed");
      // What the oldest got: the member's SETTINGS etc., then GOAWAY NO_ERROR.
      const frames = (bytes: Uint8Array): RawFrame[] => {
        const out: RawFrame[] = [];
        for (let off = 0; off + 9 <= bytes.length;) {
          const len = (bytes[off] << 16) | (bytes[off + 1] << 8) | bytes[off + 2];
          out.push({
            type: bytes[off + 3],
            flags: bytes[off + 4],
            streamId: 0,
            payload: bytes.subarray(off + 9, off + 9 + len),
          });
          off += 9 + len;
        }
        return out;
      };
      for (let i = 0; i < 50; i++) {
        const g = goawayOf(frames(received[i]), `connection ${i}`);
        assert.equal(g.code, H2.NO_ERROR);
        assert.equal(g.debug, "too many connections");
      }
      assert.ok(
        peak - before < CONNECTIONS_RSS_BOUND_MIB,
        `RSS grew ${(peak - before).toFixed(1)} MiB`,
      );
    } finally {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed by the member */ }
      }
    }
  },
});

Deno.test({
  name:
    "h2 attack: a preface never finished is closed at the sniff timeout, SETTINGS never ACKed with SETTINGS_TIMEOUT",
  ...options,
  async fn() {
    const m = await member();
    const before = rssMiB(m.pid!);
    const started = Date.now();
    // Slowloris: half a preface, then nothing.
    const slow = await Promise.all(Array.from({ length: 20 }, () => dial(m.clientPort)));
    for (const c of slow) await writeAll(c, new TextEncoder().encode("PRI * HTTP/2"));
    // Preface and SETTINGS, but the member's SETTINGS are never acknowledged.
    const mute = await Promise.all(Array.from({ length: 20 }, () => dial(m.clientPort)));
    const preface = handshake().subarray(0, 24 + 9);
    for (const c of mute) await writeAll(c, preface);
    // Generous: at load average 12 in CI the mute connections closed 14 s
    // after the start; the property is that they are closed, not left open.
    const budget = SNIFF_TIMEOUT_MS + 12_000;
    const [[slowFrames, slowClosed, muteFrames, muteClosed], peak] = await peakRss(m, async () => {
      await whileServing(m, "slow clients", 500, () => sleep(50));
      const slowFrames = await Promise.all(slow.map((c) => readUntilClosed(c, budget)));
      const slowClosed = Date.now() - started;
      const muteFrames = await Promise.all(mute.map((c) => readUntilClosed(c, budget)));
      return [slowFrames, slowClosed, muteFrames, Date.now() - started] as const;
    });
    console.log(
      `slow clients: closed after ${slowClosed} ms and ${muteClosed} ms; RSS ${
        before.toFixed(1)
      } MiB before, peak ${peak.toFixed(1)}`,
    );
    assert.ok(peak - before < RSS_BOUND_MIB);
    assert.ok(slowClosed >= SNIFF_TIMEOUT_MS - 500 && slowClosed < budget, `${slowClosed} ms`);
    for (const f of slowFrames) assert.deepEqual(f, [], "nothing is sent before the sniff");
    assert.ok(muteClosed < budget, `${muteClosed} ms`);
    for (const f of muteFrames) {
      assert.equal(goawayOf(f, "SETTINGS never acknowledged").code, H2.SETTINGS_TIMEOUT);
    }
  },
});

Deno.test({
  name: "h2 attack: the member is stopped after the attacks",
  ...options,
  async fn() {
    if (shared) await (await shared.catch(() => undefined))?.destroy();
  },
});
