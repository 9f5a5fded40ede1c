import assert from "node:assert/strict";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { createLogger } from "../log.ts";
import { LeaseDriver } from "./driver.ts";
import { Lessor } from "./lessor.ts";

function setup() {
  const clock = { now: 0 };
  const lessor = new Lessor({ minTtl: 1, checkpointIntervalMs: 5000, now: () => clock.now });
  const proposed: InternalRequest["request"][] = [];
  const host = {
    lessor,
    leader: true,
    isLeader: () => host.leader,
    propose: (req: InternalRequest["request"]) => {
      proposed.push(req);
      return Promise.reject(EtcdErrors.leaseNotFound());
    },
    log: createLogger("error"),
  };
  return { clock, lessor, proposed, host, driver: new LeaseDriver(host) };
}

Deno.test("driver: the leader proposes one revoke per expired lease, followers nothing", async () => {
  const { clock, lessor, proposed, host, driver } = setup();
  lessor.grant(1n, 3);
  lessor.grant(2n, 100);
  clock.now = 10_000;
  driver.tick(); // not promoted yet: nothing expires
  assert.equal(proposed.length, 0);
  lessor.promote(0);
  host.leader = false;
  clock.now += 10_000;
  driver.tick();
  assert.equal(proposed.length, 0);
  host.leader = true;
  driver.tick();
  const revokes = proposed.filter((r) => r.case === "leaseRevoke");
  assert.deepEqual(revokes.map((r) => r.value.ID), [1n]);
  // Lease 2 has lived 10 s of its 100: its remaining TTL is checkpointed too.
  assert.deepEqual(proposed.map((r) => r.case), ["leaseRevoke", "leaseCheckpoint"]);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(driver.inflight, 0);
});

Deno.test("driver: due checkpoints go out as one batch", () => {
  const { clock, lessor, proposed, driver } = setup();
  lessor.promote(0);
  for (let i = 1n; i <= 3n; i++) lessor.grant(i, 60);
  clock.now += 5000;
  driver.tick();
  assert.equal(proposed.length, 1);
  assert.equal(proposed[0].case, "leaseCheckpoint");
  const cps = (proposed[0].value as { checkpoints: { ID: bigint; remainingTTL: bigint }[] })
    .checkpoints;
  assert.deepEqual(cps.map((c) => [c.ID, c.remainingTTL]), [[1n, 55n], [2n, 55n], [3n, 55n]]);
});
