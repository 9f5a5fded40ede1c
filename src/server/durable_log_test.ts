import assert from "node:assert/strict";
import { REAL_CLOCK } from "../clock.ts";
import { InvariantViolation } from "../raft/errors.ts";
import { mulberry32 } from "../raft/sim_checks.ts";
import { MemoryStorage } from "../raft/storage.ts";
import {
  type Entry,
  EntryType,
  type HardState,
  MessageType,
  type Ready,
  StateRole,
} from "../raft/types.ts";
import { type Disk, SimDisk } from "../storage/mod.ts";
import { snapshotName, SnapshotStore } from "../storage/snapshot.ts";
import { Wal } from "../storage/wal.ts";
import { readWholeSnapshot } from "../transport/peer.ts";
import {
  CATCH_UP_ENTRIES,
  DurableLog,
  leadsDurably,
  LOG_TRIM_STEP,
  sendableBeforeSync,
} from "./durable_log.ts";

const meta = { clusterId: 1n, memberId: 2n, extra: new Uint8Array(0) };
const confState = { voters: [2n], learners: [] };

function entries(from: number, to: number, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: EntryType.Normal, data: new Uint8Array([i & 0xff]) });
  }
  return out;
}

function ready(o: Partial<Ready>): Ready {
  return {
    entries: [],
    committedEntries: [],
    messages: [],
    readStates: [],
    mustSync: false,
    ...o,
  } as Ready;
}

async function fixture(seed = 1) {
  const sim = new SimDisk({ rng: mulberry32(seed) });
  const view = (): Disk => sim.view({ alive: () => true, delay: () => Promise.resolve() });
  const disk = view();
  await disk.mkdir("/snap", { recursive: true });
  const wal = await Wal.create("/wal", meta, { disk });
  const snaps = new SnapshotStore("/snap", { disk });
  const storage = new MemoryStorage();
  const log = new DurableLog({ wal, snaps, storage, clock: REAL_CLOCK });
  /** Power loss, then what a restart reads back. */
  const crash = async () => {
    sim.crash();
    const { replay } = await Wal.open("/wal", { disk: view() });
    return replay;
  };
  return { sim, disk, wal, snaps, storage, log, crash };
}

const hs = (term: number, commit: number, vote = 2n): HardState => ({ term, vote, commit });

Deno.test("durable log: only a leader with its term and vote on disk sends appends before its fsync", () => {
  const persisted = hs(3, 5);
  assert.ok(leadsDurably(ready({}), StateRole.Leader, persisted));
  assert.ok(leadsDurably(ready({ hardState: hs(3, 9) }), StateRole.Leader, persisted));
  assert.ok(!leadsDurably(ready({ hardState: hs(4, 9) }), StateRole.Leader, persisted), "new term");
  assert.ok(!leadsDurably(ready({ hardState: hs(3, 9, 7n) }), StateRole.Leader, persisted));
  assert.ok(!leadsDurably(ready({}), StateRole.Follower, persisted));
  const snapshot = { meta: { index: 1, term: 1, confState }, data: new Uint8Array(0) };
  assert.ok(!leadsDurably(ready({ snapshot }), StateRole.Leader, persisted));
  // Appends and heartbeats only when leading durably; votes and answers never.
  for (const t of [MessageType.App, MessageType.Heartbeat]) {
    assert.ok(sendableBeforeSync(t, true));
    assert.ok(!sendableBeforeSync(t, false));
  }
  for (const t of [MessageType.Vote, MessageType.AppResp, MessageType.VoteResp]) {
    assert.ok(!sendableBeforeSync(t, true));
  }
  // A forwarded proposal or read index carries no state of the sender.
  assert.ok(sendableBeforeSync(MessageType.Prop, false));
  assert.ok(sendableBeforeSync(MessageType.ReadIndex, false));
});

Deno.test("durable log: a commit-only hard state waits for the next write, then goes with it", async () => {
  const { log, storage, crash } = await fixture();
  const first = ready({ hardState: hs(1, 0), entries: entries(1, 3), mustSync: true });
  await log.write(first, false);
  log.remember(first);
  const commitOnly = ready({ hardState: hs(1, 3) });
  await log.write(commitOnly, false);
  log.remember(commitOnly);
  assert.deepEqual(log.deferredHardState, hs(1, 3));
  assert.equal(storage.hardState().commit, 3, "Raft sees it at once");
  const more = ready({ entries: entries(4, 4), mustSync: true });
  await log.write(more, false);
  log.remember(more);
  assert.equal(log.deferredHardState, undefined);
  const replay = await crash();
  assert.equal(replay.hardState.commit, 3, "written with entry 4");
  assert.equal(replay.entries.length, 4);
});

Deno.test("durable log: a commit-only hard state is not fsynced (a crash may lose it)", async () => {
  const { log, crash } = await fixture();
  const first = ready({ hardState: hs(1, 0), entries: entries(1, 3), mustSync: true });
  await log.write(first, false);
  log.remember(first);
  await log.write(ready({ hardState: hs(1, 3) }), false);
  const replay = await crash();
  assert.equal(replay.hardState.commit, 0);
  assert.equal(replay.entries.length, 3, "the entries are durable");
});

