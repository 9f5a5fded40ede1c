/**
 * `--wal-dir` on real processes: the WAL lives in the dedicated directory
 * (and nowhere under the data dir), a member killed with SIGKILL recovers
 * every acknowledged write from it, and a data directory whose WAL is
 * elsewhere is refused rather than started anew beside its snapshots.
 *
 * `CAIRN_CMD=etcd` runs the parts etcd shares (etcd itself starts a new
 * member when the WAL directory is empty, so the refusals are cairn's own).
 */
import assert from "node:assert/strict";
import { GrpcClient, prefixEnd, text } from "./harness/grpc.ts";
import { Member } from "./harness/member.ts";
import { cairnIsEtcd, skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("wal_dir_test.ts");

const KEYS = 200;

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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Writes KEYS keys under `prefix`, 20 at a time; every one is acknowledged. */
async function writeKeys(m: Member, prefix: string): Promise<void> {
  const client = new GrpcClient(m.clientUrl);
  try {
    for (let i = 0; i < KEYS; i += 20) {
      const batch = [];
      for (let j = i; j < i + 20; j++) batch.push(client.put(`${prefix}${j}`, `v${j}`));
      await Promise.all(batch);
    }
  } finally {
    await client.close();
  }
}

async function readKeys(m: Member, prefix: string): Promise<Map<string, string>> {
  const client = new GrpcClient(m.clientUrl);
  try {
    const res = await client.range(prefix, prefixEnd(prefix));
    return new Map(res.kvs.map((kv) => [text(kv.key), text(kv.value)]));
  } finally {
    client.destroy();
  }
}

function assertAll(got: Map<string, string>, prefix: string, context: string): void {
  assert.equal(got.size, KEYS, `${context}: ${got.size} of ${KEYS} keys`);
  for (let i = 0; i < KEYS; i++) assert.equal(got.get(`${prefix}${i}`), `v${i}`, context);
}

Deno.test({
  name: "wal-dir: the WAL is in the dedicated directory and SIGKILL loses no acknowledged write",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const m = await Member.create({ kind: "cairn" });
    const walDir = `${m.dir}/fast-disk/wal`;
    m.options.extraArgs = [`--wal-dir=${walDir}`, "--snapshot-count=150"];
    try {
      m.launch();
      await m.waitHealthy();
      await writeKeys(m, "a/");
      // Snapshots are written off the Raft loop: the kill must not race the
      // file that --snapshot-count=150 asked for.
      const snapDeadline = Date.now() + 30_000;
      while ((await filesIn(`${m.dataDir}/member/snap`, ".snap")).length === 0) {
        if (Date.now() > snapDeadline) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await m.kill();

      const wals = await filesIn(walDir, ".wal");
      assert.ok(wals.length >= 1, `WAL segments in --wal-dir: ${wals}`);
      assert.equal(
        await exists(`${m.dataDir}/member/wal`),
        false,
        "no WAL directory under the data dir",
      );
      assert.ok((await filesIn(`${m.dataDir}/member/snap`, ".snap")).length >= 1, "snapshots stay");
      // The WAL really holds the data: the last value written is in its bytes.
      const needle = new TextEncoder().encode(`a/${KEYS - 1}`);
      let found = false;
      for (const name of wals) {
        const bytes = await Deno.readFile(`${walDir}/${name}`);
        if (indexOf(bytes, needle) >= 0) found = true;
      }
      assert.ok(found, "the last key is in a segment of --wal-dir");

      m.launch();
      await m.waitHealthy();
      assertAll(await readKeys(m, "a/"), "a/", "after SIGKILL and restart with --wal-dir");
      await writeKeys(m, "b/");
      await m.restart(true);
      assertAll(await readKeys(m, "a/"), "a/", "after a second restart");
      assertAll(await readKeys(m, "b/"), "b/", "after a second restart");
    } finally {
      await m.destroy();
    }
  },
});

Deno.test({
  name: "wal-dir: a data dir whose WAL is elsewhere is refused, not started anew",
  ignore: skip || cairnIsEtcd(),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const m = await Member.create({ kind: "cairn" });
    const walDir = `${m.dir}/wal-elsewhere`;
    m.options.extraArgs = [`--wal-dir=${walDir}`, "--snapshot-count=50"];
    try {
      m.launch();
      await m.waitHealthy();
      await writeKeys(m, "a/");
      await m.stop();

      // Started without --wal-dir: the snapshots are there, the WAL is not.
      m.options.extraArgs = ["--snapshot-count=50"];
      m.launch();
      const status = await m.waitExit(30_000);
      assert.equal(status?.code, 1, "refused with exit code 1");
      assert.match(await m.stderrText(), /holds snapshots but the WAL directory .* holds no WAL/);
      assert.equal(await exists(`${m.dataDir}/member/wal`), false, "nothing was created");

      // Started with the right --wal-dir again, everything is there.
      m.options.extraArgs = [`--wal-dir=${walDir}`, "--snapshot-count=50"];
      m.launch();
      await m.waitHealthy();
      assertAll(await readKeys(m, "a/"), "a/", "with the right --wal-dir");
      await m.stop();

      // A WAL in member/wal and an empty --wal-dir: refused as well.
      const other = await Member.create({ kind: "cairn" });
      try {
        other.launch();
        await other.waitHealthy();
        await writeKeys(other, "c/");
        await other.stop();
        other.options.extraArgs = [`--wal-dir=${other.dir}/new-wal`];
        other.launch();
        assert.equal((await other.waitExit(30_000))?.code, 1);
        assert.match(await other.stderrText(), /--wal-dir .* holds no WAL but .*member\/wal does/);
        other.options.extraArgs = [];
        other.launch();
        await other.waitHealthy();
        assertAll(await readKeys(other, "c/"), "c/", "back without --wal-dir");
      } finally {
        await other.destroy();
      }
    } finally {
      await m.destroy();
    }
  },
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
