import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import { MvccStore } from "../mvcc/store.ts";
import { putReq } from "../mvcc/test_helpers.ts";
import { etcdDatabase, snapshotChunks } from "../snapshot/export.ts";
import { SnapshotStore } from "../storage/snapshot.ts";
import { Wal } from "../storage/wal.ts";
import { readBootstrapMetadata } from "../server/bootstrap.ts";
import { type CliIo, formatStatus, humanizeBytes, snapshotCommand } from "./snapshot.ts";

function captureIo(errIsTerminal: boolean) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), errIsTerminal };
  return { io, out, err };
}

/** A snapshot file of `keys` puts, as etcdctl would save it from cairn. */
async function snapshotFile(dir: string, keys: number): Promise<string> {
  const st = new MvccStore();
  for (let i = 0; i < keys; i++) st.put(putReq(`k${i}`, `v${i}`));
  const rest = new Uint8Array(0);
  const db = await etcdDatabase(st.pointInTime(), rest, 1n);
  const parts = [...snapshotChunks(db)].map((m) => m.blob);
  const path = `${dir}/snap.db`;
  const file = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    file.set(p, off);
    off += p.length;
  }
  await Deno.writeFile(path, file);
  return path;
}

Deno.test("snapshot cli: sizes print as Go's humanize.Bytes", () => {
  assert.equal(humanizeBytes(0), "0 B");
  assert.equal(humanizeBytes(9), "9 B");
  assert.equal(humanizeBytes(45056), "45 kB");
  assert.equal(humanizeBytes(8192), "8.2 kB");
  assert.equal(humanizeBytes(20_480_000), "20 MB");
  assert.equal(humanizeBytes(21_480_000), "22 MB");
  assert.equal(humanizeBytes(1_500_000_000), "1.5 GB");
});

Deno.test("snapshot cli: status formats are etcdctl's", () => {
  const s = { hash: 0xe7ee6ed1, revision: 6, totalKey: 14, totalSize: 45056 };
  assert.equal(formatStatus(s, "simple"), "e7ee6ed1, 6, 14, 45 kB\n");
  assert.equal(
    formatStatus(s, "json"),
    '{"hash":3891162833,"revision":6,"totalKey":14,"totalSize":45056}\n',
  );
  assert.equal(
    formatStatus(s, "table"),
    [
      "+----------+----------+------------+------------+",
      "|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |",
      "+----------+----------+------------+------------+",
      "| e7ee6ed1 |        6 |         14 |      45 kB |",
      "+----------+----------+------------+------------+",
      "",
    ].join("\n"),
  );
});

Deno.test("snapshot cli: wrong arguments exit 128, unknown formats 4, unknown flags 1", async () => {
  let c = captureIo(false);
  assert.equal(await snapshotCommand(["status"], c.io), 128);
  assert.equal(c.err.join(""), "Error: snapshot status requires exactly one argument\n");
  c = captureIo(false);
  assert.equal(await snapshotCommand(["restore", "a", "b"], c.io), 128);
  c = captureIo(false);
  assert.equal(await snapshotCommand(["status", "x.db", "-w", "protobuf"], c.io), 4);
  assert.equal(c.err.join(""), "Error: protobuf not supported as output format\n");
  c = captureIo(false);
  assert.equal(await snapshotCommand(["status", "x.db", "--bogus"], c.io), 1);
  assert.match(c.err.join(""), /^Error: unknown flag: --bogus\n/);
  c = captureIo(false);
  assert.equal(await snapshotCommand(["status", "/nonexistent/x.db"], c.io), 1);
  assert.equal(c.err.join(""), "Error: stat /nonexistent/x.db: no such file or directory\n");
});

Deno.test("snapshot cli: restore writes a data dir (snapshot at index N, term 1, WAL with the new members), progress only on a terminal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cairn-cli-snap-" });
  try {
    const file = await snapshotFile(dir, 30_000);
    const cluster = "a=http://127.0.0.1:1,b=http://127.0.0.1:2";
    const args = (d: string, name: string, url: string) => [
      "restore",
      file,
      `--data-dir=${dir}/${d}`,
      `--name=${name}`,
      `--initial-cluster=${cluster}`,
      `--initial-advertise-peer-urls=${url}`,
    ];
    const tty = captureIo(true);
    assert.equal(
      await snapshotCommand(args("a", "a", "http://127.0.0.1:1"), tty.io),
      0,
      tty.err.join(""),
    );
    // Each step rewrites the terminal line: carriage return, erase line (ESC [2K), text.
    assert.ok(tty.err.join("").includes("\r\u001b[2Krestoring snapshot: reading revisions: 30000"));
    const pipe = captureIo(false);
    assert.equal(await snapshotCommand(args("b", "b", "http://127.0.0.1:2"), pipe.io), 0);
    assert.ok(!pipe.err.join("").includes("\r"), "no progress lines when stderr is not a terminal");

    const ids: bigint[] = [];
    for (const d of ["a", "b"]) {
      const snap = await new SnapshotStore(`${dir}/${d}/member/snap`).loadNewest();
      assert.ok(snap);
      assert.equal(snap.meta.index, 2);
      assert.equal(snap.meta.term, 1);
      const state = fromBinary(StateSnapshotSchema, snap.data);
      assert.deepEqual(state.members.map((m) => m.name).sort(), ["a", "b"]);
      assert.equal(MvccStore.restore(state.mvcc).currentRevision, 30_001);
      const { wal, replay } = await Wal.open(`${dir}/${d}/member/wal`);
      await wal.close();
      assert.deepEqual(replay.snapshot, { term: 1, index: 2 });
      assert.equal(replay.hardState.commit, 2);
      assert.deepEqual(readBootstrapMetadata(replay.metadata.extra).members, state.members);
      ids.push(replay.metadata.memberId);
      assert.deepEqual(snap.meta.confState.voters.sort(), state.members.map((m) => m.id).sort());
    }
    assert.notEqual(ids[0], ids[1]);
    // An existing data dir is refused, as etcd refuses it.
    const again = captureIo(false);
    assert.equal(await snapshotCommand(args("a", "a", "http://127.0.0.1:1"), again.io), 1);
    assert.equal(again.err.at(-1), `Error: data-dir "${dir}/a" exists\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
