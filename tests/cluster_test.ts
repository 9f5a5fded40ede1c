/**
 * Multi-member clusters as real processes on loopback, driven with etcdctl
 * against every member: replication, one leader, equal hashes, failover
 * after SIGKILL of the leader without losing acknowledged writes, and
 * membership changes.
 */
import assert from "node:assert/strict";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { GrpcClient } from "./harness/grpc.ts";
import { startCluster, startWithLaggingFollower, waitForLeader } from "./harness/cluster.ts";
import { type Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("cluster_test.ts");

/** Polls until `key` is absent on every member in `members`; false if it is still there at the deadline. */
async function goneEverywhere(members: Member[], key: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(500);
    const values = await Promise.all(members.map((m) => getValue(m, key)));
    if (values.every((v) => v === undefined)) return true;
  }
  return false;
}

async function getValue(m: Member, key: string, serializable = false): Promise<string | undefined> {
  const args = ["get", key, "--print-value-only"];
  if (serializable) args.push("--consistency=s");
  const out = (await etcdctlOk(m.endpoint, args)).trim();
  return out === "" ? undefined : out;
}

/** Writes on every member are visible on all; one leader, equal hashes; move-leader works. */
async function replicationScenario(n: number): Promise<void> {
  const members = await startCluster(n);
  try {
    await waitForLeader(members);
    for (const [i, m] of members.entries()) {
      await etcdctlOk(m.endpoint, ["put", `from-${i}`, `v${i}`]);
    }
    for (const m of members) {
      for (let i = 0; i < members.length; i++) {
        assert.equal(await getValue(m, `from-${i}`), `v${i}`, `${m.name} sees from-${i}`);
      }
    }
    const list = await etcdctlOk(members[1].endpoint, ["member", "list"]);
    assert.equal(list.trim().split("\n").length, n, list);
    for (const m of members) {
      assert.match(list, new RegExp(`started, ${m.name}, ${m.peerUrl}, ${m.clientUrl}`));
    }

    // Serializable reads are local but converge; then every member hashes the same history.
    const rev =
      JSON.parse(await etcdctlOk(members[0].endpoint, ["get", "from-0", "-w", "json"])).header
        .revision;
    const deadline = Date.now() + 5000;
    let hashes: string[] = [];
    while (Date.now() < deadline) {
      // --cluster: every member the member list names, as an operator checks.
      const out = await etcdctlOk(members[0].endpoint, [
        "endpoint",
        "hashkv",
        "--cluster",
        `--rev=${rev}`,
        "-w",
        "json",
      ]);
      hashes = (JSON.parse(out) as { HashKV: { hash: number } }[]).map((r) =>
        String(r.HashKV.hash)
      );
      if (new Set(hashes).size === 1) break;
      await sleep(200);
    }
    assert.equal(hashes.length, n);
    assert.equal(new Set(hashes).size, 1, `hashkv differs: ${hashes}`);

    // MoveLeader hands leadership to the member named, as etcdctl move-leader asks.
    const before = await waitForLeader(members);
    const target = members.find((m) => m !== before)!;
    // Read the id as text: uint64 ids lose precision in JSON.parse.
    const raw = await etcdctlOk(target.endpoint, ["endpoint", "status", "-w", "json"]);
    const targetHex = BigInt(/"member_id":(\d+)/.exec(raw)![1]).toString(16);
    const moved = await etcdctlOk(before.endpoint, ["move-leader", targetHex]);
    assert.match(moved, /Leadership transferred/);
    assert.equal(await waitForLeader(members), target);
  } finally {
    await Promise.all(members.map((m) => m.destroy()));
  }
}

for (const n of [3, 5]) {
  Deno.test({
    name:
      `cluster: ${n} members replicate writes made on any member and agree on one leader and hash`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => replicationScenario(n),
  });
}

