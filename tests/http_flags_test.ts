/**
 * The client port's HTTP flags on real processes, cairn beside etcd 3.4
 * started with the same flags: gRPC keepalive (a client pinging too often
 * is sent away with GOAWAY ENHANCE_YOUR_CALM "too_many_pings"; an idle
 * connection gets a server PING and is closed when it does not answer),
 * --max-concurrent-streams (announced and enforced with REFUSED_STREAM),
 * --cors (preflight and allowed origins) and --host-whitelist (421).
 * cairn alone: --enable-pprof, and --logger/--log-outputs, where cairn
 * follows etcd 3.5 rather than the 3.4 reference.
 */

import assert from "node:assert/strict";
import { encodeHeaders } from "../src/http/h2/hpack.ts";
import {
  RawClient,
  type RawFrame,
  rawFrame,
  readU32,
  T,
  within,
} from "../src/http/h2/test_raw_client.ts";
import { Pair } from "./harness/compare.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("http_flags_test.ts");
const options = { ignore, sanitizeOps: false, sanitizeResources: false };

const ACK = 0x1;
const END_HEADERS = 0x4;
const SETTINGS_MAX_CONCURRENT_STREAMS = 3;
const REFUSED_STREAM = 7;
const ENHANCE_YOUR_CALM = 11;
const ALLOWED_ORIGIN = "http://a.example:8080";

/** The same flags for both sides; small keepalive durations so the test is quick. */
const FLAGS = [
  "--log-level=warn",
  "--grpc-keepalive-min-time=10s",
  "--grpc-keepalive-interval=1s",
  "--grpc-keepalive-timeout=1s",
  "--max-concurrent-streams=2",
  `--cors=${ALLOWED_ORIGIN}`,
  // The harness polls /health on 127.0.0.1, so that host must stay allowed.
  "--host-whitelist=127.0.0.1,good.example",
  "--enable-pprof",
];

let shared: Promise<Pair> | undefined;
function pair(): Promise<Pair> {
  shared ??= Pair.start(FLAGS, "flags");
  return shared;
}

/** Runs `fn` against both members, labelled, and returns [etcd, cairn] results. */
async function both<R>(fn: (m: Member, label: string) => Promise<R>): Promise<[R, R]> {
  const p = await pair();
  return [await fn(p.etcd, "etcd"), await fn(p.cairn, "cairn")];
}

function watchRequest(): Uint8Array {
  return encodeHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/etcdserverpb.Watch/Watch"],
    [":authority", "127.0.0.1"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);
}

const isGoaway = (f: RawFrame) => f.type === T.GOAWAY;
const isServerPing = (f: RawFrame) => f.type === T.PING && !(f.flags & ACK);

async function withRaw<R>(m: Member, fn: (c: RawClient) => Promise<R>): Promise<R> {
  const c = await RawClient.connect(m.clientPort);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

Deno.test({
  ...options,
  name: "http flags: a client pinging more often than min-time gets GOAWAY ENHANCE_YOUR_CALM",
  async fn() {
    const [etcd, cairn] = await both((m) =>
      withRaw(m, async (c) => {
        await c.handshake();
        // A watch stream stays open, so the min-time rule applies.
        await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, watchRequest()));
        for (let i = 0; i < 6; i++) await c.write(rawFrame(T.PING, 0, 0, new Uint8Array(8)));
        const goaway = await c.until(isGoaway, 5000);
        await c.untilClosed(5000);
        return {
          lastStreamId: readU32(goaway.payload, 0),
          code: readU32(goaway.payload, 4),
          debug: new TextDecoder().decode(goaway.payload.subarray(8)),
        };
      })
    );
    assert.deepEqual(cairn, etcd);
    assert.deepEqual(cairn, { lastStreamId: 1, code: ENHANCE_YOUR_CALM, debug: "too_many_pings" });
  },
});

Deno.test({
  ...options,
  name: "http flags: an idle connection gets a server PING and is closed when it stays silent",
  async fn() {
    const [etcd, cairn] = await both((m) =>
      withRaw(m, async (c) => {
        await c.handshake();
        const started = performance.now();
        const ping = await c.until(isServerPing, 5000);
        const pingedAfter = performance.now() - started;
        // No answer: the member must hang up (interval 1 s + timeout 1 s).
        const rest = await c.untilClosed(6000);
        return {
          pingBytes: ping.payload.length,
          pingedWithinBounds: pingedAfter > 500 && pingedAfter < 4000,
          goaways: rest.filter(isGoaway).length,
        };
      })
    );
    assert.deepEqual(cairn, etcd);
    assert.deepEqual(cairn, { pingBytes: 8, pingedWithinBounds: true, goaways: 0 });
  },
});

