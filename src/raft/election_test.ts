import assert from "node:assert/strict";
import { ProposalDropped } from "./errors.ts";
import { Raft } from "./raft.ts";
import { RawNode } from "./raw_node.ts";
import { mulberry32 } from "./sim.ts";
import { MemoryStorage } from "./storage.ts";
import { appliedData, bytes, TestNet } from "./test_util.ts";
import { MessageType, StateRole } from "./types.ts";

Deno.test("three members: one leader, everyone follows it", () => {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  assert.deepEqual(net.leaders(), [1n]);
  for (const m of net.members.values()) {
    assert.equal(m.node.status().lead, 1n);
    assert.equal(m.node.status().term, 2);
  }
});

Deno.test("randomized election timeout lies in [electionTick, 2*electionTick)", () => {
  for (const x of [0, 0.5, 0.9999]) {
    const r = new Raft({
      id: 1n,
      electionTick: 10,
      heartbeatTick: 1,
      storage: new MemoryStorage(),
      random: () => x,
      peers: [1n, 2n, 3n],
    });
    assert.ok(r.randomizedElectionTimeout >= 10 && r.randomizedElectionTimeout < 20);
  }
  const net = new TestNet([1n, 2n, 3n], { random: () => 0.55 }); // timeout 15
  const n1 = net.get(1n).node;
  for (let i = 0; i < 14; i++) n1.tick();
  assert.equal(n1.status().role, StateRole.Follower);
  n1.tick();
  assert.equal(n1.status().role, StateRole.Candidate);
});

Deno.test("followers time out and elect a leader by themselves", () => {
  const net = new TestNet([1n, 2n, 3n, 4n, 5n], { random: mulberry32(7) });
  net.tick(40);
  assert.equal(net.leaders().length, 1);
});

Deno.test("a candidate with a stale log cannot win", () => {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  net.isolate(3n);
  net.get(1n).node.propose(bytes("a"));
  net.deliver();
  net.heal();
  net.isolate(1n);
  net.elect(3n); // 2 has "a", 3 does not: 2 refuses
  assert.notEqual(net.get(3n).node.status().role, StateRole.Leader);
  net.elect(2n);
  assert.equal(net.get(2n).node.status().role, StateRole.Leader);
});

Deno.test("proposals: forwarded by followers, dropped without a leader", () => {
  const net = new TestNet([1n, 2n, 3n]);
  assert.throws(() => net.get(2n).node.propose(bytes("x")), ProposalDropped);
  net.elect(1n);
  net.get(3n).node.propose(bytes("via follower"));
  net.deliver();
  net.tick(2); // heartbeats carry the new commit index to followers
  for (const m of net.members.values()) assert.deepEqual(appliedData(m), ["via follower"]);
});

Deno.test("PreVote: a partitioned member does not bump its term nor disrupt on return", () => {
  const net = new TestNet([1n, 2n, 3n], { preVote: true, random: mulberry32(3) });
  net.elect(1n);
  net.isolate(3n);
  net.tick(50);
  const n3 = net.get(3n).node.status();
  assert.equal(n3.term, 2);
  assert.equal(n3.role, StateRole.PreCandidate);
  net.heal();
  net.tick(5);
  assert.deepEqual(net.leaders(), [1n]);
  assert.equal(net.get(1n).node.status().term, 2);
});

Deno.test("without PreVote a partitioned member does bump its term", () => {
  const net = new TestNet([1n, 2n, 3n], { random: mulberry32(3) });
  net.elect(1n);
  net.isolate(3n);
  net.tick(50);
  assert.ok(net.get(3n).node.status().term > 2);
});

Deno.test("CheckQuorum: an isolated leader steps down, the rest elect another", () => {
  const net = new TestNet([1n, 2n, 3n], { checkQuorum: true, random: mulberry32(11) });
  net.elect(1n);
  net.isolate(1n);
  net.tick(25);
  assert.equal(net.get(1n).node.status().role, StateRole.Follower);
  const others = net.leaders();
  assert.equal(others.length, 1);
  assert.notEqual(others[0], 1n);
});

Deno.test("CheckQuorum: members that hear from a leader ignore a disruptive vote", () => {
  const net = new TestNet([1n, 2n, 3n], { checkQuorum: true });
  net.elect(1n);
  net.get(3n).node.campaign(); // forced, without pre-vote, at term 3
  net.deliver();
  assert.deepEqual(net.leaders(), [1n]);
  assert.equal(net.get(2n).node.status().term, 2);
});

Deno.test("a leader commits entries of earlier terms only via one of its own term", () => {
  // Storage as left by an earlier leader of term 2: index 4 (term 2) never committed.
  const storage = new MemoryStorage();
  const boot = new TestNet([1n, 2n, 3n]);
  const src = boot.get(1n).storage;
  storage.append(src.entries(1, src.lastIndex() + 1));
  storage.append([{ term: 2, index: 4, type: 0, data: bytes("old") }]);
  storage.setHardState({ term: 2, vote: 1n, commit: 3 });
  const node = new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: () => 0,
    applied: 3,
  });
  node.campaign();
  const grant = { to: 1n, from: 2n, term: 3, logTerm: 0, index: 0, entries: [], commit: 0 };
  node.step({
    ...grant,
    type: MessageType.VoteResp,
    reject: false,
    rejectHint: 0,
    context: bytes(""),
  });
  assert.equal(node.status().role, StateRole.Leader);
  const rd = node.ready();
  storage.append(rd.entries);
  node.advance(rd);
  const ack = (index: number) =>
    node.step({
      ...grant,
      type: MessageType.AppResp,
      index,
      reject: false,
      rejectHint: 0,
      context: bytes(""),
    });
  ack(4); // the old entry is on a majority now, but it is of term 2
  assert.equal(node.status().commit, 3);
  ack(5); // the leader's own empty entry of term 3
  assert.equal(node.status().commit, 5);
});
