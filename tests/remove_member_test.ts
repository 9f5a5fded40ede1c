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

Deno.test({
  name:
    "remove member: after the others restart from a snapshot taken after the removal, the removed member still hears 410 and exits",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A snapshot every 100 entries, so the removal is inside the snapshot
    // the others recover from and no longer in the WAL they replay: only
    // the replicated removed-member set can tell them it was removed.
    const members = await startCluster(3, ["--snapshot-count", "100"]);
    try {
      const leader = await waitForLeader(members);
      const gone = members.find((m) => m !== leader)!;
      const rest = members.filter((m) => m !== gone);
      const list = await etcdctlOk(leader.endpoint, ["member", "list"]);
      const line = list.split("\n").find((l) => l.includes(gone.peerUrl));
      assert.ok(line, `no member with ${gone.peerUrl} in\n${list}`);
      await gone.kill();
      await etcdctlOk(leader.endpoint, ["member", "remove", line.split(",")[0].trim()]);
      for (let i = 0; i < 250; i++) await etcdctlOk(leader.endpoint, ["put", `k${i}`, "v"]);
      for (const m of rest) await m.kill();
      for (const m of rest) m.launch();
      await Promise.all(rest.map((m) => m.waitHealthy(30_000)));
      await waitForLeader(rest);
      for (const m of rest) {
        assert.match(await m.stderrText(), /snapshot/i, `${m.name} did not log a snapshot`);
      }
      // The removed member comes back on its old data dir, believing it is
      // a member: the others must tell it 410 "removed member".
      gone.launch();
      const status = await gone.waitExit(20_000);
      assert.ok(status, `the removed member still runs 20 s later\n${await gone.stderrTail()}`);
      assert.equal(status.code, 0);
      assert.match(await gone.stderrText(), /removed/);
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});
