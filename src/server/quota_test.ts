import assert from "node:assert/strict";
import { AlarmType } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import { createLogger } from "../log.ts";
import type { StateMachine } from "./apply.ts";
import { BackendQuota, quotaBytes } from "./quota.ts";

function world(reserved: number, alarms: StateMachine["alarms"] = []) {
  const proposed: InternalRequest["request"][] = [];
  const sm = {
    store: { reservedSize: () => reserved } as StateMachine["store"],
    alarms,
  };
  const quota = new BackendQuota({
    selfId: 7n,
    cfg: { quotaBackendBytes: 1000 },
    sm,
    log: createLogger("error", { writer: () => {} }),
    propose: (req) => {
      proposed.push(req);
      return Promise.resolve();
    },
  });
  return { quota, proposed };
}

Deno.test("quota: a write that would reach the quota is refused and raises NOSPACE through the log", () => {
  const { quota, proposed } = world(900);
  quota.check(99);
  assert.equal(proposed.length, 0);
  assert.throws(() => quota.check(100), /etcdserver: mvcc: database space exceeded/);
  assert.equal(proposed.length, 1);
  const req = proposed[0];
  assert.equal(req.case, "alarm");
  assert.equal(req.case === "alarm" && req.value.alarm, AlarmType.NOSPACE);
  assert.equal(req.case === "alarm" && req.value.memberID, 7n);
});

Deno.test("quota: once this member's NOSPACE alarm is raised, writes are refused without raising it again", () => {
  const raised = [{ alarm: AlarmType.NOSPACE, memberID: 7n }] as StateMachine["alarms"];
  const { quota, proposed } = world(2000, raised);
  assert.throws(() => quota.check(1), /database space exceeded/);
  assert.equal(proposed.length, 0);
});

Deno.test("quota: --quota-backend-bytes 0 means etcd's default of 2 GiB", () => {
  assert.equal(quotaBytes({ quotaBackendBytes: 0 }), 2 * 1024 ** 3);
  assert.equal(quotaBytes({ quotaBackendBytes: 5 }), 5);
});
