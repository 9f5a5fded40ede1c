import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DATA_FORMAT_VERSION,
  DataDirVersionError,
  openDataDir,
  WalDirMismatchError,
} from "./data_dir.ts";
import { SnapshotStore } from "./snapshot.ts";
import { Wal } from "./wal.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-dd-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a new data dir is laid out like etcd's, private, with a version file", async () => {
  await withDir(async (root) => {
    const dd = await openDataDir(join(root, "node1.cairn"));
    assert.equal(dd.exists, false);
    assert.equal(dd.walDir, join(root, "node1.cairn", "member", "wal"));
    assert.equal(dd.snapDir, join(root, "node1.cairn", "member", "snap"));
    for (const d of [dd.dataDir, dd.memberDir, dd.walDir, dd.snapDir]) {
      assert.equal((await Deno.stat(d)).mode! & 0o777, 0o700, d);
    }
    assert.equal((await Deno.readTextFile(dd.versionFile)).trim(), DATA_FORMAT_VERSION);

    const again = await openDataDir(dd.dataDir);
    assert.equal(again.exists, false, "no WAL yet");
    const wal = await Wal.create(dd.walDir, {
      clusterId: 1n,
      memberId: 2n,
      extra: new Uint8Array(),
    });
    await wal.close();
    assert.equal((await openDataDir(dd.dataDir)).exists, true);
  });
});

Deno.test("an unknown data format version is refused naming the file", async () => {
  await withDir(async (root) => {
    const dd = await openDataDir(root);
    await Deno.writeTextFile(dd.versionFile, "cairn-data-v9\n");
    await assert.rejects(
      () => openDataDir(root),
      (e: unknown) =>
        e instanceof DataDirVersionError && e.path === dd.versionFile &&
        e.message.includes(dd.versionFile) && e.message.includes("cairn-data-v9"),
    );
  });
});

Deno.test("a member dir with data but no version file (an etcd dir) is refused", async () => {
  await withDir(async (root) => {
    await Deno.mkdir(join(root, "member", "snap"), { recursive: true });
    await Deno.writeFile(join(root, "member", "snap", "db"), new Uint8Array([1]));
    await assert.rejects(() => openDataDir(root), /not a cairn data directory/);
  });
});

const META = { clusterId: 1n, memberId: 2n, extra: new Uint8Array() };

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("--wal-dir: the WAL lives in the dedicated directory, member/ has no wal/", async () => {
  await withDir(async (root) => {
    const data = join(root, "data");
    const walDir = join(root, "fast", "wal");
    const dd = await openDataDir(data, { walDir });
    assert.equal(dd.walDir, walDir);
    assert.equal(dd.exists, false);
    assert.equal((await Deno.stat(walDir)).mode! & 0o777, 0o700);
    assert.deepEqual(await names(dd.memberDir), ["snap", "version"]);
    const wal = await Wal.create(dd.walDir, META);
    await wal.close();
    assert.equal((await openDataDir(data, { walDir })).exists, true);
    assert.equal((await names(walDir)).filter((n) => n.endsWith(".wal")).length, 1);
    // A relative --wal-dir means the same directory.
    const rel = join(root, "fast", "..", "fast", "wal");
    assert.equal((await openDataDir(data, { walDir: rel })).walDir, walDir);
  });
});

Deno.test("--wal-dir: an empty wal dir beside a WAL in member/wal is refused", async () => {
  await withDir(async (root) => {
    const dd = await openDataDir(root);
    await (await Wal.create(dd.walDir, META)).close();
    const elsewhere = join(root, "elsewhere");
    await assert.rejects(
      () => openDataDir(root, { walDir: elsewhere }),
      (e: unknown) =>
        e instanceof WalDirMismatchError && e.walDir === elsewhere &&
        e.message.includes(dd.walDir) && e.message.includes("holds no WAL"),
    );
  });
});

Deno.test("a WAL dir without a WAL beside snapshot files is refused", async () => {
  await withDir(async (root) => {
    const walDir = join(root, "w");
    const dd = await openDataDir(join(root, "d"), { walDir });
    await (await Wal.create(dd.walDir, META)).close();
    await new SnapshotStore(dd.snapDir).save(
      { term: 1, index: 5, confState: { voters: [2n], learners: [] } },
      new Uint8Array([1]),
    );
    // Restarted without --wal-dir: member/wal is empty, the snapshots are not.
    await assert.rejects(
      () => openDataDir(join(root, "d")),
      (e: unknown) =>
        e instanceof WalDirMismatchError && e.message.includes(dd.snapDir) &&
        e.message.includes("--wal-dir"),
    );
    assert.deepEqual(await names(dd.memberDir), ["snap", "version"], "nothing was created");
    assert.equal((await openDataDir(join(root, "d"), { walDir })).exists, true);
  });
});

Deno.test("a crash while the version file was being written does not block the next start", async () => {
  // Found by the member simulation: member/version.tmp alone made the
  // directory look like someone else's data, and the member never started.
  await withDir(async (root) => {
    const memberDir = join(root, "d", "member");
    await Deno.mkdir(join(memberDir, "wal"), { recursive: true });
    await Deno.mkdir(join(memberDir, "snap"));
    await Deno.writeTextFile(join(memberDir, "version.tmp"), "cairn-da");
    const dd = await openDataDir(join(root, "d"));
    assert.equal(dd.exists, false);
    assert.equal((await Deno.readTextFile(dd.versionFile)).trim(), DATA_FORMAT_VERSION);
    // Anything else unexpected still makes it someone else's directory.
    await withDir(async (other) => {
      await Deno.mkdir(join(other, "member"), { recursive: true });
      await Deno.writeTextFile(join(other, "member", "db"), "x");
      await assert.rejects(() => openDataDir(other), DataDirVersionError);
    });
  });
});
