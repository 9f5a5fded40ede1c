/**
 * etcd's health endpoints on members that are not healthy: a member that
 * lost its quorum (no leader), one with the NOSPACE alarm, and a learner.
 * /health is checked beside etcd 3.4.23 (status codes; its body has no
 * reason and it has no ?serializable); /livez and /readyz, which it
 * lacks, against etcd 3.5's
 * health.go: `[+]name ok` / `[-]name failed: reason` lines, 503 on failure.
 */
import assert from "node:assert/strict";
import { destroyAll, startCluster } from "./harness/cluster.ts";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { Member, type MemberKind, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("health_test.ts");
const FAST = ["--heartbeat-interval=50", "--election-timeout=500"];

async function get(m: Member, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${m.clientUrl}${path}`, { signal: AbortSignal.timeout(20_000) });
  return { status: res.status, body: await res.text() };
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name:
      `health (${kind}): a member without quorum has no leader and fails only linearizable checks`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const members = await startCluster(3, FAST, kind);
      try {
        const [survivor, ...others] = members;
        for (const m of others) await m.kill();
        await until("the survivor to lose its leader", async () => {
          return (await get(survivor, "/health")).status === 503;
        });
        const h = await get(survivor, "/health");
        if (kind === "cairn") {
          assert.deepEqual(JSON.parse(h.body), { health: "false", reason: "RAFT NO LEADER" });
        } else assert.equal(JSON.parse(h.body).health, "false");
        if (kind === "etcd") return; // etcd 3.4.23 has no ?serializable, /livez or /readyz
        // A local read still works: the process is alive.
        const local = await get(survivor, "/health?serializable=true");
        assert.equal(local.status, 200, local.body);
        assert.equal(JSON.parse(local.body).health, "true");

        assert.deepEqual(await get(survivor, "/livez"), { status: 200, body: "ok\n" });
        const ready = await get(survivor, "/readyz");
        assert.equal(ready.status, 503);
        assert.match(ready.body, /^\[-\]linearizable_read failed: etcdserver: request timed out$/m);
        for (const ok of ["data_corruption", "serializable_read", "non_learner"]) {
          assert.match(ready.body, new RegExp(`^\\[\\+\\]${ok} ok$`, "m"));
        }
        const excluded = await get(survivor, "/readyz?exclude=linearizable_read&verbose");
        assert.equal(excluded.status, 200);
        assert.doesNotMatch(excluded.body, /linearizable_read/);
        assert.match(excluded.body, /\[\+\]non_learner ok\nok\n$/);
        assert.equal((await get(survivor, "/readyz/linearizable_read")).status, 503);
        assert.equal((await get(survivor, "/readyz/serializable_read")).status, 200);
      } finally {
        await destroyAll(members);
      }
    },
  });

  Deno.test({
    name: `health (${kind}): the NOSPACE alarm fails /health unless excluded`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const m = await Member.start({ kind, extraArgs: ["--quota-backend-bytes=200000"] });
      try {
        const value = "v".repeat(20_000);
        let full = false;
        for (let i = 0; i < 200 && !full; i++) {
          const r = await etcdctl(m.endpoint, ["put", `big/${i}`, value]);
          full = r.code !== 0 && /database space exceeded/.test(r.stderr);
        }
        assert.ok(full, "the quota was reached");
        await until("the alarm", async () => (await get(m, "/health")).status === 503);
        const h = await get(m, "/health");
        if (kind === "cairn") {
          assert.deepEqual(JSON.parse(h.body), { health: "false", reason: "ALARM NOSPACE" });
        }
        const excluded = await get(m, "/health?exclude=NOSPACE");
        assert.equal(excluded.status, 200, excluded.body);
        if (kind === "cairn") {
          // data_corruption watches the CORRUPT alarm only.
          assert.equal((await get(m, "/readyz")).status, 200);
          const metrics = await (await fetch(`${m.clientUrl}/metrics`)).text();
          assert.match(metrics, /^etcd_server_health_failures [1-9]/m);
        }
      } finally {
        await m.destroy();
      }
    },
  });
}

Deno.test({
  name: "health (cairn): a learner is healthy and live but not ready (non_learner)",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const first = await Member.start({ kind: "cairn", name: "m1" });
    const token = `it-${first.clientPort}`;
    first.options.cluster = { initialCluster: `m1=${first.peerUrl}`, token };
    const learner = await Member.create({ kind: "cairn", name: "m2" });
    try {
      await etcdctlOk(first.endpoint, [
        "member",
        "add",
        "m2",
        `--peer-urls=${learner.peerUrl}`,
        "--learner",
      ]);
      learner.options.cluster = {
        initialCluster: `m1=${first.peerUrl},m2=${learner.peerUrl}`,
        token,
        state: "existing",
      };
      learner.launch();
      await learner.waitHealthy(30_000);
      assert.equal((await get(learner, "/health")).status, 200);
      assert.deepEqual(await get(learner, "/livez"), { status: 200, body: "ok\n" });
      const ready = await get(learner, "/readyz");
      assert.equal(ready.status, 503);
      assert.match(ready.body, /^\[-\]non_learner failed: not supported for learner$/m);
      assert.equal((await get(learner, "/readyz/non_learner")).status, 503);
      assert.equal((await get(learner, "/readyz?exclude=non_learner")).status, 200);
      assert.equal((await get(first, "/readyz")).status, 200);
    } finally {
      await learner.destroy();
      await first.destroy();
    }
  },
});
