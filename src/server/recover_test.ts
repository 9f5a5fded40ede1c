import assert from "node:assert/strict";
import { parseConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { mulberry32 } from "../raft/sim_checks.ts";
import { type Entry, EntryType } from "../raft/types.ts";
import { SimDisk } from "../storage/sim_disk.ts";
import { realEnv } from "./env.ts";
import { recoverOrBootstrap } from "./recover.ts";
import { captureState, encodeCapturedSync } from "./state_snapshot.ts";
import { readWholeSnapshot } from "../transport/peer.ts";

const quiet = createLogger("error", { writer: () => {} });

function config() {
  const out = parseConfig([
    "--name=n1",
    "--data-dir=/d",
    "--initial-cluster=n1=http://10.0.0.1:2380",
    "--initial-advertise-peer-urls=http://10.0.0.1:2380",
    "--listen-peer-urls=http://10.0.0.1:2380",
  ], {});
  if (out.kind !== "run") throw new Error("config");
  return out.config;
}

function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: EntryType.Normal, data: new Uint8Array(0) });
  }
  return out;
}

/** The state machine parts of a recovered member, as captureState takes them. */
function stateOf(m: Awaited<ReturnType<typeof recoverOrBootstrap>>) {
  return {
    store: m.store,
    membership: m.membership,
    alarms: m.alarms,
    lessor: m.lessor,
    auth: m.auth,
  };
}

/** A bootstrapped member's disk holding a snapshot at 10 (with its marker) and entries to 12. */
async function diskWithSnapshotAt10() {
  const sim = new SimDisk({ rng: mulberry32(5) });
  const env = () =>
    realEnv({ disk: sim.view({ alive: () => true, delay: () => Promise.resolve() }) });
  const cfg = config();
  const first = await recoverOrBootstrap(cfg, quiet, env());
  const { wal, snaps } = first;
  await wal.save({ term: 2, vote: first.id, commit: 12 }, entries(1, 12, 2));
  const sm = stateOf(first);
  const confState = { voters: [first.id], learners: [] };
  await snaps.save({ term: 2, index: 10, confState }, encodeCapturedSync(captureState(sm)));
  await wal.saveSnapshotMarker({ term: 2, index: 10 });
  await wal.save(undefined, entries(11, 12, 2));
  return { sim, env, cfg, snaps, wal, sm, confState };
}

Deno.test("recovery uses the snapshot the WAL's newest marker names, not a newer file without a marker", async () => {
  // Found by the member sim (seeds 3795, 4399): a snapshot file saved just
  // before a crash (or a failed fsync) that kept its WAL marker from the
  // disk was loaded on restart; the entries then appended after it could
  // not be replayed on the next start ("entries in between are missing").
  const { env, cfg, snaps, wal, sm, confState } = await diskWithSnapshotAt10();
  await snaps.save({ term: 2, index: 20, confState }, encodeCapturedSync(captureState(sm)));
  await wal.close();
  const again = await recoverOrBootstrap(cfg, quiet, env());
  assert.equal(again.applied, 10);
  assert.equal(again.storage.snapshot().meta.index, 10);
  assert.equal(again.storage.lastIndex(), 12, "the WAL's entries continue from the snapshot");
  await again.wal.close();
});

Deno.test("recovery refuses when the snapshot the WAL's marker names is missing, naming it", async () => {
  const { env, cfg, wal, sim } = await diskWithSnapshotAt10();
  await wal.close();
  const view = sim.view({ alive: () => true, delay: () => Promise.resolve() });
  const snapPath = "/d/member/snap/0000000000000002-000000000000000a.snap";
  await view.remove(snapPath);
  await assert.rejects(
    () => recoverOrBootstrap(cfg, quiet, env()),
    (err: Error) => err.message.includes(snapPath) && /missing or damaged/.test(err.message),
  );
});

