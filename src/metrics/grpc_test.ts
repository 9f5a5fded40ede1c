import assert from "node:assert/strict";
import { GrpcServerMetrics } from "./grpc.ts";
import { Registry } from "./registry.ts";

function lines(text: string, name: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(name + "{"));
}

Deno.test("grpc metrics: client requests by kind and client-api-version, 'unknown' when none", async () => {
  const reg = new Registry();
  const m = new GrpcServerMetrics(reg, false);
  const put = m.method("unary", "etcdserverpb.KV", "Put");
  const watch = m.method("bidi_stream", "etcdserverpb.Watch", "Watch");
  put.start("3.5");
  put.start("3.5");
  put.start(undefined);
  watch.start("3.5");
  const text = await reg.render();
  assert.deepEqual(lines(text, "etcd_server_client_requests_total"), [
    'etcd_server_client_requests_total{client_api_version="3.5",type="stream"} 1',
    'etcd_server_client_requests_total{client_api_version="3.5",type="unary"} 2',
    'etcd_server_client_requests_total{client_api_version="unknown",type="unary"} 1',
  ]);
  assert.match(
    text,
    /^grpc_server_started_total\{grpc_type="unary",grpc_service="etcdserverpb.KV",grpc_method="Put"\} 3$/m,
  );
});

Deno.test("grpc metrics: versions chosen by clients get at most 32 series; the rest count as 'other'", async () => {
  const reg = new Registry();
  const m = new GrpcServerMetrics(reg, false);
  const put = m.method("unary", "etcdserverpb.KV", "Put");
  for (let i = 0; i < 100; i++) put.start(`v${i}`);
  put.start("v0");
  const series = lines(await reg.render(), "etcd_server_client_requests_total");
  assert.equal(series.length, 33);
  assert.ok(
    series.includes('etcd_server_client_requests_total{client_api_version="v0",type="unary"} 2'),
  );
  assert.ok(
    series.includes(
      'etcd_server_client_requests_total{client_api_version="other",type="unary"} 68',
    ),
  );
});
