/**
 * `--max-snapshots` / `--max-wals` on a real process: with a small
 * `--snapshot-count`, snapshot files and WAL segments pile up, and within
 * one purge interval (30 s, etcd's) their numbers come down to the limits;
 * the member still recovers everything after a SIGKILL.
 *
 * A WAL segment is 64 MiB (etcd's size, which has no flag), so the test
 * writes about 70 MiB of values to one key to get a second segment, then
 * compacts them away so that snapshots stay small.
 *
 * `CAIRN_CMD=etcd` runs the same scenario against etcd itself.
 */
import assert from "node:assert/strict";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { GrpcClient, prefixEnd, text } from "./harness/grpc.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("purge_test.ts");

const MAX_SNAPSHOTS = 2;
const MAX_WALS = 1;
const SNAPSHOT_COUNT = 1000;
const SMALL_KEYS = 5000;

async function filesIn(dir: string, suffix: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(suffix)) out.push(e.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort();
}

Deno.test({
  name: "purge: snapshot files and WAL segments come down to --max-snapshots / --max-wals",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const m = await Member.create({
      kind: "cairn",
      extraArgs: [
        `--snapshot-count=${SNAPSHOT_COUNT}`,
        `--max-snapshots=${MAX_SNAPSHOTS}`,
        `--max-wals=${MAX_WALS}`,
      ],
    });
    const walDir = `${m.dataDir}/member/wal`;
    const snapDir = `${m.dataDir}/member/snap`;
    // Every snapshot file name seen, to show more were made than are kept.
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const n of await filesIn(snapDir, ".snap")) seen.add(n);
        await sleep(50);
      }
    })();
    try {
      m.launch();
      await m.waitHealthy();
      const client = new GrpcClient(m.clientUrl);
      try {
        // About 70 MiB into the WAL: a second 64 MiB segment.
        const big = "x".repeat(1024 * 1024);
        let rev = 0n;
        for (let i = 0; i < 70; i++) {
          rev = (await client.put("big", `${i}${big}`)).header!.revision;
        }
        const segments = await filesIn(walDir, ".wal");
        assert.ok(segments.length >= 2, `WAL segments after 70 MiB: ${segments}`);
        // Old values gone, snapshots stay small.
        await etcdctlOk(m.endpoint, ["compact", String(rev)]);

        for (let i = 0; i < SMALL_KEYS; i += 100) {
          const batch = [];
          for (let j = i; j < i + 100; j++) batch.push(client.put(`k/${j}`, `v${j}`));
          await Promise.all(batch);
        }
      } finally {
        await client.close();
      }

      // Purges run every 30 s: within one interval (and some slack) the
      // counts are at the limits.
      const deadline = Date.now() + 45_000;
      let snaps: string[] = [];
      let wals: string[] = [];
      while (Date.now() < deadline) {
        snaps = await filesIn(snapDir, ".snap");
        wals = await filesIn(walDir, ".wal");
        if (snaps.length <= MAX_SNAPSHOTS && wals.length <= MAX_WALS) break;
        await sleep(250);
      }
      watching = false;
      await watcher;
      assert.ok(
        seen.size > MAX_SNAPSHOTS,
        `more snapshots were made (${seen.size}) than are kept`,
      );
      assert.ok(snaps.length <= MAX_SNAPSHOTS, `snapshot files: ${snaps}`);
      assert.ok(snaps.length >= 1, "the newest snapshot is kept");
      assert.deepEqual(snaps, [...seen].sort().slice(-snaps.length), "the newest ones are kept");
      assert.equal(wals.length, MAX_WALS, `WAL segments: ${wals}`);

      // What is left is enough to recover everything.
      await m.restart(true);
      const check = new GrpcClient(m.clientUrl);
      try {
        const res = await check.range("k/", prefixEnd("k/"));
        assert.equal(res.kvs.length, SMALL_KEYS);
        const big = await check.range("big");
        assert.equal(text(big.kvs[0].value).slice(0, 2), "69");
      } finally {
        check.destroy();
      }
    } finally {
      watching = false;
      await watcher;
      await m.destroy();
    }
  },
});
