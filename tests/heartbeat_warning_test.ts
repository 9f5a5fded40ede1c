/**
 * A leader held past twice its heartbeat interval (SIGSTOP, as a stalled
 * disk or event loop would hold it) says so as etcd does: the warning
 * "leader failed to send out heartbeat on time; ..." in its log and a rise
 * of etcd_server_heartbeat_send_failures_total. A leader that is never
 * held logs no such warning.
 */
import assert from "node:assert/strict";
import { destroyAll, startCluster, waitForLeader } from "./harness/cluster.ts";
import { type Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("heartbeat_warning_test.ts");
const WARNING = "leader failed to send out heartbeat on time";

async function heartbeatFailures(m: Member): Promise<number> {
  const text = await (await fetch(`${m.clientUrl}/metrics`)).text();
  const line = /^etcd_server_heartbeat_send_failures_total (\S+)$/m.exec(text);
  assert.ok(line, "etcd_server_heartbeat_send_failures_total is exported");
  return Number(line[1]);
}

/** Polls `m`'s log for the warning; its JSON line, or undefined at the deadline. */
async function warningLine(m: Member, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = (await m.stderrText()).split("\n").find((l) => l.includes(WARNING));
    if (line !== undefined || Date.now() >= deadline) return line;
    await sleep(100);
  }
}

Deno.test({
  name: "a leader held past twice its heartbeat interval logs etcd's late-heartbeat warning",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A long election timeout: the followers must not elect while the leader is held.
    const members = await startCluster(3, ["--heartbeat-interval=100", "--election-timeout=5000"]);
    try {
      const leader = await waitForLeader(members);
      // Heartbeats have gone out on time so far.
      await sleep(500);
      assert.equal(await warningLine(leader, 0), undefined, "no warning before the leader is held");
      const before = await heartbeatFailures(leader);
      Deno.kill(leader.pid!, "SIGSTOP");
      try {
        await sleep(800); // the fault: 8 heartbeat intervals without the leader
      } finally {
        Deno.kill(leader.pid!, "SIGCONT");
      }
      const line = await warningLine(leader, 10_000);
      assert.ok(line, "the held leader logs the warning");
      const fields = JSON.parse(line.slice(line.indexOf("{")));
      assert.equal(fields.level, "warn");
      assert.equal(fields["heartbeat-interval"], "100ms");
      assert.equal(fields["expected-duration"], "200ms");
      assert.match(fields["exceeded-duration"], /^\d+(\.\d+)?m?s$/);
      const own = (await leader.stderrText()).split("\n")
        .filter((l) => l.includes('"leader changed"'))
        .map((l) => JSON.parse(l.slice(l.indexOf("{"))).leader).pop();
      assert.ok(own, "the leader logged its own id when it became leader");
      assert.match(fields.to, /^[0-9a-f]+$/, "names the follower by its hex id");
      assert.notEqual(fields.to, own, "a follower, not the leader itself");
      assert.ok(await heartbeatFailures(leader) > before, "counted as a heartbeat send failure");
      for (const m of members) {
        if (m !== leader) {
          assert.equal(await warningLine(m, 0), undefined, "followers send no heartbeats");
        }
      }
    } finally {
      await destroyAll(members);
    }
  },
});
