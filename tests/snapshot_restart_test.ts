/**
 * A lone cairn member that took several snapshots (streamed to their
 * files, never whole in memory) restarts from the newest one plus its WAL
 * with exactly the data it had: every key's value, versions and
 * revisions, a value larger than the snapshot stream's chunk included.
 */

import assert from "node:assert/strict";
import { GrpcClient, text } from "./harness/grpc.ts";
import { Member } from "./harness/member.ts";
import { cairnIsEtcd, missingTools } from "./harness/tools.ts";

const skip = missingTools() ?? (cairnIsEtcd() ? "cairn's snapshot files" : undefined);

/** Every key with its value, create/mod revision and version. */
async function dump(m: Member): Promise<string[]> {
  const c = new GrpcClient(m.clientUrl);
  try {
    const res = await c.range("\0", "\0");
    return res.kvs.map((kv) =>
      `${text(kv.key)} ${kv.createRevision}/${kv.modRevision}/${kv.version} ` +
      `${kv.value.length}:${text(kv.value).slice(0, 40)}`
    );
  } finally {
    c.destroy();
  }
}

Deno.test({
  name: "a lone member restarts from its streamed snapshots with the same data",
  ignore: skip !== undefined,
  fn: async () => {
    const m = await Member.start({ kind: "cairn", extraArgs: ["--snapshot-count=40"] });
    try {
      const c = new GrpcClient(m.clientUrl);
      try {
        for (let i = 0; i < 200; i++) {
          await c.put(`k${i % 150}`, `v${i}-${"x".repeat(i * 13 % 500)}`);
        }
        // Larger than the 1 MiB chunk the snapshot stream writes through.
        await c.put("big", "B".repeat(1200 * 1024));
        for (let i = 0; i < 60; i++) await c.put(`after${i}`, `a${i}`);
      } finally {
        c.destroy();
      }
      const before = await dump(m);
      assert.equal(before.length, 150 + 1 + 60);
      const snaps = [...Deno.readDirSync(`${m.dataDir}/member/snap`)].filter((e) =>
        e.name.endsWith(".snap")
      );
      assert.ok(snaps.length > 0, "snapshots were taken");
      await m.restart();
      assert.deepEqual(await dump(m), before);
    } finally {
      await m.destroy();
    }
  },
});