Deno.test({
  ...options,
  name: "http flags: a connection that answers the server's PINGs stays open",
  async fn() {
    const [etcd, cairn] = await both((m) =>
      withRaw(m, async (c) => {
        await c.handshake();
        for (let i = 0; i < 2; i++) {
          const ping = await c.until(isServerPing, 5000);
          await c.write(rawFrame(T.PING, ACK, 0, ping.payload));
        }
        // Still served: a new stream gets its response headers.
        await c.write(rawFrame(T.HEADERS, END_HEADERS, 1, watchRequest()));
        // A gRPC frame of WatchRequest{create_request{key: "a"}}.
        const createReq = Uint8Array.of(0, 0, 0, 0, 5, 0x0a, 0x03, 0x0a, 0x01, 0x61);
        await c.write(rawFrame(T.DATA, 0, 1, createReq));
        const headers = await c.until((f) => f.type === T.HEADERS && f.streamId === 1, 5000);
        return { status: c.headers(headers).get(":status"), goaway: c.seen.some(isGoaway) };
      })
    );
    assert.deepEqual(cairn, etcd);
    assert.deepEqual(cairn, { status: "200", goaway: false });
  },
});

Deno.test({
  ...options,
  name: "http flags: --max-concurrent-streams is announced and enforced with REFUSED_STREAM",
  async fn() {
    const [etcd, cairn] = await both((m) =>
      withRaw(m, async (c) => {
        const settings = await c.handshake();
        for (const id of [1, 3, 5]) {
          await c.write(rawFrame(T.HEADERS, END_HEADERS, id, watchRequest()));
        }
        const rst = await c.until((f) => f.type === T.RST_STREAM, 5000);
        const refusedOthers = await c.quiet(300, (f) => f.type === T.RST_STREAM);
        return {
          announced: settings.get(SETTINGS_MAX_CONCURRENT_STREAMS),
          refused: rst.streamId,
          code: readU32(rst.payload),
          onlyOne: refusedOthers,
        };
      })
    );
    assert.deepEqual(cairn, etcd);
    assert.deepEqual(cairn, { announced: 2, refused: 5, code: REFUSED_STREAM, onlyOne: true });
  },
});

