import assert from "node:assert/strict";
import { ProposalDropped } from "./errors.ts";
import { RawNode } from "./raw_node.ts";
import { mulberry32 } from "./sim.ts";
import { MemoryStorage } from "./storage.ts";
import { appliedData, bytes, TestNet } from "./test_util.ts";
import {
  ConfChangeType,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  MessageType,
  StateRole,
} from "./types.ts";

function ents(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ term, index: i, type: EntryType.Normal, data: bytes(`t${term}-${i}`) });
  }
  return out;
}

Deno.test("fast back-off: a long divergent tail is repaired in two round trips", () => {
  const boot = new TestNet([1n, 2n, 3n]);
  const nodes = [1n, 2n, 3n].map((id) => {
    const src = boot.get(id).storage;
    const storage = new MemoryStorage();
    storage.append(src.entries(1, src.lastIndex() + 1)); // the 3 bootstrap entries
    // 1 and 3 hold 50 entries of term 3; 2 holds 100 stale entries of term 2.
    storage.append(id === 2n ? ents(4, 103, 2) : ents(4, 53, 3));
    storage.setHardState({ term: 3, vote: 0n, commit: 3 });
    return { id, storage };
  });
  const net = new TestNet([]);
  for (const { id, storage } of nodes) {
    const node = new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      random: () => 0,
      applied: 3,
    });
    net.members.set(id, { id, storage, node, applied: [], readStates: [] });
  }
  net.elect(1n);
  assert.deepEqual(net.leaders(), [1n]);
  const rejects = net.delivered.filter((m) =>
    m.type === MessageType.AppResp && m.from === 2n && m.reject
  );
  assert.ok(rejects.length <= 2, `took ${rejects.length} rejections`);
  const s1 = net.get(1n).storage;
  const s2 = net.get(2n).storage;
  assert.equal(s2.lastIndex(), s1.lastIndex());
  assert.deepEqual(s2.entries(4, s2.lastIndex() + 1), s1.entries(4, s1.lastIndex() + 1));
});

Deno.test("inflight appends to a follower are bounded", () => {
  const net = new TestNet([1n, 2n, 3n], { maxInflightMsgs: 2, maxSizePerMsg: 1 });
  net.elect(1n);
  net.dropTypes.add(MessageType.AppResp); // no acknowledgements: the window fills
  net.dropTypes.add(MessageType.HeartbeatResp);
  net.delivered = [];
  for (let i = 0; i < 10; i++) net.get(1n).node.propose(bytes(`p${i}`));
  net.deliver();
  const apps = net.delivered.filter((m) => m.type === MessageType.App && m.to === 2n);
  assert.equal(apps.length, 2);
  assert.equal(net.get(1n).node.status().progress?.get(2n)?.state, "replicate");
});

/** Member 3 cut off while the leader (1) commits ten entries; it is still cut off. */
function followerLeftBehind() {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  net.isolate(3n);
  for (let i = 0; i < 10; i++) net.get(1n).node.propose(bytes(`v${i}`));
  net.deliver();
  const leader = net.get(1n);
  const applied = leader.applied.at(-1)!.index;
  const snapsTo3 = () => net.delivered.filter((m) => m.type === MessageType.Snap && m.to === 3n);
  return { net, leader, applied, snapsTo3 };
}

/** Once the leader sent member 3 its snapshot at `applied`: a new entry reaches it. */
function assertCaughtUpFrom(net: TestNet, applied: number): void {
  const leader = net.get(1n);
  // The follower's answer to the snapshot already moved it back to replicating,
  // so the transport's report is then a no-op.
  leader.node.reportSnapshot(3n, true);
  net.flush(leader);
  leader.node.propose(bytes("after"));
  net.tick(3);
  const f = net.get(3n);
  assert.equal(f.storage.snapshot().meta.index, applied);
  assert.equal(f.node.status().commit, leader.node.status().commit);
  assert.deepEqual(appliedData(f), ["after"]);
  assert.equal(leader.node.status().progress?.get(3n)?.state, "replicate");
}

Deno.test("snapshot: a follower behind the leader's compaction catches up from a snapshot", () => {
  const { net, leader, applied, snapsTo3 } = followerLeftBehind();
  leader.storage.createSnapshot(applied, leader.confState!, bytes("state"));
  leader.storage.compact(applied);
  net.heal();
  net.tick(3);
  assert.equal(snapsTo3().length, 1);
  assertCaughtUpFrom(net, applied);
});

Deno.test("snapshot: one that ends before the leader's log starts is not sent; a newer one is, once there", () => {
  const { net, leader, applied, snapsTo3 } = followerLeftBehind();
  // A snapshot early in the log, then the log trimmed well past it (as a
  // lone member trims its applied entries): entries between are gone.
  leader.storage.createSnapshot(2, leader.confState!, bytes("old state"));
  leader.storage.compact(applied);
  net.heal();
  net.tick(3);
  assert.equal(snapsTo3().length, 0, "the old snapshot would leave the follower stranded");
  // The newer snapshot is written: sent at the next chance.
  leader.storage.createSnapshot(applied, leader.confState!, bytes("state"));
  net.tick(3);
  assert.equal(snapsTo3().length, 1);
  assert.equal(snapsTo3()[0].snapshot!.meta.index, applied);
  assertCaughtUpFrom(net, applied);
});

