/**
 * `--listen-metrics-urls`: an extra listener that serves /health beside the
 * client port, and neither gRPC nor the client port's other endpoints, as
 * etcd 3.4's does.
 */
import assert from "node:assert/strict";
import { etcdctl } from "./harness/etcdctl.ts";
import { Member, type MemberKind } from "./harness/member.ts";
import { freePort } from "./harness/ports.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("metrics_urls_test.ts");

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name: `metrics urls (${kind}): /health answers there, gRPC and /version do not`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const port = freePort();
      const m = await Member.start({
        kind,
        extraArgs: [`--listen-metrics-urls=http://127.0.0.1:${port}`],
      });
      try {
        const health = await fetch(`http://127.0.0.1:${port}/health`);
        assert.equal(health.status, 200);
        assert.equal(JSON.parse(await health.text()).health, "true");
        const version = await fetch(`http://127.0.0.1:${port}/version`);
        await version.body?.cancel();
        assert.equal(version.status, 404);
        const grpc = await etcdctl(`127.0.0.1:${port}`, ["get", "k"]);
        assert.notEqual(grpc.code, 0, "no gRPC on a metrics listener");
      } finally {
        await m.destroy();
      }
    },
  });
}
