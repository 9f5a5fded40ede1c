import assert from "node:assert/strict";
import { ProposalDropped } from "./errors.ts";
import { bytes, TestNet } from "./test_util.ts";
import { MessageType, newMessage, type Ready } from "./types.ts";

/** Two identical 3-member clusters with member 1 leading, Readies drained. */
function twins(): [TestNet, TestNet] {
  const nets: [TestNet, TestNet] = [new TestNet([1n, 2n, 3n]), new TestNet([1n, 2n, 3n])];
  for (const net of nets) net.elect(1n);
  return nets;
}

/** What a Ready holds that a proposal changes, in comparable form. */
function shape(rd: Ready): unknown {
  return {
    entries: rd.entries,
    hardState: rd.hardState,
    messages: rd.messages,
    committed: rd.committedEntries,
  };
}

Deno.test("propose on a leader: the same entries, messages and state as stepping a MsgProp", () => {
  const [fast, stepped] = twins();
  const a = fast.get(1n).node;
  const b = stepped.get(1n).node;
  for (let i = 0; i < 3; i++) {
    const data = bytes(`v${i}`);
    a.propose(data);
    b.raft.step(newMessage({
      type: MessageType.Prop,
      from: 1n,
      entries: [{ term: 0, index: 0, type: 0, data }],
    }));
  }
  assert.ok(a.hasReady() && b.hasReady());
  const ra = a.ready();
  assert.deepEqual(shape(ra), shape(b.ready()));
  assert.equal(ra.entries.length, 3);
  assert.deepEqual(ra.entries.map((e) => e.index), [5, 6, 7]);
  // Both replicate and commit the same way.
  for (const net of [fast, stepped]) net.tick(2);
  for (const id of [1n, 3n]) {
    assert.deepEqual(fast.get(id).applied, stepped.get(id).applied);
    assert.equal(fast.get(id).applied.at(-1)?.index, 7);
  }
});

Deno.test("propose on a leader handing over leadership is dropped, as a stepped MsgProp is", () => {
  const [net] = twins();
  const leader = net.get(1n).node;
  net.cut(1n, 2n); // the transfer stays in progress: its target never hears
  leader.raft.step(newMessage({ type: MessageType.TransferLeader, from: 2n }));
  net.flushAll();
  assert.throws(() => leader.propose(bytes("x")), ProposalDropped);
  const before = leader.raft.log.lastIndex();
  assert.throws(
    () =>
      leader.raft.step(newMessage({
        type: MessageType.Prop,
        from: 1n,
        entries: [{ term: 0, index: 0, type: 0, data: bytes("x") }],
      })),
    ProposalDropped,
  );
  assert.equal(leader.raft.log.lastIndex(), before);
});
