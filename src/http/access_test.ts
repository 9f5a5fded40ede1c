import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Hono } from "hono";
import { KV, RangeResponseSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { AccessControl, isNativeGrpc } from "./access.ts";
import { BidiRoutes } from "./grpc_bidi.ts";
import { UnaryRoutes } from "./grpc_unary.ts";
import { encodeHeaders } from "./h2/hpack.ts";
import { startTestH2Server } from "./h2/test_server.ts";
import { RawClient, rawFrame, T, within } from "./h2/test_raw_client.ts";
import { type ClientHandlers, createClientHandlers } from "./handler.ts";
import { serveHttp1 } from "./h1/server.ts";
import { DenoStreamConn } from "./net.ts";

const END_STREAM = 0x1;
const END_HEADERS = 0x4;

Deno.test("access: unlisted Host is refused with 421 before anything else, preflight included", () => {
  const ac = new AccessControl({ cors: ["*"], hostWhitelist: ["good.example"] });
  for (const method of ["GET", "OPTIONS", "POST"]) {
    const d = ac.decide({ method, host: "evil.example:2379", origin: "x", secure: false });
    assert.equal(d.kind, "refuse");
    if (d.kind !== "refuse") continue;
    assert.equal(d.status, 421);
    assert.ok(d.body.includes('--host-whitelist "evil.example"'));
    assert.deepEqual(new Map(d.headers).get("content-type"), "text/plain; charset=utf-8");
    assert.equal(new Map(d.headers).has("access-control-allow-origin"), false);
  }
});

Deno.test("access: TLS connections skip the Host check", () => {
  const ac = new AccessControl({ cors: ["*"], hostWhitelist: ["good.example"] });
  assert.equal(
    ac.decide({ method: "GET", host: "evil", origin: undefined, secure: true }).kind,
    "serve",
  );
});

Deno.test("access: OPTIONS is a preflight for any origin; CORS headers only for allowed ones", () => {
  const ac = new AccessControl({ cors: ["http://a.example:8080"], hostWhitelist: ["*"] });
  const ok = ac.decide({
    method: "OPTIONS",
    host: "h",
    origin: "http://a.example:8080",
    secure: false,
  });
  assert.equal(ok.kind, "preflight");
  assert.equal(
    new Map(ok.kind === "preflight" ? ok.headers : []).get("access-control-allow-origin"),
    "http://a.example:8080",
  );
  const other = ac.decide({
    method: "OPTIONS",
    host: "h",
    origin: "http://b.example",
    secure: false,
  });
  assert.deepEqual(other, { kind: "preflight", headers: [] });
  const get = ac.decide({ method: "GET", host: "h", origin: "http://b.example", secure: false });
  assert.deepEqual(get, { kind: "serve", headers: [] });
});

Deno.test("access: native gRPC content types are told from gRPC-Web and Connect", () => {
  for (const ct of ["application/grpc", "application/grpc+proto", "application/grpc;charset=x"]) {
    assert.equal(isNativeGrpc(ct), true, ct);
  }
  for (
    const ct of [
      undefined,
      "application/grpc-web",
      "application/grpc-web+proto",
      "application/json",
      "application/grpcx",
    ]
  ) {
    assert.equal(isNativeGrpc(ct), false, String(ct));
  }
});

// --- through the client port's handlers ---

function handlers(cors: string[], hostWhitelist: string[]): ClientHandlers {
  const app = new Hono();
  app.get("/health", (c) => c.json({ health: "true" }));
  return createClientHandlers({
    routes: (router) => {
      router.service(KV, { range: () => create(RangeResponseSchema, { count: 7n }) });
    },
    unary: new UnaryRoutes(),
    bidi: new BidiRoutes(),
    app,
    readMaxBytes: 1 << 20,
    access: { cors, hostWhitelist },
  });
}

/** Serves `h` on a loopback port with cairn's HTTP/1.1 server while `fn` runs. */
async function withHttp1(h: ClientHandlers["http1"], fn: (base: string) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<DenoStreamConn>();
  const serving = (async () => {
    for await (const c of listener) {
      const conn = new DenoStreamConn(c);
      conns.add(conn);
      serveHttp1(conn, new Uint8Array(0), h).finally(() => {
        conns.delete(conn);
        conn.close();
      });
    }
  })();
  try {
    await fn(`http://127.0.0.1:${listener.addr.port}`);
  } finally {
    listener.close();
    for (const c of conns) c.close();
    await serving.catch(() => {});
  }
}

/** A raw HTTP/1.1 exchange, so the Host header is exactly what the test says. */
async function rawHttp1(
  port: number,
  request: string,
): Promise<{ status: number; headers: Map<string, string>; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await within(conn.read(buf), 5000, "HTTP/1.1 response");
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) continue;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? "0");
      if (text.length >= end + 4 + length) break;
    }
    const [head, body] = [
      text.slice(0, text.indexOf("\r\n\r\n")),
      text.slice(text.indexOf("\r\n\r\n") + 4),
    ];
    const lines = head.split("\r\n");
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
    }
    return { status: Number(lines[0].split(" ")[1]), headers, body };
  } finally {
    conn.close();
  }
}

