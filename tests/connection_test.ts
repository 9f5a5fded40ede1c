/**
 * Misbehaving clients never take a member down: HTTP/2 streams reset mid
 * request, connections destroyed with calls in flight, junk instead of an
 * HTTP/2 preface, and connections closed after thousands of calls. After each
 * abuse the member must still answer `etcdctl endpoint health` and serve KV.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { PutRequestSchema } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { frame, GrpcClient, grpcHeaders, PATHS, utf8 } from "./harness/grpc.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("connection_test.ts");

let shared: Promise<Member> | undefined;

/** The member shared by this file (CAIRN_CMD), started on first use. */
function member(): Promise<Member> {
  shared ??= Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
  return shared;
}

/** Asserts the member process is alive, healthy per etcdctl, and serves a put/get. */
async function assertServing(m: Member, context: string): Promise<void> {
  assert.ok(
    m.running,
    `${context}: member exited (${JSON.stringify(m.exitStatus)})\n` +
      await m.stderrTail(),
  );
  const health = await etcdctl(m.endpoint, ["endpoint", "health"]);
  assert.equal(
    health.code,
    0,
    `${context}: endpoint health failed: ${health.stderr}\n` +
      await m.stderrTail(),
  );
  const value = crypto.randomUUID();
  await etcdctlOk(m.endpoint, ["put", "conn/check", value]);
  const got = await etcdctlOk(m.endpoint, ["get", "conn/check", "--print-value-only"]);
  assert.equal(got.trim(), value, `${context}: put/get round trip failed`);
}

/** Opens a session and waits until it is connected (or fails). */
function connect(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on("error", () => {}); // the tests provoke errors on purpose
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

/** A Put request message whose frame we can cut short. */
function putFrame(): Uint8Array {
  const msg = create(PutRequestSchema, { key: utf8("conn/partial"), value: utf8("x".repeat(100)) });
  return frame(toBinary(PutRequestSchema, msg));
}

const options = { ignore, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  ...options,
  name: "connection: RST_STREAM mid-request leaves the member serving",
  fn: async () => {
    const m = await member();
    const session = await connect(m.clientUrl);
    for (let i = 0; i < 20; i++) {
      const stream = session.request(grpcHeaders(PATHS.put));
      stream.on("error", () => {});
      // Half a message: the server is waiting for the rest when the stream is cancelled.
      stream.write(putFrame().subarray(0, 40));
      await sleep(5);
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    // A stream reset with no body at all, and one reset after a complete message.
    const empty = session.request(grpcHeaders(PATHS.range));
    empty.on("error", () => {});
    empty.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    const full = session.request(grpcHeaders(PATHS.put));
    full.on("error", () => {});
    full.write(putFrame());
    full.close(http2.constants.NGHTTP2_CANCEL);
    await sleep(50);
    session.destroy();
    await assertServing(m, "after stream resets");
  },
});

Deno.test({
  ...options,
  name: "connection: destroying the connection mid-request leaves the member serving",
  fn: async () => {
    const m = await member();
    for (let i = 0; i < 10; i++) {
      const session = await connect(m.clientUrl);
      const stream = session.request(grpcHeaders(PATHS.put));
      stream.on("error", () => {});
      stream.write(putFrame().subarray(0, 20 + i));
      await sleep(5);
      session.destroy(); // TCP close with the stream open
    }
    // Calls in flight when the socket goes away.
    const busy = new GrpcClient(m.clientUrl);
    const calls = Array.from({ length: 50 }, (_, i) => busy.put(`conn/busy/${i}`, "v"));
    await sleep(2);
    busy.destroy();
    await Promise.allSettled(calls);
    await assertServing(m, "after connections destroyed mid-request");
  },
});

Deno.test({
  ...options,
  name: "connection: junk instead of an HTTP/2 preface leaves the member serving",
  fn: async () => {
    const m = await member();
    const junk = [
      new Uint8Array(0),
      utf8("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), // preface, then hang up before SETTINGS
      utf8("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x08\x00\x00\x00\x00\x00garbage"),
      crypto.getRandomValues(new Uint8Array(4096)),
    ];
    for (const bytes of junk) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: m.clientPort });
      try {
        if (bytes.length > 0) await conn.write(bytes);
        await sleep(20);
      } catch {
        // the server may already have hung up on us: that is fine
      } finally {
        conn.close();
      }
    }
    await assertServing(m, "after junk connections");
  },
});

