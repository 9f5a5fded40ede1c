import assert from "node:assert/strict";
import { type ConnectRouter, createConnectRouter } from "@connectrpc/connect";
import { KV, Lease, Watch } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Lock } from "../gen/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock_pb.ts";
import { connectPaths } from "./connect_paths.ts";

// Services with some, none or all methods implemented, and a single rpc.
const routes = (router: ConnectRouter) => {
  router.service(KV, { range: () => ({}) });
  router.service(Watch, {});
  router.service(Lease, {});
  router.rpc(Lock.method.lock, () => ({}));
};

Deno.test("connect paths: exactly the request paths connect's router serves", () => {
  const router = createConnectRouter();
  routes(router);
  const served = new Set(router.handlers.map((h) => h.requestPath));
  assert.deepEqual(connectPaths(routes), served);
  assert.ok(served.has("/etcdserverpb.KV/Range"));
  // Methods without an implementation are served too (they answer Unimplemented).
  assert.ok(served.has("/etcdserverpb.KV/Txn"));
  assert.ok(served.has("/v3lockpb.Lock/Lock"));
  assert.ok(!served.has("/v3lockpb.Lock/Unlock"));
});

Deno.test("connect paths: the app's own paths are not among them", () => {
  const paths = connectPaths(routes);
  for (const p of ["/metrics", "/health", "/version", "/v3/kv/range", "/ui/", "/etcdserverpb.KV"]) {
    assert.ok(!paths.has(p), p);
  }
});