Deno.test("handlers (HTTP/1.1): 421 for an unlisted Host, CORS on app and Connect responses, preflight 200", async () => {
  const h = handlers(["http://a.example:8080"], ["127.0.0.1", "good.example"]);
  await withHttp1(h.http1, async (base) => {
    const port = Number(new URL(base).port);
    const refused = await rawHttp1(
      port,
      "GET /health HTTP/1.1\r\nHost: evil.example:99\r\nConnection: close\r\n\r\n",
    );
    assert.equal(refused.status, 421);
    assert.equal(refused.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(refused.headers.get("x-content-type-options"), "nosniff");
    assert.ok(refused.body.includes('--host-whitelist "evil.example"'));

    const health = await fetch(`${base}/health`, { headers: { origin: "http://a.example:8080" } });
    assert.equal(health.status, 200);
    assert.equal(health.headers.get("access-control-allow-origin"), "http://a.example:8080");
    assert.deepEqual(await health.json(), { health: "true" });

    const other = await fetch(`${base}/health`, { headers: { origin: "http://b.example" } });
    await other.body?.cancel();
    assert.equal(other.headers.get("access-control-allow-origin"), null);

    const connect = await fetch(`${base}/etcdserverpb.KV/Range`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: "http://a.example:8080" },
      body: "{}",
    });
    assert.equal(connect.status, 200);
    assert.equal(connect.headers.get("access-control-allow-origin"), "http://a.example:8080");
    assert.equal((await connect.json()).count, "7");

    const preflight = await rawHttp1(
      port,
      "OPTIONS /etcdserverpb.KV/Range HTTP/1.1\r\nHost: good.example\r\nOrigin: http://a.example:8080\r\n" +
        "Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    assert.equal(preflight.status, 200);
    assert.equal(preflight.body, "");
    assert.equal(
      preflight.headers.get("access-control-allow-methods"),
      "POST, GET, OPTIONS, PUT, DELETE",
    );
    assert.ok(
      preflight.headers.get("access-control-allow-headers")?.includes("connect-protocol-version"),
    );
  });
});

Deno.test("handlers (HTTP/1.1 over TLS listeners): no Host check", async () => {
  const h = handlers(["*"], ["good.example"]);
  await withHttp1(h.overTls.http1, async (base) => {
    const res = await rawHttp1(
      Number(new URL(base).port),
      "GET /health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
  });
});

function h2Request(
  method: string,
  path: string,
  authority: string,
  extra: Array<[string, string]> = [],
) {
  return encodeHeaders([[":method", method], [":scheme", "http"], [":path", path], [
    ":authority",
    authority,
  ], ...extra]);
}

Deno.test("handlers (HTTP/2): Host check and CORS for HTTP requests, none for native gRPC", async () => {
  const h = handlers(["*"], ["good.example"]);
  const server = startTestH2Server(h.http2);
  const c = await RawClient.connect(server.port);
  try {
    await c.handshake();
    await c.write(
      rawFrame(
        T.HEADERS,
        END_HEADERS | END_STREAM,
        1,
        h2Request("GET", "/health", "evil.example:2379"),
      ),
    );
    const refused = c.headers(await c.until((f) => f.type === T.HEADERS && f.streamId === 1));
    assert.equal(refused.get(":status"), "421");

    await c.write(
      rawFrame(
        T.HEADERS,
        END_HEADERS | END_STREAM,
        3,
        h2Request("OPTIONS", "/x", "good.example:2379"),
      ),
    );
    const pre = await c.until((f) => f.type === T.HEADERS && f.streamId === 3);
    assert.ok(pre.flags & END_STREAM, "preflight has no body");
    const preHeaders = c.headers(pre);
    assert.equal(preHeaders.get(":status"), "200");
    assert.equal(preHeaders.get("access-control-allow-origin"), "*");

    await c.write(
      rawFrame(T.HEADERS, END_HEADERS | END_STREAM, 5, h2Request("GET", "/health", "good.example")),
    );
    const ok = c.headers(
      await within(c.until((f) => f.type === T.HEADERS && f.streamId === 5, 10_000), 10_000),
    );
    assert.equal(ok.get(":status"), "200");
    assert.equal(ok.get("access-control-allow-origin"), "*");

    // Native gRPC with a bad Host is served (etcd's gRPC server takes it before any check).
    await c.write(
      rawFrame(
        T.HEADERS,
        END_HEADERS,
        7,
        h2Request("POST", "/etcdserverpb.KV/Range", "evil.example", [[
          "content-type",
          "application/grpc",
        ], ["te", "trailers"]]),
      ),
    );
    await c.write(rawFrame(T.DATA, END_STREAM, 7, new Uint8Array(5)));
    const grpc = c.headers(await c.until((f) => f.type === T.HEADERS && f.streamId === 7, 10_000));
    assert.equal(grpc.get(":status"), "200");
    assert.ok(isNativeGrpc(grpc.get("content-type")), "served by the gRPC path");
    assert.equal(grpc.has("access-control-allow-origin"), false);
  } finally {
    await c.close();
    await within(server.close(), 2000, "server close");
  }
});
