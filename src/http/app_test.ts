import assert from "node:assert/strict";
import type { HealthChecker } from "../server/health.ts";
import { createHttpApp, createMetricsApp, type HttpSources, SERVER_VERSION } from "./app.ts";
import { gatewayOf } from "./gateway/mount.ts";
import { GatewayServices } from "./gateway/services.ts";

/** Sources whose health check is always healthy and has no named checks. */
function sources(): HttpSources {
  const health = {
    health: () => Promise.resolve({ health: "true", reason: "" }),
    names: () => [],
    filter: () => [],
    run: () => Promise.resolve({ ok: true, reason: "" }),
  } as unknown as HealthChecker;
  return { health, metrics: { render: () => Promise.resolve("etcd_up 1\n") } };
}

Deno.test("http app: every route answers, the lazily loaded ones (pprof, dashboard) on their first request too", async () => {
  const app = createHttpApp(sources(), { pprof: true });
  const version = await app.fetch(new Request("http://x/version"));
  assert.equal(version.status, 200);
  assert.equal((await version.json()).etcdserver, SERVER_VERSION);
  const metrics = await app.fetch(new Request("http://x/metrics"));
  assert.equal(await metrics.text(), "etcd_up 1\n");
  assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0.0.4/);
  assert.equal((await app.fetch(new Request("http://x/health"))).status, 200);
  assert.equal((await app.fetch(new Request("http://x/health", { method: "POST" }))).status, 405);
  assert.equal((await app.fetch(new Request("http://x/livez"))).status, 200);
  const ui = await app.fetch(new Request("http://x/ui/"));
  assert.equal(ui.status, 200);
  assert.match(ui.headers.get("content-type")!, /^text\/html/);
  // pprof refuses a profile beyond its limit before recording anything.
  const pprof = await app.fetch(new Request("http://x/debug/pprof/profile?seconds=999999"));
  assert.equal(pprof.status, 400);
  assert.equal((await app.fetch(new Request("http://x/nothing"))).status, 404);
});

Deno.test("http app: pprof is served only when asked for", async () => {
  const app = createHttpApp(sources());
  const res = await app.fetch(new Request("http://x/debug/pprof/profile?seconds=999999"));
  assert.equal(res.status, 404);
});

Deno.test("http app: the gateway's core is there for the HTTP/1.1 server, and /v3/ through fetch", async () => {
  const services = new GatewayServices(() => true);
  const app = createHttpApp(sources(), { gateway: { services, readMaxBytes: 1 << 20 } });
  const core = gatewayOf(app);
  assert.ok(core);
  const direct = await core({
    method: "POST",
    path: "/v3/kv/range",
    header: () => undefined,
    forEachHeader: () => {},
    body: new TextEncoder().encode("{}"),
    whenGone: () => () => {},
  });
  // No KV service registered: the gateway's own answer (gRPC Unimplemented as HTTP 501).
  assert.equal(direct.status, 501);
  const viaFetch = await app.fetch(
    new Request("http://x/v3/kv/range", { method: "POST", body: "{}" }),
  );
  assert.equal(viaFetch.status, 501);
  assert.equal(gatewayOf(createHttpApp(sources())), undefined);
});

Deno.test("http app: the metrics listener's app serves /metrics and health only", async () => {
  const app = createMetricsApp(sources());
  assert.equal((await app.fetch(new Request("http://x/metrics"))).status, 200);
  assert.equal((await app.fetch(new Request("http://x/health"))).status, 200);
  assert.equal((await app.fetch(new Request("http://x/version"))).status, 404);
  assert.equal((await app.fetch(new Request("http://x/ui/"))).status, 404);
});
