import assert from "node:assert/strict";
import { join } from "node:path";
import { EntryType } from "../raft/types.ts";
import { FilePurger, type Purgeable } from "./purge.ts";
import { SnapshotStore } from "./snapshot.ts";
import { Wal } from "./wal.ts";

/** A purgeable list of names that records each call. */
class FakeFiles implements Purgeable {
  calls: number[] = [];
  constructor(public files: string[], private readonly failWith?: Error) {}
  purge(keep: number): Promise<string[]> {
    this.calls.push(keep);
    if (this.failWith) return Promise.reject(this.failWith);
    const n = Math.max(0, this.files.length - keep);
    const gone = this.files.slice(0, n);
    this.files = this.files.slice(n);
    return Promise.resolve(gone);
  }
}

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("a round purges each kind down to its limit and reports every file", async () => {
  const wal = new FakeFiles(["w1", "w2", "w3", "w4"]);
  const snaps = new FakeFiles(["s1", "s2", "s3"]);
  const purged: string[] = [];
  const p = new FilePurger({
    wal,
    snaps,
    maxWals: 1,
    maxSnapshots: 2,
    onPurged: (kind, path) => purged.push(`${kind}:${path}`),
    onError: (err) => assert.fail(err),
  });
  assert.deepEqual(await p.runOnce(), { wal: ["w1", "w2", "w3"], snap: ["s1"] });
  assert.deepEqual(purged, ["snap:s1", "wal:w1", "wal:w2", "wal:w3"]);
  assert.deepEqual([wal.files, snaps.files], [["w4"], ["s2", "s3"]]);
});

Deno.test("a limit of 0 keeps every file of that kind", async () => {
  const wal = new FakeFiles(["w1", "w2"]);
  const snaps = new FakeFiles(["s1", "s2"]);
  const p = new FilePurger({ wal, snaps, maxWals: 0, maxSnapshots: 1, onError: assert.fail });
  await p.runOnce();
  assert.deepEqual(wal.calls, [], "the WAL is not even asked");
  assert.deepEqual(wal.files, ["w1", "w2"]);
  assert.deepEqual(snaps.files, ["s2"]);
  const idle = new FilePurger({ wal, snaps, maxWals: 0, maxSnapshots: 0, onError: assert.fail });
  assert.equal(idle.active, false);
  idle.start(); // schedules nothing: the test's timer sanitizer would object
  await idle.stop();
});

Deno.test("start runs a round at once and then one per interval until stopped", async () => {
  const wal = new FakeFiles(["w1", "w2"]);
  const snaps = new FakeFiles([]);
  const p = new FilePurger({
    wal,
    snaps,
    maxWals: 1,
    maxSnapshots: 1,
    intervalMs: 10,
    onError: assert.fail,
  });
  p.start();
  await until(() => wal.calls.length >= 1, "the first round");
  assert.deepEqual(wal.files, ["w2"]);
  wal.files.unshift("w0"); // a new file appears between rounds
  await until(() => wal.calls.length >= 3, "later rounds");
  assert.deepEqual(wal.files, ["w2"]);
  await p.stop();
  const calls = wal.calls.length;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(wal.calls.length, calls, "no round after stop");
});

Deno.test("a failed round is reported and ends the purger", async () => {
  const boom = new Error("EIO");
  const wal = new FakeFiles(["w1", "w2"], boom);
  const errors: Error[] = [];
  const p = new FilePurger({
    wal,
    snaps: new FakeFiles([]),
    maxWals: 1,
    maxSnapshots: 1,
    intervalMs: 5,
    onError: (e) => errors.push(e),
  });
  p.start();
  await until(() => errors.length > 0, "the error");
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(errors, [boom]);
  assert.equal(wal.calls.length, 1, "no further rounds");
  await p.stop();
});

Deno.test("with a real WAL and snapshot store, file counts end at the limits", async () => {
  const root = await Deno.makeTempDir({ prefix: "cairn-purge-" });
  try {
    const walDir = join(root, "wal");
    const snapDir = join(root, "snap");
    await Deno.mkdir(snapDir);
    const wal = await Wal.create(walDir, { clusterId: 1n, memberId: 2n, extra: new Uint8Array() }, {
      segmentSize: 512,
    });
    const snaps = new SnapshotStore(snapDir);
    const purger = new FilePurger({
      wal,
      snaps,
      maxWals: 2,
      maxSnapshots: 3,
      onError: assert.fail,
    });
    const count = async (dir: string, suffix: string) => {
      let n = 0;
      for await (const e of Deno.readDir(dir)) if (e.name.endsWith(suffix)) n++;
      return n;
    };
    await wal.save({ term: 1, vote: 0n, commit: 0 }, []);
    for (let i = 1; i <= 100; i++) {
      await wal.save(undefined, [{
        term: 1,
        index: i,
        type: EntryType.Normal,
        data: new Uint8Array(40),
      }]);
      if (i % 10 === 0) {
        await snaps.save(
          { term: 1, index: i, confState: { voters: [2n], learners: [] } },
          new Uint8Array(8),
        );
        await wal.saveSnapshotMarker({ term: 1, index: i });
        await wal.releaseTo(i);
      }
    }
    assert.ok((await count(walDir, ".wal")) > 2);
    assert.equal(await count(snapDir, ".snap"), 10);
    await purger.runOnce();
    assert.equal(await count(snapDir, ".snap"), 3);
    // Entries 91..100 are all before the newest marker (100), so only the
    // current segment is needed; the limit keeps one more.
    assert.equal(await count(walDir, ".wal"), 2);
    await wal.close();
    const { wal: reopened, replay } = await Wal.open(walDir);
    assert.deepEqual(replay.snapshot, { term: 1, index: 100 });
    assert.equal(replay.entries.length, 0);
    await reopened.close();
    assert.equal((await snaps.loadNewest())?.meta.index, 100);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
