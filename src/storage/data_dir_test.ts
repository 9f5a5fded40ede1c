import assert from "node:assert/strict";
import { join } from "node:path";
import { DATA_FORMAT_VERSION, DataDirVersionError, openDataDir } from "./data_dir.ts";
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
