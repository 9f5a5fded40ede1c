import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createConnectRouter } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { Maintenance, StatusResponseSchema } from "../../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { H2Options } from "./connection.ts";
import { encodeHeaders } from "./hpack.ts";
import type { H2Stream } from "./stream.ts";
import { startTestH2Server } from "./test_server.ts";
import { within } from "./test_raw_client.ts";
import { requestBody, serveFetch, serveUniversal } from "./universal.ts";

interface Reply {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** Runs `fn` with a server and a node:http2 client session on it. */
async function withNodeClient(
  onStream: (s: H2Stream) => void,
  opts: Partial<H2Options>,
  fn: (call: (h: http2.OutgoingHttpHeaders, body?: Uint8Array) => Promise<Reply>) => Promise<void>,
): Promise<void> {
  const server = startTestH2Server(onStream, opts);
  const client = http2.connect(`http://127.0.0.1:${server.port}`);
  client.on("error", () => {});
  const call = (headers: http2.OutgoingHttpHeaders, body?: Uint8Array) =>
    new Promise<Reply>((resolve, reject) => {
      const req = client.request({ ":method": "POST", ":path": "/", ...headers });
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => (head = h));
      req.on("trailers", (t) => (trailers = t));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => resolve({ headers: head, trailers, body: Buffer.concat(chunks) }));
      req.on("error", reject);
      req.end(body);
    });
  try {
    await fn(call);
  } finally {
    await within(new Promise<void>((r) => client.close(() => r())), 2000, "client close");
    await within(server.close(), 2000, "server close");
  }
}

/** Echoes the request body back as it arrives, following both windows. */
async function echo(stream: H2Stream): Promise<void> {
  stream.respond(encodeHeaders([[":status", "200"], ["content-type", "application/octet-stream"]]));
  for await (const chunk of requestBody(stream)) await stream.write(chunk);
  stream.end();
}

Deno.test("50 concurrent 200 KB echoes through default-sized windows arrive intact", async () => {
  const size = 200 * 1024;
  await withNodeClient(
    (s) => void echo(s),
    // RFC defaults on our side too, so the request bodies exceed our windows as well.
    { streamWindow: 65_535, connectionWindow: 65_535 },
    async (call) => {
      const bodies = Array.from({ length: 50 }, (_, i) => {
        const b = Buffer.alloc(size);
        for (let j = 0; j < size; j++) b[j] = (j * (i + 1) + i) & 0xff;
        return b;
      });
      const replies = await within(
        Promise.all(bodies.map((b, i) => call({ ":path": `/echo/${i}` }, b))),
        8000,
        "50 echoes",
      );
      replies.forEach((r, i) => {
        assert.equal(r.headers[":status"], 200);
        assert.equal(r.body.length, size, `reply ${i} length`);
        assert.ok(r.body.equals(bodies[i]), `reply ${i} content`);
      });
    },
  );
});

Deno.test("trailers reach the node:http2 client after the body", async () => {
  await withNodeClient(
    (s) => {
      s.respond(encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]));
      s.writeNow(new TextEncoder().encode("payload"));
      s.sendTrailers(encodeHeaders([["grpc-status", "0"], ["x-trailer", "yes"]]));
    },
    {},
    async (call) => {
      const r = await within(call({ te: "trailers" }, new Uint8Array(3)));
      assert.equal(r.headers["content-type"], "application/grpc");
      assert.equal(r.body.toString(), "payload");
      assert.equal(r.trailers["grpc-status"], "0");
      assert.equal(r.trailers["x-trailer"], "yes");
      assert.equal(r.headers["grpc-status"], undefined);
    },
  );
});

Deno.test("serveFetch answers with the handler's status, headers and body", async () => {
  const seen: Array<{ url: string; method: string; header: string | null; body: string }> = [];
  await withNodeClient(
    (s) =>
      void serveFetch(s, async (req) => {
        const body = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
        seen.push({ url: req.url, method: req.method, header: req.headers.get("x-h"), body });
        if (new URL(req.url).pathname === "/missing") return new Response("no", { status: 404 });
        return new Response(`got ${body.length}`, { status: 201, headers: { "x-resp": "1" } });
      }),
    {},
    async (call) => {
      const big = new Uint8Array(100_000).fill(65);
      const r = await within(call({ ":path": "/a?b=c", "x-h": "v" }, big));
      assert.equal(r.headers[":status"], 201);
      assert.equal(r.headers["x-resp"], "1");
      assert.equal(r.body.toString(), "got 100000");
      const missing = await within(call({ ":method": "GET", ":path": "/missing" }));
      assert.equal(missing.headers[":status"], 404);
      assert.equal(missing.body.toString(), "no");
      const head = await within(call({ ":method": "HEAD", ":path": "/h" }));
      assert.equal(head.headers[":status"], 201);
      assert.equal(head.body.length, 0);
      assert.equal(seen[0].url, `http://127.0.0.1:${new URL(seen[0].url).port}/a?b=c`);
      assert.equal(seen[0].method, "POST");
      assert.equal(seen[0].header, "v");
      assert.equal(seen[0].body.length, 100_000);
    },
  );
});

Deno.test("serveUniversal answers gRPC and Connect clients of a Connect router", async () => {
  const router = createConnectRouter();
  router.service(Maintenance, {
    status: () => create(StatusResponseSchema, { version: "3.5.99", dbSize: 42n }),
    defragment: () => {
      throw new ConnectError("not here", Code.FailedPrecondition);
    },
  });
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const server = startTestH2Server((s) => {
    const h = paths.get(s.path);
    if (h) void serveUniversal(s, h);
    else void serveFetch(s, () => new Response("not found", { status: 404 }));
  });
  const baseUrl = `http://127.0.0.1:${server.port}`;
  const sessions: Http2SessionManager[] = [];
  try {
    for (const kind of ["grpc", "connect"] as const) {
      const sessionManager = new Http2SessionManager(baseUrl);
      sessions.push(sessionManager);
      const transport = kind === "grpc"
        ? createGrpcTransport({ baseUrl, sessionManager })
        : createConnectTransport({ baseUrl, httpVersion: "2", sessionManager });
      const client = createClient(Maintenance, transport);
      const res = await within(client.status({}), 2000, `${kind} status`);
      assert.equal(res.version, "3.5.99", kind);
      assert.equal(res.dbSize, 42n, kind);
      await assert.rejects(within(client.defragment({}), 2000, `${kind} defragment`), (e) => {
        assert.equal(ConnectError.from(e).code, Code.FailedPrecondition, kind);
        assert.equal(ConnectError.from(e).rawMessage, "not here", kind);
        return true;
      });
      // Not implemented by the router: the Connect/gRPC "unimplemented" handler answers.
      await assert.rejects(within(client.hash({}), 2000, `${kind} hash`), (e) => {
        assert.equal(ConnectError.from(e).code, Code.Unimplemented, kind);
        return true;
      });
    }
  } finally {
    for (const s of sessions) s.abort();
    await within(server.close(), 2000, "server close");
  }
});
