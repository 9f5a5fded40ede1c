import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Hono } from "hono";
import {
  KV,
  RangeResponseSchema,
  ResponseHeaderSchema,
} from "../../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { gatewayOf, isGatewayPath, mountGateway } from "./mount.ts";
import { GatewayServices } from "./services.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function mounted(): Hono {
  const services = new GatewayServices(() => true);
  services.add(KV, {
    range(req) {
      return create(RangeResponseSchema, {
        header: create(ResponseHeaderSchema, { revision: 7n }),
        count: BigInt(req.key.length),
      });
    },
  });
  const app = new Hono();
  mountGateway(app, services, { readMaxBytes: 1 << 20 });
  return app;
}

// {"key": "YWJj"} is the key "abc": the fake answers its length as the count.
const RANGE_BODY = JSON.stringify({ key: btoa("abc") });

Deno.test("gateway mount: the first /v3/ and /v3beta/ requests load the gateway and are answered", async () => {
  const app = mounted();
  const [v3, beta] = await Promise.all([
    app.request("/v3/kv/range", { method: "POST", body: RANGE_BODY }),
    app.request("/v3beta/kv/range", { method: "POST", body: RANGE_BODY }),
  ]);
  for (const res of [v3, beta]) {
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.count, "3");
    assert.equal(body.header.revision, "7");
  }
  // The gateway's own answers, not hono's: an unknown route and a GET.
  assert.equal((await app.request("/v3/kv/nope", { method: "POST" })).status, 404);
  assert.equal((await app.request("/v3/kv/range")).status, 405);
});

Deno.test("gateway mount: the core the HTTP/1.1 server calls works before any hono request", async () => {
  const app = mounted();
  const core = gatewayOf(app);
  assert.ok(core, "a mounted app has a core");
  assert.equal(gatewayOf(new Hono()), undefined);
  const answer = await core({
    method: "POST",
    path: "/v3/kv/range",
    header: () => undefined,
    forEachHeader: () => {},
    body: enc(RANGE_BODY),
    whenGone: () => () => {},
  });
  assert.equal(answer.status, 200);
  assert.ok(answer.body instanceof Uint8Array);
  assert.equal(JSON.parse(new TextDecoder().decode(answer.body)).count, "3");
});

Deno.test("gateway mount: only /v3/ and /v3beta/ are gateway paths", () => {
  assert.ok(isGatewayPath("/v3/kv/range"));
  assert.ok(isGatewayPath("/v3beta/kv/put"));
  assert.ok(!isGatewayPath("/v3"));
  assert.ok(!isGatewayPath("/v3alpha/kv/range"));
  assert.ok(!isGatewayPath("/health"));
});
