/**
 * A follower removed with `etcdctl member remove` stops by itself, as
 * etcd's does: the others drop its message stream, and when it reconnects
 * they answer 410 "removed member", on which it exits 0.
 */
import assert from "node:assert/strict";
import { startCluster, waitForLeader } from "./harness/cluster.ts";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("remove_member_test.ts");

Deno.test({
  name: "remove member: a removed follower exits 0 within seconds and the rest keep serving",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const members = await startCluster(3);
    try {
      const leader = await waitForLeader(members);
      const follower = members.find((m) => m !== leader)!;
      await etcdctlOk(leader.endpoint, ["put", "before", "1"]);
      const list = await etcdctlOk(leader.endpoint, ["member", "list"]);
      const line = list.split("\n").find((l) => l.includes(follower.peerUrl));
      assert.ok(line, `no member with ${follower.peerUrl} in\n${list}`);
      await etcdctlOk(leader.endpoint, ["member", "remove", line.split(",")[0].trim()]);
      const status = await follower.waitExit(15_000);
      assert.ok(
        status,
        `the removed follower still runs 15 s later\n${await follower.stderrTail()}`,
      );
      assert.equal(status.code, 0);
      assert.match(await follower.stderrText(), /removed/);
      await etcdctlOk(leader.endpoint, ["put", "after", "2"]);
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});