Deno.test({
  ...options,
  name: "connection: thousands of calls on one connection, then close and destroy",
  fn: async () => {
    const m = await member();
    const calls = Number(Deno.env.get("CONNECTION_CALLS") ?? 2000);
    for (const ending of ["close", "destroy"] as const) {
      const client = new GrpcClient(m.clientUrl);
      let ok = 0;
      // Batches of 50 concurrent unary calls keep many streams open at once.
      for (let done = 0; done < calls; done += 50) {
        const batch = await Promise.all(
          Array.from({ length: 50 }, (_, i) => client.range(`conn/k${(done + i) % 10}`)),
        );
        ok += batch.length;
      }
      assert.equal(ok, Math.ceil(calls / 50) * 50);
      if (ending === "close") {
        await client.close();
      } else {
        // Leave calls in flight while tearing the connection down.
        const inflight = Array.from({ length: 20 }, () => client.range("conn/k1"));
        client.destroy();
        await Promise.allSettled(inflight);
      }
      await assertServing(m, `after ${calls} calls and ${ending}`);
    }
  },
});

/** Sends `text` on a fresh HTTP/1.1 connection and reads until the server closes it (10 s bound). */
async function http1Exchange(port: number, text: string | Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
    let out = "";
    const buf = new Uint8Array(65536);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const left = deadline - Date.now();
      assert.ok(left > 0, `no close within 10 s; got ${out.slice(0, 200)}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        conn.read(buf),
        new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left)),
      ]).finally(() => clearTimeout(timer));
      if (n === "timeout") continue;
      if (n === null) return out;
      out += new TextDecoder().decode(buf.subarray(0, n));
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

Deno.test({
  ...options,
  name: "connection: HTTP/1.1 abuse (huge head, smuggling-prone head, bad chunks, " +
    "pipelined burst, client leaving mid-body) never takes the member down",
  fn: async () => {
    const m = await member();
    const huge = await http1Exchange(
      m.clientPort,
      `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(2 << 20)}\r\n\r\n`,
    );
    assert.match(huge, /^HTTP\/1\.1 431 /);
    const smuggle = await http1Exchange(
      m.clientPort,
      "POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n" +
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert.match(smuggle, /^HTTP\/1\.1 400 /);
    const chunks = await http1Exchange(
      m.clientPort,
      "POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nnothex\r\n",
    );
    assert.match(chunks, /^HTTP\/1\.1 /, "an answer, then the connection is closed");
    // 100 pipelined gateway puts on one connection: 100 answers, in order, then close.
    let burst = "";
    for (let i = 0; i < 100; i++) {
      const body = JSON.stringify({ key: btoa(`conn/h1/${i}`), value: btoa(String(i)) });
      burst += `POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n` +
        `${i === 99 ? "Connection: close\r\n" : ""}\r\n${body}`;
    }
    const answers = await http1Exchange(m.clientPort, burst);
    assert.equal(answers.match(/HTTP\/1\.1 200 OK/g)?.length, 100, answers.slice(0, 300));
    const got = await etcdctlOk(m.endpoint, ["get", "conn/h1/99", "--print-value-only"]);
    assert.equal(got.trim(), "99");
    // A client that promises a body and leaves halfway through.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: m.clientPort });
    await conn.write(
      new TextEncoder().encode(
        'POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"key":',
      ),
    );
    conn.close();
    await assertServing(m, "after HTTP/1.1 abuse");
  },
});

Deno.test({
  ...options,
  name: "teardown: stop the shared member",
  fn: async () => {
    if (shared) await (await shared.catch(() => undefined))?.destroy();
  },
});
