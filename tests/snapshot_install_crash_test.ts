/**
 * SIGKILL in the middle of a snapshot's way to a follower that fell behind.
 * Killed while it writes the snapshot to disk, the follower must never take
 * the half-written file for a snapshot, and the leader, which saw the
 * transfer succeed, must notice that it is still behind and send it again.
 * With the leader killed while it streams the snapshot, the follower must
 * drop what it received, and the next leader must send its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { startWithLaggingFollower, waitForLeader } from "./harness/cluster.ts";
import { type Member, sleep } from "./harness/member.ts";
import { putMany, serializableGet, waitUntil } from "./harness/kv_fill.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("snapshot_install_crash_test.ts");

/** Keys written while the follower is down, and their size: a ~40 MB snapshot, written for >50 ms. */
const KEYS = 20_000;
const VALUE = "x".repeat(2_000);

/** Waits until every member hashes the same history at the revision `via` reports. */
async function sameHistoryEverywhere(members: Member[], via: Member): Promise<void> {
  const rev = JSON.parse(
    await etcdctlOk(via.endpoint, ["get", "big/0", "-w", "json"]),
  ).header.revision;
  let hashes: string[] = [];
  await waitUntil("equal hashes on every member", async () => {
    hashes = await Promise.all(members.map(async (m) => {
      const out = await etcdctlOk(m.endpoint, ["endpoint", "hashkv", `--rev=${rev}`, "-w", "json"]);
      return String((JSON.parse(out) as { HashKV: { hash: number } }[])[0].HashKV.hash);
    }));
    return new Set(hashes).size === 1;
  }, 15_000).catch((err) => {
    throw new Error(`${err.message}: ${hashes.join(" ")}`);
  });
}

/** Names of the files in `m`'s snapshot directory ending in `suffix`. */
async function snapFiles(m: Member, suffix: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(m.dataDir, "member", "snap"))) {
      if (e.isFile && e.name.endsWith(suffix)) names.push(e.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names;
}

/**
 * Polls `m`'s snapshot directory every millisecond until a `.snap.tmp`
 * appears, then SIGKILLs `m` at once; returns the file's name. Throws if
 * none appears within `timeoutMs` or `m` exits first.
 */
async function killWhileWritingSnapshot(m: Member, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!m.running) throw new Error(`${m.name} exited before writing a snapshot`);
    const tmp = await snapFiles(m, ".snap.tmp");
    if (tmp.length > 0) {
      await m.kill();
      return tmp[0];
    }
    await sleep(1);
  }
  throw new Error(`${m.name} wrote no snapshot within ${timeoutMs} ms\n${await m.stderrTail()}`);
}

Deno.test({
  name:
    "snapshot install crash: a follower killed while writing the leader's snapshot gets it again and converges",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The leader keeps 5,000 entries behind its newest snapshot: KEYS is far more.
    const { members, leader, lagging } = await startWithLaggingFollower(["--snapshot-count=500"]);
    try {
      await putMany(leader, "big/", KEYS, VALUE);

      const firstRunLog = (await lagging.stderrText()).length;
      lagging.launch();
      const partial = await killWhileWritingSnapshot(lagging, 60_000);
      const killedRun = (await lagging.stderrText()).slice(firstRunLog);
      // The kill landed after the transfer and before the install finished.
      assert.match(killedRun, /received database snapshot/, killedRun);
      assert.doesNotMatch(killedRun, /installed snapshot from the leader/, killedRun);
      assert.deepEqual(await snapFiles(lagging, ".snap"), [], "no complete snapshot file yet");

      const secondRunLog = (await lagging.stderrText()).length;
      lagging.launch();
      await lagging.waitHealthy(60_000);
      await waitUntil(
        `${lagging.name} holds the last key`,
        async () => (await serializableGet(lagging, `big/${KEYS - 1}`)) === VALUE,
        60_000,
      );
      const restartedRun = (await lagging.stderrText()).slice(secondRunLog);
      assert.match(restartedRun, /installed snapshot from the leader/, restartedRun);
      // The half-written file is gone, and a complete one stands in its place.
      assert.ok(!(await snapFiles(lagging, ".snap.tmp")).includes(partial), partial);
      assert.equal((await snapFiles(lagging, ".snap")).length >= 1, true);

      // Every member holds the same history at the leader's revision.
      await sameHistoryEverywhere(members, leader);
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});

Deno.test({
  name:
    "snapshot install crash: with the leader killed while it streams a snapshot, the next leader sends its own",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { members, leader, lagging } = await startWithLaggingFollower(["--snapshot-count=500"]);
    try {
      // Fewer, larger values: a ~60 MB snapshot, streamed for longer than the kill takes.
      const value = "y".repeat(6_000);
      const keys = 10_000;
      await putMany(leader, "big/", keys, value);

      const laggingFrom = (await lagging.stderrText()).length;
      lagging.launch();
      const deadline = Date.now() + 60_000;
      while (!/receiving database snapshot/.test((await lagging.stderrText()).slice(laggingFrom))) {
        if (Date.now() > deadline) {
          throw new Error(`${lagging.name} was sent no snapshot\n${await lagging.stderrTail()}`);
        }
        await sleep(1);
      }
      await leader.kill();

      const rest = members.filter((m) => m !== leader);
      await waitForLeader(rest, 30_000);
      await waitUntil(
        `${lagging.name} holds the last key`,
        async () => (await serializableGet(lagging, `big/${keys - 1}`)) === value,
        60_000,
      );
      const log = (await lagging.stderrText()).slice(laggingFrom);
      // The interrupted transfer was dropped; the one installed came after it.
      const failed = log.search(/receiving snapshot failed/);
      const installed = log.search(/installed snapshot from the leader/);
      assert.ok(failed >= 0, `no interrupted transfer in ${lagging.name}'s log:\n${log}`);
      assert.ok(installed > failed, `${lagging.name} installed nothing after it:\n${log}`);

      leader.launch();
      await leader.waitHealthy(60_000);
      await sameHistoryEverywhere(members, rest[0]);
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});
