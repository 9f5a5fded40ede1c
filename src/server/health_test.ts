import assert from "node:assert/strict";
import { AlarmType } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { createLogger } from "../log.ts";
import { ServerMetrics } from "../metrics/etcd.ts";
import { HealthChecker, type HealthTarget } from "./health.ts";

const log = createLogger("error");

function target(over: Partial<HealthTarget> = {}): HealthTarget {
  return {
    alarms: () => [],
    leader: () => 1n,
    isLearner: () => false,
    read: () => Promise.resolve(),
    ...over,
  };
}

Deno.test("/health: alarms first (unless excluded), then the leader, then the read", async () => {
  const nospace = target({ alarms: () => [{ alarm: AlarmType.NOSPACE }], leader: () => 0n });
  const h = new HealthChecker(nospace, log);
  assert.deepEqual(await h.health(new Set(), false), { health: "false", reason: "ALARM NOSPACE" });
  assert.deepEqual(await h.health(new Set(["NOSPACE"]), false), {
    health: "false",
    reason: "RAFT NO LEADER",
  });
  // Serializable: no leader needed, only the local read.
  assert.deepEqual(await h.health(new Set(["NOSPACE"]), true), { health: "true", reason: "" });
  const corrupt = new HealthChecker(target({ alarms: () => [{ alarm: AlarmType.CORRUPT }] }), log);
  assert.equal((await corrupt.health(new Set(), false)).reason, "ALARM CORRUPT");
  const failing = new HealthChecker(
    target({ read: () => Promise.reject(new Error("etcdserver: request timed out")) }),
    log,
  );
  assert.deepEqual(await failing.health(new Set(), false), {
    health: "false",
    reason: "RANGE ERROR:etcdserver: request timed out",
  });
});

Deno.test("/readyz checks: one line each, failures with etcd's reasons", async () => {
  const h = new HealthChecker(
    target({
      alarms: () => [{ alarm: AlarmType.CORRUPT }],
      isLearner: () => true,
      read: (s) =>
        s ? Promise.resolve() : Promise.reject(new Error("etcdserver: request timed out")),
    }),
    log,
  );
  assert.deepEqual(h.names("livez"), ["serializable_read"]);
  const out = await h.run("readyz", h.names("readyz"));
  assert.equal(out.ok, false);
  assert.equal(
    out.reason,
    "[-]data_corruption failed: alarm activated: CORRUPT\n" +
      "[+]serializable_read ok\n" +
      "[-]linearizable_read failed: etcdserver: request timed out\n" +
      "[-]non_learner failed: not supported for learner\n",
  );
  assert.deepEqual(h.filter("readyz", new Set(["non_learner", "no_such_check"])), [
    "data_corruption",
    "serializable_read",
    "linearizable_read",
  ]);
  assert.deepEqual(await h.run("livez", ["serializable_read"]), {
    ok: true,
    reason: "[+]serializable_read ok\n",
  });
});

Deno.test("health outcomes are counted in etcd's health metrics", async () => {
  const m = new ServerMetrics({
    serverVersion: "3.5.0",
    clusterVersion: "3.5",
    withoutProcess: true,
  });
  const h = new HealthChecker(target({ leader: () => 0n }), log, m);
  await h.health(new Set(), false);
  await h.health(new Set(), true);
  await h.run("readyz", ["non_learner"]);
  assert.equal(m.healthFailures.value, 1);
  assert.equal(m.healthSuccess.value, 1);
  const text = await m.render();
  assert.match(text, /^etcd_server_healthcheck\{type="readyz",name="non_learner"\} 1$/m);
  assert.match(
    text,
    /^etcd_server_healthchecks_total\{type="readyz",name="non_learner",status="success"\} 1$/m,
  );
});