Deno.test("durable log: a commit-only hard state that commits a membership change is written at once, unsynced", async () => {
  const { sim, log, crash } = await fixture();
  const ents = entries(1, 3);
  ents[2] = { ...ents[2], type: EntryType.ConfChange };
  const first = ready({ hardState: hs(1, 1), entries: ents, mustSync: true });
  await log.write(first, false);
  log.remember(first);
  const syncs = sim.stats.syncs;
  await log.write(ready({ hardState: hs(1, 3) }), false);
  assert.equal(log.deferredHardState, undefined);
  assert.equal(sim.stats.syncs, syncs, "no fsync");
  // A killed process: what it wrote is in the page cache and read back.
  const { replay } = await Wal.open("/wal", {
    disk: sim.view({ alive: () => true, delay: () => Promise.resolve() }),
  });
  assert.equal(replay.hardState.commit, 3, "the restarted member knows the change committed");
  // A power loss may still take it back (etcd's is unsynced too).
  const lost = await crash();
  assert.ok(lost.hardState.commit === 1 || lost.hardState.commit === 3);
});

Deno.test("durable log: entries that would break the log never reach the disk", async () => {
  const { log, storage, crash } = await fixture();
  const first = ready({ hardState: hs(1, 0), entries: entries(1, 3), mustSync: true });
  await log.write(first, false);
  log.remember(first);
  const gap = ready({ entries: entries(5, 6), mustSync: true });
  assert.throws(() => log.write(gap, false), InvariantViolation);
  assert.equal(storage.lastIndex(), 3);
  assert.equal((await crash()).entries.length, 3);
});

Deno.test("durable log: a snapshot is a file, then a marker; recovery finds both; the log is compacted behind it", async () => {
  const { log, storage, snaps, crash } = await fixture();
  const n = CATCH_UP_ENTRIES + 50;
  const rd = ready({ hardState: hs(2, n), entries: entries(1, n, 2), mustSync: true });
  await log.write(rd, false);
  log.remember(rd);
  const data = new TextEncoder().encode("state at n");
  const term = await log.snapshot(n, confState, data);
  assert.equal(term, 2);
  assert.equal(storage.snapshot().meta.index, n);
  assert.equal(storage.snapshot().data.length, 0, "Raft keeps only the position");
  assert.deepEqual(
    await readWholeSnapshot(await log.openSnapshotBody(storage.snapshot().meta)),
    data,
    "sent from the file",
  );
  assert.equal(storage.firstIndex(), 51, `${CATCH_UP_ENTRIES} entries kept behind it`);
  const replay = await crash();
  assert.deepEqual(replay.snapshot, { term: 2, index: n });
  const loaded = await snaps.loadNewest((m) => m.index === n && m.term === 2);
  assert.deepEqual(loaded?.data, data);
});

Deno.test("durable log: a snapshot's body is streamed from its file; a purged or damaged file is refused", async () => {
  const { log, storage, snaps, disk } = await fixture();
  const rd = ready({ hardState: hs(1, 30), entries: entries(1, 30), mustSync: true });
  await log.write(rd, false);
  log.remember(rd);
  await log.snapshot(10, confState, new Uint8Array([1, 1]));
  const first = storage.snapshot().meta;
  await log.snapshot(20, confState, new Uint8Array([2, 2, 2]));
  assert.deepEqual(
    await readWholeSnapshot(await log.openSnapshotBody(first)),
    new Uint8Array([1, 1]),
    "an older file, still there",
  );
  assert.deepEqual(
    await readWholeSnapshot(await log.openSnapshotBody(storage.snapshot().meta)),
    new Uint8Array([2, 2, 2]),
  );
  await snaps.purge(1);
  await assert.rejects(() => log.openSnapshotBody(first), Deno.errors.NotFound);
  const path = `${snaps.dir}/${snapshotName(storage.snapshot().meta.term, 20)}`;
  const bytes = await disk.readFile(path);
  bytes[bytes.length - 1] ^= 0xff;
  const f = await disk.open(path, { write: true, truncate: true });
  f.writeSync(bytes);
  await f.sync();
  f.close();
  // The header still holds: the damage shows when the body's last piece is read.
  const damaged = await log.openSnapshotBody(storage.snapshot().meta);
  await assert.rejects(() => readWholeSnapshot(damaged), /checksum/);
});

Deno.test("durable log: an installed snapshot replaces the log and survives a crash", async () => {
  const { log, storage, crash } = await fixture();
  const rd = ready({ hardState: hs(1, 3), entries: entries(1, 3), mustSync: true });
  await log.write(rd, false);
  log.remember(rd);
  const snap = { meta: { index: 40, term: 3, confState }, data: new Uint8Array([4, 0]) };
  await log.install(snap);
  assert.equal(storage.snapshot().meta.index, 40);
  assert.equal(storage.lastIndex(), 40);
  const replay = await crash();
  assert.deepEqual(replay.snapshot, { term: 3, index: 40 });
  assert.equal(replay.entries.length, 0, "nothing before the snapshot is replayed");
});

Deno.test("durable log: a lone member trims applied entries in steps", async () => {
  const { log, storage } = await fixture();
  const rd = ready({ hardState: hs(1, 1500), entries: entries(1, 1500), mustSync: true });
  await log.write(rd, false);
  log.remember(rd);
  log.trimIfAlone(LOG_TRIM_STEP - 1, true);
  assert.equal(storage.firstIndex(), 1, "under a step: kept");
  assert.equal(storage.packEntries, false, "alone: entries are not packed");
  log.trimIfAlone(LOG_TRIM_STEP + 200, false);
  assert.equal(storage.firstIndex(), 1, "not alone: kept for the peers");
  assert.equal(storage.packEntries, true, "with peers: entries are packed");
  log.trimIfAlone(LOG_TRIM_STEP + 200, true);
  assert.equal(storage.firstIndex(), LOG_TRIM_STEP + 201);
  assert.equal(storage.packEntries, false);
});