Deno.test("conf changes: add a learner, promote it, remove a voter; one at a time", () => {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  net.add(4n, undefined); // joins with an empty log and no membership
  const l = net.get(1n).node;
  l.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4n, context: EMPTY_BYTES });
  assert.throws(
    () => l.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: EMPTY_BYTES }),
    ProposalDropped,
  );
  net.deliver();
  net.tick(3);
  assert.deepEqual(net.get(1n).confState, { voters: [1n, 2n, 3n], learners: [4n] });
  assert.equal(net.get(4n).node.status().commit, l.status().commit);
  assert.equal(l.status().progress?.get(4n)?.isLearner, true);

  l.proposeConfChange({ type: ConfChangeType.AddNode, nodeId: 4n, context: EMPTY_BYTES });
  net.deliver();
  net.tick(3);
  assert.deepEqual(net.get(4n).confState, { voters: [1n, 2n, 3n, 4n], learners: [] });

  l.proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3n, context: EMPTY_BYTES });
  net.deliver();
  net.tick(3);
  assert.deepEqual(net.get(2n).confState, { voters: [1n, 2n, 4n], learners: [] });
  // The new majority (2 of 1, 2, 4) commits without 3.
  net.isolate(3n);
  l.propose(bytes("without 3"));
  net.tick(3);
  assert.ok(appliedData(net.get(4n)).includes("without 3"));
  assert.ok(!appliedData(net.get(3n)).includes("without 3"));
});

Deno.test("removing the leader makes it step down; the rest elect a new one", () => {
  const net = new TestNet([1n, 2n, 3n], { random: mulberry32(5) });
  net.elect(1n);
  net.get(1n).node.proposeConfChange({
    type: ConfChangeType.RemoveNode,
    nodeId: 1n,
    context: EMPTY_BYTES,
  });
  net.deliver();
  net.tick(2);
  assert.notEqual(net.get(1n).node.status().role, StateRole.Leader);
  net.tick(30);
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], 1n);
});

Deno.test("leadership transfer hands over via TimeoutNow, even with PreVote and CheckQuorum", () => {
  const net = new TestNet([1n, 2n, 3n], { preVote: true, checkQuorum: true });
  net.elect(1n);
  net.get(1n).node.transferLeader(2n);
  net.deliver();
  assert.deepEqual(net.leaders(), [2n]);
  assert.equal(net.get(2n).node.status().term, 3);
});

Deno.test("during a transfer proposals are dropped; it is abandoned after an election timeout", () => {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  net.dropTypes.add(MessageType.TimeoutNow);
  const l = net.get(1n).node;
  l.transferLeader(2n);
  net.deliver();
  assert.equal(l.status().leadTransferee, 2n);
  assert.throws(() => l.propose(bytes("x")), ProposalDropped);
  net.tick(10);
  assert.equal(l.status().leadTransferee, 0n);
  l.propose(bytes("x"));
});

Deno.test("read index on several members needs a heartbeat quorum; one round serves many", () => {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  const l = net.get(1n);
  net.isolate(1n);
  for (const r of ["r1", "r2", "r3"]) l.node.readIndex(bytes(r));
  net.deliver();
  assert.equal(l.readStates.length, 0); // no quorum confirmation yet
  net.heal();
  net.tick(1); // one heartbeat round, carrying the newest request
  assert.deepEqual(l.readStates.map((r) => new TextDecoder().decode(r.requestCtx)), [
    "r1",
    "r2",
    "r3",
  ]);
  assert.ok(l.readStates.every((r) => r.index === l.node.status().commit));
});

Deno.test("read index from a follower is forwarded and answered to it", () => {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  const f = net.get(3n);
  f.node.readIndex(bytes("q"));
  net.deliver();
  assert.equal(f.readStates.length, 1);
  assert.equal(f.readStates[0].index, net.get(1n).node.status().commit);
});

Deno.test("a restarted member resumes from its persisted state", () => {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  net.get(1n).node.propose(bytes("a"));
  net.deliver();
  net.tick(2);
  const old = net.get(2n);
  const node = new RawNode({
    id: 2n,
    electionTick: 10,
    heartbeatTick: 1,
    storage: old.storage,
    random: () => 0,
    applied: old.applied.at(-1)!.index,
  });
  net.members.set(2n, { ...old, node });
  const st = node.status();
  assert.equal(st.term, 2);
  assert.equal(st.commit, old.applied.at(-1)!.index);
  net.get(1n).node.propose(bytes("b"));
  net.tick(2);
  assert.deepEqual(appliedData(net.get(2n)), ["a", "b"]);
});
