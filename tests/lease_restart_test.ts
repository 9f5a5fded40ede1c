/**
 * A lease across a full 3-member cluster crash (every member SIGKILLed at
 * once, then restarted): the new leader must restore the remaining TTL
 * from the last checkpoint and extend it by an election timeout (etcd's
 * lessor.Promote), so that
 *
 * - the lease never ends earlier than it would have without the crash,
 * - it does not restart from its full granted TTL either (the checkpoint
 *   is what survives), and
 * - it then expires on its own, on every member, exactly once.
 *
 * This is also where a once-seen `remaining(0s)` right after a full
 * restart is explained: remaining TTL counts from the new leader's
 * promotion, so a restart slower than the checkpointed remaining TTL
 * legitimately finds the lease in its last second. The test asks as soon
 * as any member answers and logs the timings.
 */

import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { KV, Lease } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { destroyAll, startCluster, waitForLeader } from "./harness/cluster.ts";
import { type Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("lease_restart_test.ts");

const TTL_S = 20;
/** cairn checkpoints remaining TTLs every 5 s (src/lease/lessor.ts). */
const CHECKPOINT_S = 5;
/** The default election timeout, by which a new leader extends every lease. */
const ELECTION_S = 1;
const enc = (s: string) => new TextEncoder().encode(s);
const transport = (m: Member) =>
  createGrpcTransport({ baseUrl: m.clientUrl, defaultTimeoutMs: 3_000 });

/** The first LeaseTimeToLive answer from any member, polling every 100 ms (bounded). */
async function firstTimeToLive(
  members: Member[],
  id: bigint,
  timeoutMs: number,
): Promise<{ at: number; ttl: number; keys: number; from: string }> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const m of members) {
      try {
        const r = await createClient(Lease, transport(m)).leaseTimeToLive({ ID: id, keys: true });
        return { at: Date.now(), ttl: Number(r.TTL), keys: r.keys.length, from: m.name };
      } catch {
        // not up yet, or no leader yet
      }
    }
    await sleep(100);
  }
  throw new Error(`no member answered LeaseTimeToLive within ${timeoutMs} ms`);
}

/** Whether `key` is absent on every member (serializable reads: each member's own state). */
async function goneEverywhere(members: Member[], key: string): Promise<boolean> {
  for (const m of members) {
    const r = await createClient(KV, transport(m)).range({ key: enc(key), serializable: true });
    if (r.kvs.length > 0) return false;
  }
  return true;
}

Deno.test({
  name: "lease: a full cluster crash restores the checkpointed remaining TTL, never shortening it",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const members = await startCluster(3, ["--log-level=warn"]);
    try {
      const leader = await waitForLeader(members);
      const granted = Date.now();
      const { ID: id } = await createClient(Lease, transport(leader)).leaseGrant({
        TTL: BigInt(TTL_S),
      });
      const deadlineBefore = granted + TTL_S * 1000; // expiry had nothing happened
      await createClient(KV, transport(members[1])).put({
        key: enc("lr/leased"),
        value: enc("v"),
        lease: id,
      });
      // One checkpoint (at ~5 s, remaining 15 s) is committed before the crash.
      await sleep((CHECKPOINT_S + 2) * 1000);
      await Promise.all(members.map((m) => m.kill()));
      const relaunched = Date.now();
      for (const m of members) m.launch();
      const first = await firstTimeToLive(members, id, 60_000);
      console.log(
        `restart: first answer ${first.at - relaunched} ms after relaunch, ` +
          `${first.at - granted} ms after grant, from ${first.from}: TTL ${first.ttl}`,
      );
      assert.ok(first.ttl >= 0, `the lease survived the crash (TTL ${first.ttl})`);
      assert.equal(first.keys, 1, "its key is still attached");
      // Never earlier than without the crash (1 s for truncation to whole seconds).
      assert.ok(
        first.at + (first.ttl + 1) * 1000 >= deadlineBefore,
        `lease would end ${deadlineBefore - first.at - first.ttl * 1000} ms early`,
      );
      // Restored from the checkpoint (<= 15 s + election), not from the full 20 s TTL.
      const checkpointed = TTL_S - CHECKPOINT_S;
      assert.ok(
        first.ttl <= checkpointed + ELECTION_S,
        `TTL ${first.ttl} s after the restart: the checkpoint (${checkpointed} s) was not used`,
      );
      await waitForLeader(members, 30_000);
      // It then expires by itself, everywhere, within its remaining TTL plus the
      // leader's 500 ms expiry check and some slack for a busy machine.
      const expiresBy = first.at + (first.ttl + 1) * 1000;
      let gone = false;
      while (!gone && Date.now() < expiresBy + 15_000) {
        gone = await goneEverywhere(members.filter((m) => m.running), "lr/leased");
        if (!gone) await sleep(200);
      }
      assert.ok(gone, "the leased key vanished on every member after expiry");
      const goneAt = Date.now();
      assert.ok(goneAt >= deadlineBefore, "not before the original expiry");
      const after = await firstTimeToLive(members, id, 10_000);
      assert.equal(after.ttl, -1, "the lease itself is gone");
    } finally {
      await destroyAll(members);
    }
  },
});