Deno.test({
  name:
    "cluster: SIGKILL of the leader during writes loses no acknowledged write; it rejoins and converges",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const members = await startCluster(3);
    try {
      const leader = await waitForLeader(members);
      const followers = members.filter((m) => m !== leader);
      const acked = new Map<string, string>();
      let stop = false;
      const writer = (async () => {
        for (let i = 0; i < 400 && !stop; i++) {
          const target = followers[i % followers.length];
          const res = await etcdctl(target.endpoint, ["put", `k${i}`, `v${i}`], {
            timeoutMs: 10_000,
          });
          if (res.code === 0) acked.set(`k${i}`, `v${i}`);
        }
      })();
      await sleep(1500);
      await leader.kill();
      const newLeader = await waitForLeader(followers, 15_000);
      assert.notEqual(newLeader, leader);
      await sleep(1500);
      stop = true;
      await writer;
      assert.ok(acked.size > 0, "some writes were acknowledged");
      await etcdctlOk(followers[0].endpoint, ["put", "after-failover", "yes"]);

      leader.launch();
      await leader.waitHealthy(30_000);
      await waitForLeader(members, 15_000);
      for (const m of members) {
        assert.equal(
          await getValue(m, "after-failover"),
          "yes",
          `${m.name} has the post-failover write`,
        );
        for (const [k, v] of acked) assert.equal(await getValue(m, k, true), v, `${m.name}: ${k}`);
      }
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});

Deno.test({
  name:
    "cluster: leases work through followers and survive a leader change, then expire everywhere",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const members = await startCluster(3);
    try {
      const leader = await waitForLeader(members);
      const followers = members.filter((m) => m !== leader);
      // Granted through a follower (the proposal travels to the leader).
      const granted = await etcdctlOk(followers[0].endpoint, ["lease", "grant", "6"]);
      const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
      assert.ok(id, granted);
      await etcdctlOk(followers[1].endpoint, ["put", "leased", "v", `--lease=${id}`]);
      // Keep-alive and time-to-live on a follower are answered by the leader.
      const kept = await etcdctlOk(followers[1].endpoint, ["lease", "keep-alive", "--once", id]);
      assert.match(kept, new RegExp(`lease ${id} keepalived with TTL\\(6\\)`));
      const ttl = await etcdctlOk(followers[0].endpoint, ["lease", "timetolive", id, "--keys"]);
      assert.match(ttl, /granted with TTL\(6s\), remaining\(\d+s\), attached keys\(\[leased\]\)/);

      // The leader dies; its successor must not expire the lease early.
      await leader.kill();
      const next = await waitForLeader(followers, 15_000);
      await etcdctlOk(next.endpoint, ["lease", "keep-alive", "--once", id]);
      assert.equal(
        await getValue(followers[0], "leased"),
        "v",
        "key kept across the leader change",
      );

      // Without keep-alives the lease expires, and its key goes on every live member.
      assert.ok(
        await goneEverywhere(followers, "leased", 20_000),
        "the leased key vanished after expiry",
      );
      const after = await etcdctlOk(followers[1].endpoint, ["lease", "timetolive", id]);
      assert.match(after, /already expired/);
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});

Deno.test({
  name: "cluster: a member stopped while the log moved past it catches up from a snapshot",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // 5,000 entries stay in the leader's log behind each snapshot: write more than that.
    const { members, leader, lagging } = await startWithLaggingFollower(["--snapshot-count=500"]);
    try {
      const client = new GrpcClient(leader.clientUrl);
      try {
        for (let i = 0; i < 6000; i += 100) {
          const puts = [];
          for (let j = i; j < i + 100; j++) puts.push(client.put(`behind/${j}`, `v${j}`));
          await Promise.all(puts);
        }
      } finally {
        await client.close();
      }
      lagging.launch();
      await lagging.waitHealthy(30_000);
      assert.equal(await getValue(lagging, "behind/5999"), "v5999");
      // Its own log shows how it caught up (read once it has stopped and flushed).
      await lagging.stop();
      assert.match(
        await Deno.readTextFile(lagging.stderrPath),
        /installed snapshot from the leader/,
      );
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});

Deno.test({
  name: "cluster: a lease and its keys survive a full cluster restart, then expire on time",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const members = await startCluster(3);
    try {
      await waitForLeader(members);
      const granted = await etcdctlOk(members[0].endpoint, ["lease", "grant", "20"]);
      const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
      assert.ok(id, granted);
      await etcdctlOk(members[1].endpoint, ["put", "restart/leased", "v", `--lease=${id}`]);
      // Let a checkpoint record the remaining TTL, then stop every member.
      await sleep(6000);
      await Promise.all(members.map((m) => m.stop()));
      for (const m of members) m.launch();
      await Promise.all(members.map((m) => m.waitHealthy(30_000)));
      await waitForLeader(members);
      const ttl = await etcdctlOk(members[2].endpoint, ["lease", "timetolive", id, "--keys"]);
      const remaining = Number(/remaining\((-?\d+)s\)/.exec(ttl)?.[1]);
      assert.ok(remaining > 0 && remaining <= 20, `remaining TTL after restart: ${ttl}`);
      assert.match(ttl, /attached keys\(\[restart\/leased\]\)/);
      assert.equal(await getValue(members[0], "restart/leased"), "v");
      // With no keep-alives it expires within its TTL (plus the leader's grace), on every member.
      assert.ok(
        await goneEverywhere(members, "restart/leased", 40_000),
        "the leased key vanished after the restart and expiry",
      );
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});