/** One HTTP/1.1 exchange on a raw socket, so the Host header is exactly the test's. */
async function http1(
  port: number,
  head: string,
): Promise<{ status: number; headers: Map<string, string>; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(`${head}Connection: close\r\n\r\n`));
    let text = "";
    const decoder = new TextDecoder();
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await within(conn.read(buf), 10_000, "HTTP/1.1 response");
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
    }
    const split = text.indexOf("\r\n\r\n");
    const lines = text.slice(0, split).split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
    }
    return { status: Number(lines[0].split(" ")[1]), headers, body: text.slice(split + 4) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

/** The CORS part of a response, allow-headers cut to etcd's own list. */
function corsOf(headers: Map<string, string>) {
  return {
    origin: headers.get("access-control-allow-origin"),
    methods: headers.get("access-control-allow-methods"),
    etcdHeaders: headers.get("access-control-allow-headers")?.split(", ").slice(0, 3).join(", "),
  };
}

Deno.test({
  ...options,
  name: "http flags: --cors preflight and allowed origins as etcd",
  async fn() {
    const [etcd, cairn] = await both(async (m) => {
      const allowed = await http1(
        m.clientPort,
        `OPTIONS /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${ALLOWED_ORIGIN}\r\n` +
          "Access-Control-Request-Method: POST\r\n",
      );
      const other = await http1(
        m.clientPort,
        "OPTIONS /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://b.example\r\n",
      );
      const health = await http1(
        m.clientPort,
        `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${ALLOWED_ORIGIN}\r\n`,
      );
      return {
        allowed: { status: allowed.status, body: allowed.body, ...corsOf(allowed.headers) },
        other: { status: other.status, body: other.body, ...corsOf(other.headers) },
        health: { status: health.status, ...corsOf(health.headers) },
      };
    });
    assert.deepEqual(cairn, etcd);
    assert.deepEqual(cairn.allowed, {
      status: 200,
      body: "",
      origin: ALLOWED_ORIGIN,
      methods: "POST, GET, OPTIONS, PUT, DELETE",
      etcdHeaders: "accept, content-type, authorization",
    });
    assert.equal(cairn.other.origin, undefined);
  },
});

Deno.test({
  ...options,
  name: "http flags: --host-whitelist refuses an unlisted Host with etcd's 421",
  async fn() {
    const [etcd, cairn] = await both(async (m) => {
      const refused = await http1(
        m.clientPort,
        "GET /health HTTP/1.1\r\nHost: evil.example:99\r\n",
      );
      const listed = await http1(
        m.clientPort,
        "GET /health HTTP/1.1\r\nHost: good.example:2379\r\n",
      );
      return {
        refused: {
          status: refused.status,
          contentType: refused.headers.get("content-type"),
          nosniff: refused.headers.get("x-content-type-options"),
          body: refused.body,
        },
        listed: listed.status,
      };
    });
    assert.deepEqual(cairn, etcd);
    assert.equal(cairn.refused.status, 421);
    assert.match(cairn.refused.body, /--host-whitelist "evil\.example"/);
    assert.equal(cairn.listed, 200);
  },
});

Deno.test({
  ...options,
  name: "http flags: --enable-pprof serves a CPU profile (cairn: V8's format)",
  async fn() {
    const p = await pair();
    const res = await fetch(`${p.cairn.clientUrl}/debug/pprof/profile?seconds=1`, {
      signal: AbortSignal.timeout(20_000),
    });
    assert.equal(res.status, 200);
    const profile = await res.json();
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0);
    const ref = await fetch(`${p.etcd.clientUrl}/debug/pprof/profile?seconds=1`, {
      signal: AbortSignal.timeout(20_000),
    });
    await ref.body?.cancel();
    assert.equal(res.status, ref.status);
  },
});

Deno.test({
  ...options,
  name: "http flags: shared members stop",
  async fn() {
    if (shared) await (await shared.catch(() => undefined))?.destroy();
  },
});

// --- logging (cairn alone: etcd 3.5's rules, the reference is 3.4) ---

Deno.test({
  ...options,
  name: "http flags: --log-outputs writes to a file and stdout at once",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cairn-log-" });
    const file = `${dir}/member.log`;
    const m = await Member.start({
      kind: "cairn",
      extraArgs: [`--log-outputs=${file},stdout`],
    });
    try {
      const fileLines = (await Deno.readTextFile(file)).trim().split("\n");
      assert.ok(fileLines.length > 0);
      assert.ok(fileLines.some((l) => JSON.parse(l).msg === "ready to serve client requests"));
      await m.stop();
      const stdout = await Deno.readTextFile(m.stdoutPath);
      assert.ok(stdout.includes('"msg":"ready to serve client requests"'));
      assert.ok(!(await m.stderrText()).includes("ready to serve client requests"));
    } finally {
      await m.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Starts a member expected to fail; returns its exit code and stderr. */
async function failingStart(kind: "cairn" | "etcd", extraArgs: string[]) {
  const m = await Member.create({ kind, extraArgs });
  try {
    m.launch();
    const status = await m.waitExit(30_000);
    return { code: status?.code, stderr: await m.stderrText() };
  } finally {
    await m.destroy();
  }
}

Deno.test({
  ...options,
  name: "http flags: an output that cannot be opened stops start-up with exit 1, as etcd",
  async fn() {
    // etcd 3.4's default logger is capnslog: ask both for zap.
    const args = ["--logger=zap", "--log-outputs=/nonexistent/dir/x.log"];
    const [etcd, cairn] = [await failingStart("etcd", args), await failingStart("cairn", args)];
    assert.equal(etcd.code, 1);
    assert.equal(cairn.code, etcd.code);
    assert.match(cairn.stderr, /"msg":"failed to verify flags"/);
    assert.match(cairn.stderr, /couldn't open sink \\"\/nonexistent\/dir\/x\.log\\"/);
  },
});

Deno.test({
  ...options,
  name: "http flags: --logger=capnslog is refused as etcd 3.5 does",
  async fn() {
    const cairn = await failingStart("cairn", ["--logger=capnslog"]);
    assert.equal(cairn.code, 1);
    assert.match(cairn.stderr, /"error":"--logger=capnslog is removed in v3.5"/);
  },
});
