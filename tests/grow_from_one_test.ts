/**
 * Growing a cluster from one member, as operators build one with `member
 * add`. A lone member keeps no applied entries in memory, so its first
 * peer needs the whole state. It writes a snapshot file at once (not at
 * the next `--snapshot-count`), streams it to the peer from there, and
 * never holds a second copy of the state in memory for it (~290 MB at
 * 1,000,000 keys); the next member that needs the state is sent the same
 * kind of file. Members bootstrapped together write no such snapshot: their
 * log is whole.
 */
import assert from "node:assert/strict";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { putMany, serializableGet, waitUntil } from "./harness/kv_fill.ts";
import { startCluster } from "./harness/cluster.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("grow_from_one_test.ts");

function snapFiles(m: Member): string[] {
  try {
    return [...Deno.readDirSync(`${m.dataDir}/member/snap`)].map((e) => e.name)
      .filter((n) => n.endsWith(".snap"));
  } catch {
    return [];
  }
}

/** Adds `joiner` through `via` and starts it as a member of `members` plus itself. */
async function join(via: Member, members: Member[], joiner: Member): Promise<void> {
  await etcdctlOk(via.endpoint, ["member", "add", joiner.name, `--peer-urls=${joiner.peerUrl}`]);
  joiner.options.cluster = {
    initialCluster: [...members, joiner].map((m) => `${m.name}=${m.peerUrl}`).join(","),
    token: "grow-from-one",
    state: "existing",
  };
  joiner.launch();
  await joiner.waitHealthy(30_000);
}

Deno.test({
  name: "grow from one: a lone member that gains a peer sends it the state, writes it to a " +
    "snapshot file at once, and sends the next member that file",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const members: Member[] = [];
    try {
      // etcd's default --snapshot-count: no periodic snapshot in this test.
      const first = await Member.start({ kind: "cairn", name: "m1" });
      members.push(first);
      await putMany(first, "k/", 2000);
      assert.deepEqual(snapFiles(first), [], "a lone member below --snapshot-count has no file");

      const second = await Member.create({ kind: "cairn", name: "m2" });
      await join(first, [first], second);
      members.push(second);
      await waitUntil(
        "the first peer to catch up",
        async () => (await serializableGet(second, "k/1999")) === "v1999",
      );
      await waitUntil("the snapshot file", () => Promise.resolve(snapFiles(first).length > 0));
      const log = await first.stderrText();
      assert.match(log, /"msg":"saved snapshot"/);

      // The third member needs the state too (the log was trimmed while
      // m1 was alone): it is sent a snapshot as well.
      await putMany(first, "more/", 100);
      const third = await Member.create({ kind: "cairn", name: "m3" });
      await join(first, [first, second], third);
      members.push(third);
      await waitUntil(
        "the second joiner to catch up",
        async () =>
          (await serializableGet(third, "k/1999")) === "v1999" &&
          (await serializableGet(third, "more/99")) === "v99",
      );
      const sent = (await first.stderrText()).split("\n")
        .filter((l) => l.includes('"msg":"sent database snapshot"'));
      assert.equal(sent.length, 2, `one snapshot to each joiner:\n${sent.join("\n")}`);
      await etcdctlOk(third.endpoint, ["put", "from-m3", "3"]);
      await waitUntil(
        "a write through the newest member",
        async () => (await serializableGet(first, "from-m3")) === "3",
      );
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});

Deno.test({
  name: "grow from one: members bootstrapped together write no snapshot at start or restart",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A restart replays the initial configuration's entries one at a time:
    // the member whose own entry comes first is alone after it, for a
    // moment. Nothing was trimmed, so no peer needs a snapshot.
    const members = await startCluster(3);
    try {
      await etcdctlOk(members[0].endpoint, ["put", "k", "v"]);
      for (const m of members) {
        await waitUntil(
          `${m.name} applies the put`,
          async () => (await serializableGet(m, "k")) === "v",
        );
      }
      // Each in turn: the one whose own entry comes first is alone after it.
      for (const [i, m] of members.entries()) {
        await m.restart();
        await etcdctlOk(m.endpoint, ["put", "k", `after-${i}`]);
        await waitUntil(
          `${m.name} applies a put after its restart`,
          async () => (await serializableGet(m, "k")) === `after-${i}`,
        );
      }
      for (const m of members) {
        assert.doesNotMatch(await m.stderrText(), /triggering snapshot/, m.name);
        assert.deepEqual(snapFiles(m), [], m.name);
      }
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});
