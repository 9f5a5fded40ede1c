/**
 * Membership changes on a running cluster, as an operator does them with
 * etcdctl: add a learner, start it with --initial-cluster-state existing,
 * let it catch up (from a snapshot when it is far behind), promote it, and
 * remove the leader itself.
 */
import assert from "node:assert/strict";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { putMany } from "./harness/kv_fill.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("membership_test.ts");

interface ListedMember {
  ID: number | string;
  name?: string;
  peerURLs: string[];
  isLearner?: boolean;
}

async function memberList(endpoint: string): Promise<ListedMember[]> {
  const out = await etcdctlOk(endpoint, ["member", "list", "-w", "json"]);
  return (JSON.parse(out).members ?? []) as ListedMember[];
}

/** Hex id of the member whose peer URL is `peerUrl`, from `member list -w json` (decimal ids). */
async function idOf(endpoint: string, peerUrl: string): Promise<string> {
  const out = await etcdctlOk(endpoint, ["member", "list", "-w", "json"]);
  // Decimal uint64 ids lose precision in JSON.parse: read them as text.
  const ids = [...out.matchAll(/"ID":(\d+)(?:,"name":"[^"]*")?,"peerURLs":\["([^"]+)"/g)];
  const found = ids.find((m) => m[2] === peerUrl);
  if (!found) throw new Error(`no member with peer URL ${peerUrl} in ${out}`);
  return BigInt(found[1]).toString(16);
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

Deno.test({
  name:
    "membership: learner joins far behind (snapshot), is promoted, then the leader removes itself",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A small snapshot count so that 6,000 writes put the log start past
    // what the learner has (5,000 entries are kept behind a snapshot).
    const first = await Member.start({
      kind: "cairn",
      name: "m1",
      extraArgs: ["--snapshot-count=500"],
    });
    const token = `it-${first.clientPort}`;
    first.options.cluster = { initialCluster: `m1=${first.peerUrl}`, token };
    const joiner = await Member.create({
      kind: "cairn",
      name: "m2",
      extraArgs: ["--snapshot-count=500"],
    });
    try {
      await putMany(first, "before/", 6000);

      // Promotion of a learner that is not there yet is refused.
      const added = await etcdctlOk(first.endpoint, [
        "member",
        "add",
        "m2",
        `--peer-urls=${joiner.peerUrl}`,
        "--learner",
      ]);
      assert.match(added, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
      const learnerId = await idOf(first.endpoint, joiner.peerUrl);
      const early = await etcdctl(first.endpoint, ["member", "promote", learnerId]);
      assert.notEqual(early.code, 0);
      assert.match(early.stderr, /can only promote a learner member which is in sync with leader/);

      joiner.options.cluster = {
        initialCluster: `m1=${first.peerUrl},m2=${joiner.peerUrl}`,
        token,
        state: "existing",
      };
      joiner.launch();
      await joiner.waitHealthy(30_000);
      // Caught up: a serializable (local) read on the learner sees the last write.
      await waitFor("the learner to catch up", async () => {
        const res = await etcdctl(joiner.endpoint, [
          "get",
          "before/5999",
          "--print-value-only",
          "--consistency=s",
        ]);
        return res.stdout.trim() === "v5999" ? true : undefined;
      });
      // It got there through a snapshot: the leader's log no longer reached back far enough.
      const snaps = [...Deno.readDirSync(`${joiner.dataDir}/member/snap`)].filter((e) =>
        e.name.endsWith(".snap")
      );
      assert.ok(snaps.length > 0, "the learner saved the snapshot it received");

      // A learner serves serializable reads only, as etcd's do.
      const refused = await etcdctl(joiner.endpoint, ["put", "on-learner", "x"]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /rpc not supported for learner/);

      await waitFor("promotion", async () => {
        const res = await etcdctl(first.endpoint, ["member", "promote", learnerId]);
        return res.code === 0 ? true : undefined;
      });
      const members = await memberList(first.endpoint);
      assert.equal(members.length, 2);
      assert.ok(members.every((m) => !m.isLearner), JSON.stringify(members));
      await etcdctlOk(joiner.endpoint, ["put", "after-promote", "ok"]);
      assert.equal(
        (await etcdctlOk(first.endpoint, ["get", "after-promote", "--print-value-only"])).trim(),
        "ok",
      );

      // Remove the leader (m1) itself: m2 carries on alone and m1 stops.
      const leaderId = await idOf(joiner.endpoint, first.peerUrl);
      await etcdctlOk(joiner.endpoint, ["member", "remove", leaderId]);
      const status = await first.waitExit(15_000);
      assert.equal(status?.code, 0, "a removed member exits cleanly");
      await waitFor("m2 to lead alone", async () => {
        const res = await etcdctl(joiner.endpoint, ["put", "after-remove", "ok"]);
        return res.code === 0 ? true : undefined;
      });
      const rest = await memberList(joiner.endpoint);
      assert.equal(rest.length, 1);
      assert.equal(rest[0].name, "m2");
    } finally {
      await Promise.all([first.destroy(), joiner.destroy()]);
    }
  },
});
