import assert from "node:assert/strict";
import { decodeConfChange, encodeConfChange } from "./confchange.ts";
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { Inflights, Progress, ProgressState } from "./progress.ts";
import { MemoryStorage } from "./storage.ts";
import { ConfChangeType, type Entry, EntryType } from "./types.ts";

function e(index: number, term: number, data = ""): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

Deno.test("MemoryStorage: append truncates a conflicting tail", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 1), e(3, 1)]);
  s.append([e(2, 2), e(3, 2), e(4, 2)]);
  assert.equal(s.lastIndex(), 4);
  assert.deepEqual(s.entries(1, 5).map((x) => x.term), [1, 2, 2, 2]);
  s.append([e(3, 3)]);
  assert.equal(s.lastIndex(), 3);
  assert.throws(() => s.append([e(6, 3)]), /missing log entry/);
});

Deno.test("MemoryStorage: compact, snapshot, and their errors", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
  const snap = s.createSnapshot(3, { voters: [1n], learners: [] }, new Uint8Array([9]));
  assert.equal(snap.meta.term, 2);
  s.compact(3);
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.term(3), 2); // the compaction point keeps its term
  assert.throws(() => s.term(2), ErrCompacted);
  assert.throws(() => s.term(5), ErrUnavailable);
  assert.throws(() => s.entries(3, 5), ErrCompacted);
  assert.throws(() => s.compact(3), ErrCompacted);
  assert.throws(() => s.createSnapshot(2, snap.meta.confState, snap.data), ErrSnapOutOfDate);
  s.applySnapshot({
    meta: { index: 10, term: 5, confState: snap.meta.confState },
    data: snap.data,
  });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.deepEqual(s.initialState().confState.voters, [1n]);
  assert.throws(() => s.applySnapshot(snap), ErrSnapOutOfDate);
});

Deno.test("MemoryStorage: entries honours the size limit but returns at least one", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1, "x".repeat(100)), e(2, 1, "y"), e(3, 1, "z")]);
  assert.equal(s.entries(1, 4, 10).length, 1);
  assert.equal(s.entries(2, 4, 60).length, 2);
  assert.equal(s.entries(1, 4).length, 3);
});

Deno.test("RaftLog: maybeAppend matches, appends, truncates only on conflict", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 2), e(3, 2)]);
  const log = new RaftLog(s);
  assert.equal(log.maybeAppend(3, 1, 0, [e(4, 2)]), null); // prev term mismatch
  assert.equal(log.maybeAppend(1, 1, 2, [e(2, 2)]), 2); // already there: no truncation
  assert.equal(log.lastIndex(), 3);
  assert.equal(log.committed, 2);
  assert.equal(log.maybeAppend(2, 2, 2, [e(3, 3), e(4, 3)]), 4); // conflict at 3
  assert.deepEqual(log.unstableEntries().map((x) => [x.index, x.term]), [[3, 3], [4, 3]]);
  assert.throws(() => log.maybeAppend(1, 1, 2, [e(2, 9)]), /conflicts with committed/);
});

Deno.test("RaftLog: committed entries are handed out only once persisted", () => {
  const s = new MemoryStorage();
  const log = new RaftLog(s);
  log.append([e(1, 1), e(2, 1)]);
  log.commitTo(2);
  assert.equal(log.nextCommittedEnts().length, 0);
  s.append(log.unstableEntries());
  log.unstable.stableTo(2, 1);
  assert.deepEqual(log.nextCommittedEnts().map((x) => x.index), [1, 2]);
  log.appliedTo(2);
  assert.equal(log.hasNextCommittedEnts(), false);
});

Deno.test("RaftLog: findConflictByTerm skips a whole term at once", () => {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 4), e(5, 4), e(6, 4)]);
  const log = new RaftLog(s);
  assert.deepEqual(log.findConflictByTerm(6, 3), [3, 2]);
  assert.deepEqual(log.findConflictByTerm(6, 4), [6, 4]);
  assert.deepEqual(log.findConflictByTerm(6, 1), [2, 1]);
});

Deno.test("Inflights and Progress: window, probe pause, stale rejections", () => {
  const inf = new Inflights(2);
  inf.add(3);
  inf.add(5);
  assert.ok(inf.full());
  inf.freeLE(4);
  assert.equal(inf.count(), 1);
  inf.freeFirstOne();
  assert.equal(inf.count(), 0);

  const pr = new Progress(10, 2, false);
  assert.equal(pr.state, ProgressState.Probe);
  pr.sentEntries(1, 10);
  assert.ok(pr.isPaused());
  assert.equal(pr.maybeDecrTo(5, 0), false); // not our last probe: stale
  assert.ok(pr.maybeDecrTo(9, 4));
  assert.equal(pr.next, 5);
  assert.ok(!pr.isPaused());
  assert.ok(pr.maybeUpdate(7));
  pr.becomeReplicate();
  assert.equal(pr.next, 8);
  pr.sentEntries(2, 9);
  pr.sentEntries(1, 10);
  assert.ok(pr.isPaused()); // window of 2 is full
  pr.becomeSnapshot(20);
  assert.ok(pr.isPaused());
  pr.becomeProbe();
  assert.equal(pr.next, 21);
});

Deno.test("conf change encoding round-trips 64-bit ids", () => {
  const cc = {
    type: ConfChangeType.AddLearner,
    nodeId: 0xfedcba9876543210n,
    context: new Uint8Array([1, 2, 3]),
  };
  assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc);
  assert.throws(() => decodeConfChange(new Uint8Array(3)));
});
