/**
 * The core's two kinds of failure: bad input it refuses without changing
 * anything (InvalidMessage, ProposalDropped), and violated safety
 * properties (InvariantViolation) that must stop the member. Each test
 * also checks that the log was left as it was, so the member that stops
 * has not half-applied the message.
 */
import assert from "node:assert/strict";
import { decodeConfChange, encodeConfChange } from "./confchange.ts";
import { InvalidMessage, InvariantViolation } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import {
  ConfChangeType,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  MessageType,
  newMessage,
  StateRole,
} from "./types.ts";

function e(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: EMPTY_BYTES };
}

/** A log holding entries 1..3 (terms 1, 2, 2), committed up to 3. */
function committedLog(): RaftLog {
  const s = new MemoryStorage();
  s.append([e(1, 1), e(2, 2), e(3, 2)]);
  const log = new RaftLog(s);
  log.commitTo(3);
  return log;
}

function snapshotOf(log: RaftLog): string {
  return JSON.stringify({
    last: log.lastIndex(),
    committed: log.committed,
    terms: log.entries(log.firstIndex()).map((x) => x.term),
  });
}

Deno.test("invariants: an append conflicting with a committed entry is an InvariantViolation naming it", () => {
  const log = committedLog();
  const before = snapshotOf(log);
  // Anchored at the commit point, but carrying an entry 2 of another term.
  assert.throws(
    () => log.maybeAppend(3, 2, 3, [e(2, 3)]),
    (x: unknown) =>
      x instanceof InvariantViolation &&
      /entry 2 conflicts with committed entry \[committed\(3\)\]/.test(x.invariant),
  );
  assert.equal(snapshotOf(log), before, "the log is untouched");
});

Deno.test("invariants: entries that leave a gap or go back in term are log matching violations", () => {
  const log = committedLog();
  const before = snapshotOf(log);
  assert.throws(() => log.maybeAppend(3, 2, 3, [e(5, 2)]), InvariantViolation);
  assert.throws(() => log.maybeAppend(3, 2, 3, [e(4, 2), e(6, 2)]), /log matching violated/);
  assert.throws(() => log.maybeAppend(3, 2, 3, [e(4, 1)]), /log matching violated/);
  assert.equal(snapshotOf(log), before);
  // The well-formed append still works afterwards.
  assert.equal(log.maybeAppend(3, 2, 4, [e(4, 2)]), 4);
});

Deno.test("invariants: committing past the end of the log is an InvariantViolation", () => {
  const log = committedLog();
  assert.throws(() => log.commitTo(9), InvariantViolation);
  assert.throws(() => log.append([e(2, 5)]), /below committed/);
  assert.equal(log.committed, 3);
});

Deno.test("invariants: a conf change entry that does not decode is an InvariantViolation", () => {
  assert.throws(() => decodeConfChange(new Uint8Array(3)), InvariantViolation);
  const bad = encodeConfChange({ type: ConfChangeType.AddNode, nodeId: 5n, context: EMPTY_BYTES });
  bad[0] = 77;
  assert.throws(() => decodeConfChange(bad), /unknown conf change type 77/);
});

/** A follower (id 2) of leader 1 in term 2 that has committed entries 1..3. */
function follower(): { node: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  const cc = (id: bigint, index: number): Entry => ({
    index,
    term: 1,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: id, context: EMPTY_BYTES }),
  });
  storage.append([cc(1n, 1), cc(2n, 2), e(3, 2)]);
  storage.setHardState({ term: 2, vote: 1n, commit: 3 });
  const node = new RawNode({
    id: 2n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: () => 0.5,
    applied: 3,
  });
  node.applyConfChange(decodeConfChange(cc(1n, 1).data));
  node.applyConfChange(decodeConfChange(cc(2n, 2).data));
  return { node, storage };
}

Deno.test("invariants: a MsgApp from the leader that rewrites a committed entry throws InvariantViolation from step", () => {
  const { node } = follower();
  const forged = newMessage({
    type: MessageType.App,
    from: 1n,
    to: 2n,
    term: 2,
    index: 3,
    logTerm: 2,
    commit: 3,
    entries: [{ index: 1, term: 2, type: EntryType.Normal, data: EMPTY_BYTES }],
  });
  assert.throws(() => node.step(forged), /conflicts with committed entry/);
  assert.equal(node.status().commit, 3);
  assert.equal(node.status().lead, 1n);
});

Deno.test("invariants: local-only message types and empty proposals from a peer are InvalidMessage", () => {
  const { node } = follower();
  for (const type of [MessageType.Hup, MessageType.Beat, MessageType.CheckQuorum]) {
    assert.throws(
      () => node.step(newMessage({ type, from: 1n, to: 2n, term: 9 })),
      InvalidMessage,
    );
  }
  // Refused before anything changed: the forged term 9 was not adopted.
  assert.equal(node.status().term, 2);
  assert.equal(node.status().role, StateRole.Follower);

  // An empty forwarded proposal reaching a leader.
  const storage = new MemoryStorage();
  const leader = new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: () => 0.5,
    peers: [1n],
  });
  leader.campaign();
  assert.equal(leader.status().role, StateRole.Leader);
  assert.throws(
    () => leader.step(newMessage({ type: MessageType.Prop, from: 2n, to: 1n, entries: [] })),
    InvalidMessage,
  );
});