Deno.test("a recovered snapshot keeps only its position in Raft's storage, alone or with peers", async () => {
  // Raft holds a snapshot only to send it to followers, and it is sent
  // from its file (at 1,000,000 keys the data was ~290 MB held meanwhile).
  const { env, cfg, wal } = await diskWithSnapshotAt10();
  await wal.close();
  const again = await recoverOrBootstrap(cfg, quiet, env());
  const snap = again.storage.snapshot();
  assert.equal(snap.meta.index, 10);
  assert.equal(snap.data.length, 0);
  assert.equal(again.applied, 10);
  await again.wal.close();
});

Deno.test("a member with peers recovers its snapshot's position, and the body is there in the file to send", async () => {
  const { env, cfg, snaps, wal, sm, confState } = await diskWithSnapshotAt10();
  const withPeer = { voters: [...confState.voters, 0x99n], learners: [] };
  const data = encodeCapturedSync(captureState(sm));
  await snaps.save({ term: 2, index: 12, confState: withPeer }, data);
  await wal.saveSnapshotMarker({ term: 2, index: 12 });
  await wal.close();
  const again = await recoverOrBootstrap(cfg, quiet, env());
  const snap = again.storage.snapshot();
  assert.equal(snap.meta.index, 12);
  assert.equal(snap.data.length, 0, "not held in memory");
  assert.deepEqual(await readWholeSnapshot(await again.snaps.openBody(snap.meta)), data);
  await again.wal.close();
});

/**
 * A real data dir like diskWithSnapshotAt10's, with small WAL segments so
 * that older ones precede the replayed one, and the restart's off-thread
 * checks taken whatever the sizes.
 */
async function realDirWithSnapshot(root: string) {
  const tuning = { walSegmentBytes: 1024, offThreadCheckBytes: 0 };
  const env = () => realEnv({ tuning });
  const cfg = { ...config(), dataDir: root };
  const first = await recoverOrBootstrap(cfg, quiet, env());
  const { wal, snaps } = first;
  for (let i = 1; i <= 160; i += 4) {
    await wal.save({ term: 2, vote: first.id, commit: i + 3 }, entries(i, i + 3, 2));
  }
  const sm = stateOf(first);
  const snapPath = await snaps.save(
    { term: 2, index: 158, confState: { voters: [first.id], learners: [] } },
    encodeCapturedSync(captureState(sm)),
  );
  await wal.saveSnapshotMarker({ term: 2, index: 158 });
  await wal.save(undefined, entries(161, 162, 2));
  const segments = wal.segmentPaths();
  await wal.close();
  return { env, cfg, snapPath, segments };
}

Deno.test("a restart checks its snapshot body and older WAL segments off thread, and refuses on damage", async () => {
  const root = await Deno.makeTempDir({ prefix: "cairn-recover-" });
  try {
    const { env, cfg, snapPath, segments } = await realDirWithSnapshot(root);
    assert.ok(segments.length >= 3, `${segments.length} segments`);
    const again = await recoverOrBootstrap(cfg, quiet, env());
    assert.equal(again.applied, 158);
    assert.equal(again.storage.lastIndex(), 162);
    await again.wal.close();

    // A bit flipped in the first segment, which the replay does not read.
    const seg = await Deno.readFile(segments[0]);
    const saved = seg.slice();
    seg[seg.length - 5] ^= 0x10;
    await Deno.writeFile(segments[0], seg);
    await assert.rejects(
      () => recoverOrBootstrap(cfg, quiet, env()),
      (err: Error) => err.name === "WalCorruptError" && err.message.includes(segments[0]),
    );
    await Deno.writeFile(segments[0], saved);

    // A bit flipped in the snapshot body: refused, and the file set aside.
    const snap = await Deno.readFile(snapPath);
    snap[snap.length - 3] ^= 0x04;
    await Deno.writeFile(snapPath, snap);
    await assert.rejects(
      () => recoverOrBootstrap(cfg, quiet, env()),
      (err: Error) => err.message.includes(snapPath) && /damaged/.test(err.message),
    );
    await Deno.stat(`${snapPath}.broken`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
