/**
 * --auto-compaction-* on a real 3-member cluster, beside etcd 3.4: with
 * periodic mode and a one-second retention, only the leader compacts (and
 * logs "starting/completed auto periodic compaction" with etcd's fields),
 * every member applies the compaction, and writes keep flowing. Revision
 * mode's fixed five-minute interval is covered by compactor_test.ts with
 * a hand-moved clock.
 */
import assert from "node:assert/strict";
import { destroyAll, startCluster, waitForLeader } from "./harness/cluster.ts";
import { etcdctl } from "./harness/etcdctl.ts";
import { GrpcClient } from "./harness/grpc.ts";
import { type Member, type MemberKind, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("compaction_test.ts");

interface LogLine {
  msg: string;
  revision?: number;
  "compact-period"?: string;
}

async function logLines(m: Member): Promise<LogLine[]> {
  const text = await m.stderrText();
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name: `auto compaction (${kind}): periodic, 1s retention: the leader compacts, all apply`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const flags = [
        "--heartbeat-interval=50",
        "--election-timeout=500",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1s",
        ...(kind === "etcd" ? ["--logger=zap"] : []),
      ];
      const members = await startCluster(3, flags, kind);
      const client = new GrpcClient(members[0].clientUrl);
      try {
        const leader = await waitForLeader(members);
        // Writes for three seconds: a period of samples, then compactions.
        const until = Date.now() + 3000;
        let writes = 0;
        while (Date.now() < until) {
          await client.put(`k${writes % 10}`, String(writes));
          writes++;
          await sleep(20);
        }
        let done: LogLine | undefined;
        for (let i = 0; i < 50 && !done; i++) {
          // The first compacts to the revision sampled before any write (1): wait for a later one.
          done = (await logLines(leader)).findLast((l) =>
            l.msg === "completed auto periodic compaction" && (l.revision ?? 0) > 1
          );
          if (!done) await sleep(100);
        }
        assert.ok(done, "the leader completed a compaction");
        assert.equal(done["compact-period"], "1s");
        assert.ok((done.revision ?? 0) > 1, `compacted to ${done.revision}`);
        const started = (await logLines(leader)).find((l) =>
          l.msg === "starting auto periodic compaction"
        );
        assert.equal(started?.revision !== undefined, true);
        for (const m of members) {
          if (m === leader) continue;
          const lines = await logLines(m);
          assert.ok(
            !lines.some((l) => l.msg === "starting auto periodic compaction"),
            `follower ${m.name} compacted`,
          );
        }
        // Every member applied it: the revision before it is gone everywhere.
        const gone = `--rev=${done.revision! - 1}`;
        for (const m of members) {
          const r = await etcdctl(m.endpoint, ["get", "k0", gone, "--consistency=s"]);
          assert.notEqual(r.code, 0, `${m.name} still has ${gone}`);
          assert.match(r.stderr, /required revision has been compacted/);
        }
      } finally {
        client.destroy();
        await destroyAll(members);
      }
    },
  });
}
