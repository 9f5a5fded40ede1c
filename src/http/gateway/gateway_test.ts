import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  KV,
  Maintenance,
  RangeResponseSchema,
  ResponseHeaderSchema,
  Watch,
  type WatchRequest,
  WatchResponseSchema,
} from "../../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { KeyValueSchema } from "../../gen/etcd/api/mvccpb/kv_pb.ts";
import { EtcdErrors } from "../../errors.ts";
import { createGatewayHandler, GatewayServices } from "./gateway.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** What the fake services saw of their last call. */
interface Seen {
  ctx?: HandlerContext;
  requests: WatchRequest[];
  requestsEnded: boolean;
}

function setup(opts: { hasLeader?: boolean; readMaxBytes?: number } = {}) {
  const seen: Seen = { requests: [], requestsEnded: false };
  const services = new GatewayServices(() => opts.hasLeader ?? true);
  services.add(KV, {
    range(req, ctx) {
      seen.ctx = ctx;
      if (dec(req.key) === "hang") return new Promise(() => {});
      return create(RangeResponseSchema, {
        header: create(ResponseHeaderSchema, { revision: 7n }),
        kvs: [create(KeyValueSchema, { key: req.key, value: enc("<v>") })],
        count: 1n,
      });
    },
    put(req) {
      return { header: { revision: BigInt(req.value.length) } };
    },
  });
  services.add(Watch, {
    async *watch(requests, ctx) {
      seen.ctx = ctx;
      for await (const req of requests) {
        seen.requests.push(req);
        if (req.requestUnion.case !== "createRequest") continue;
        const id = req.requestUnion.value.watchId;
        if (id === 99n) throw EtcdErrors.noLeader();
        yield create(WatchResponseSchema, { watchId: id, created: true });
      }
      seen.requestsEnded = true;
    },
  });
  services.add(Maintenance, {
    // deno-lint-ignore require-yield
    async *snapshot(_req, ctx) {
      seen.ctx = ctx;
      throw EtcdErrors.noLeader();
    },
  });
  const handler = createGatewayHandler(services, { readMaxBytes: opts.readMaxBytes ?? 1024 });
  const call = async (
    path: string,
    body: string | ReadableStream<Uint8Array> | null,
    init: RequestInit = {},
  ) => {
    const res = await handler(
      new Request(`http://127.0.0.1:2379${path}`, { method: "POST", body, ...init }),
    );
    return { res, text: await res.text() };
  };
  return { seen, handler, call };
}

Deno.test("gateway: routes, /v3beta, Go's plain-text 404 and 405", async () => {
  const { call } = setup();
  const ok = await call("/v3beta/kv/range", '{"key":"YQ=="}');
  assert.equal(ok.res.status, 200);
  for (const path of ["/v3/kv/rangex", "/v3/kv/range/", "/v3/", "/v3beta/x"]) {
    const r = await call(path, "{}");
    assert.equal(r.res.status, 404, path);
    assert.equal(r.text, "Not Found\n");
    assert.equal(r.res.headers.get("content-type"), "text/plain; charset=utf-8");
  }
  const get = await call("/v3/kv/range", null, { method: "GET" });
  assert.equal(get.res.status, 405);
  assert.equal(get.text, "Method Not Allowed\n");
});

Deno.test("gateway: services or methods not registered answer Unimplemented", async () => {
  const { call } = setup();
  const svc = await call("/v3/auth/status", "{}");
  assert.equal(svc.res.status, 501);
  assert.equal(
    svc.text,
    '{"error":"unknown service etcdserverpb.Auth","code":12,"message":"unknown service etcdserverpb.Auth"}',
  );
  const method = await call("/v3/kv/compaction", "{}");
  assert.equal(method.res.status, 501);
  assert.match(method.text, /"unknown method Compact for service etcdserverpb.KV"/);
});

Deno.test("gateway: unary call with metadata from Authorization and Grpc-Metadata-*", async () => {
  const { call, seen } = setup();
  const r = await call("/v3/kv/range", '{"key":"YQ=="} trailing', {
    headers: { Authorization: "tok", "Grpc-Metadata-Token": "t2", "X-Other": "no" },
  });
  assert.equal(r.res.status, 200);
  assert.equal(r.res.headers.get("content-type"), "application/json");
  assert.equal(r.res.headers.get("grpc-metadata-content-type"), "application/grpc");
  assert.equal(
    r.text,
    '{"header":{"revision":"7"},"kvs":[{"key":"YQ==","value":"PHY+"}],"count":"1"}',
  );
  assert.equal(seen.ctx?.requestHeader.get("authorization"), "tok");
  assert.equal(seen.ctx?.requestHeader.get("token"), "t2");
  assert.equal(seen.ctx?.requestHeader.get("x-other"), null);
  // The call is over: its context has ended, as connect's do.
  assert.equal(seen.ctx?.signal.aborted, true);
  // Init shapes from an implementation are encoded too; an empty body is an empty request.
  const put = await call("/v3/kv/put", "");
  assert.equal(put.text, '{"header":{}}');
  assert.equal((await call("/v3/kv/put", '{"value":"YWJj"}')).text, '{"header":{"revision":"3"}}');
});

Deno.test("gateway: hasleader refuses calls while the member has no leader", async () => {
  const { call } = setup({ hasLeader: false });
  const h = { headers: { "Grpc-Metadata-Hasleader": "true" } };
  const unary = await call("/v3/kv/range", '{"key":"YQ=="}', h);
  assert.equal(unary.res.status, 503);
  assert.equal(
    unary.text,
    '{"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"}',
  );
  const stream = await call("/v3/watch", '{"create_request":{"key":"YQ=="}}', h);
  assert.equal(stream.res.status, 503);
  assert.equal(
    stream.text,
    '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}',
  );
  assert.equal((await call("/v3/kv/range", '{"key":"YQ=="}')).res.status, 200);
});

Deno.test("gateway: Grpc-Timeout ends a call that takes longer with DeadlineExceeded", async () => {
  const { call, seen } = setup();
  const r = await call("/v3/kv/range", `{"key":"${btoa("hang")}"}`, {
    headers: { "Grpc-Timeout": "50m" },
  });
  assert.equal(r.res.status, 504);
  assert.equal(
    r.text,
    '{"error":"context deadline exceeded","code":4,"message":"context deadline exceeded"}',
  );
  assert.equal(seen.ctx?.signal.aborted, true);
});

Deno.test("gateway: a client that goes away cancels the call's context", async () => {
  const { handler, seen } = setup();
  const abort = new AbortController();
  const pending = handler(
    new Request("http://127.0.0.1:2379/v3/kv/range", {
      method: "POST",
      body: `{"key":"${btoa("hang")}"}`,
      signal: abort.signal,
    }),
  );
  for (let i = 0; i < 100 && !seen.ctx; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(seen.ctx?.signal.aborted, false);
  abort.abort();
  await pending;
  assert.equal(seen.ctx?.signal.aborted, true);
});

Deno.test("gateway: messages over the receive limit are refused as gRPC refuses them", async () => {
  const { call } = setup({ readMaxBytes: 100 });
  // The JSON decodes to a 153-byte message.
  const big = await call(
    "/v3/kv/put",
    JSON.stringify({ key: "YQ==", value: btoa("x".repeat(147)) }),
  );
  assert.equal(big.res.status, 429);
  assert.equal(
    big.text,
    '{"error":"grpc: received message larger than max (153 vs. 100)","code":8,"message":"grpc: received message larger than max (153 vs. 100)"}',
  );
  // JSON far beyond what any accepted message needs is not even buffered.
  const huge = await call("/v3/kv/put", `{"key":"${"A".repeat(1000)}"}`);
  assert.equal(huge.res.status, 429);
  assert.match(huge.text, /"code":8/);
});

Deno.test("gateway: a bidi stream takes every JSON value of the body as a request", async () => {
  const { call, seen } = setup();
  const body = '{"create_request":{"watch_id":1}}\n{"create_request":{"watch_id":2}}' +
    '{"cancel_request":{"watch_id":1}} {"create_request":{"watch_id":3}}';
  const r = await call("/v3/watch", body);
  assert.equal(r.res.status, 200);
  assert.equal(r.res.headers.get("grpc-metadata-content-type"), "application/grpc");
  assert.equal(
    r.text,
    '{"result":{"watch_id":"1","created":true}}\n{"result":{"watch_id":"2","created":true}}\n' +
      '{"result":{"watch_id":"3","created":true}}\n',
  );
  assert.equal(seen.requests.length, 4);
  assert.equal(seen.requestsEnded, true);
  // The implementation sees a JSON call: the Watch service keeps events as messages then.
  assert.equal(seen.ctx?.requestHeader.get("content-type"), "application/json");
});

Deno.test("gateway: a later request that does not decode ends the requests, not the call", async () => {
  const { call, seen } = setup();
  const r = await call("/v3/watch", '{"create_request":{"watch_id":1}} {"create_request":5}');
  assert.equal(r.res.status, 200);
  assert.equal(r.text, '{"result":{"watch_id":"1","created":true}}\n');
  assert.equal(seen.requests.length, 1);
  assert.equal(seen.requestsEnded, true);
});

Deno.test("gateway: a first request that does not decode fails the call as Unknown", async () => {
  const { call } = setup();
  const r = await call("/v3/watch", '{"create_request":5}');
  assert.equal(r.res.status, 500);
  assert.match(r.text, /^\{"error":".+","code":2,"message":".+"\}$/);
});

Deno.test("gateway: stream errors after results are appended as an error chunk", async () => {
  const { call } = setup();
  const r = await call(
    "/v3/watch",
    '{"create_request":{"watch_id":1}}{"create_request":{"watch_id":99}}',
  );
  assert.equal(r.res.status, 200);
  assert.equal(
    r.text,
    '{"result":{"watch_id":"1","created":true}}\n' +
      '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}',
  );
  // Before any result, the error decides the status.
  const first = await call("/v3/maintenance/snapshot", "{}");
  assert.equal(first.res.status, 503);
  assert.match(first.text, /^\{"error":\{"grpc_code":14,/);
});

Deno.test("gateway: an empty body is a stream without requests", async () => {
  const { call, seen } = setup();
  const r = await call("/v3/watch", "");
  assert.equal(r.res.status, 200);
  assert.equal(r.text, "");
  assert.equal(r.res.headers.get("grpc-metadata-content-type"), null);
  assert.equal(seen.requestsEnded, true);
});

Deno.test("gateway: streamed results are sent as they come, one write per result", async () => {
  const { handler } = setup();
  const requests = new TransformStream<Uint8Array, Uint8Array>();
  const writer = requests.writable.getWriter();
  const pending = handler(
    new Request("http://127.0.0.1:2379/v3/watch", { method: "POST", body: requests.readable }),
  );
  await writer.write(enc('{"create_request":{"watch_id":5}}'));
  const res = await pending;
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.equal(dec(first.value!), '{"result":{"watch_id":"5","created":true}}\n');
  await writer.write(enc('{"create_request":{"watch_id":6}}'));
  const second = await reader.read();
  assert.equal(dec(second.value!), '{"result":{"watch_id":"6","created":true}}\n');
  await writer.close();
  assert.equal((await reader.read()).done, true);
});
