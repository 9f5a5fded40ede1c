import assert from "node:assert/strict";
import { type Entry, EntryType, type Message, MessageType, newMessage } from "../raft/types.ts";
import { appliedData, bytes, TestNet } from "../raft/test_util.ts";
import { coalesceBatch, CoalescingQueue, MERGE_LIMIT_BYTES } from "./coalesce.ts";

function ent(index: number, term = 2, size = 8): Entry {
  return { term, index, type: EntryType.Normal, data: new Uint8Array(size) };
}

function app(index: number, logTerm: number, entries: Entry[], commit: number): Message {
  return newMessage({
    type: MessageType.App,
    from: 1n,
    to: 2n,
    term: 2,
    index,
    logTerm,
    entries,
    commit,
  });
}

function ack(index: number, reject = false): Message {
  return newMessage({ type: MessageType.AppResp, from: 2n, to: 1n, term: 2, index, reject });
}

Deno.test("consecutive appends merge into one carrying all entries and the last commit", () => {
  const q = new CoalescingQueue();
  const a = app(10, 2, [ent(11)], 9);
  const b = app(11, 2, [ent(12), ent(13)], 10);
  const c = app(13, 2, [], 12); // commit-only
  const d = app(13, 2, [ent(14)], 12);
  assert.equal(q.push(a), false);
  assert.equal(q.push(b), true);
  assert.equal(q.push(c), true);
  assert.equal(q.push(d), true);
  const out = q.take();
  assert.equal(out.length, 1);
  assert.deepEqual(out[0].entries.map((e) => e.index), [11, 12, 13, 14]);
  assert.equal(out[0].index, 10);
  assert.equal(out[0].logTerm, 2);
  assert.equal(out[0].commit, 12);
  // The messages handed in are untouched.
  assert.equal(a.entries.length, 1);
  assert.equal(a.commit, 9);
  assert.equal(q.length, 0);
});

Deno.test("appends that do not continue each other, or differ in term or sender, stay apart", () => {
  const q = new CoalescingQueue();
  q.push(app(10, 2, [ent(11)], 9));
  assert.equal(q.push(app(12, 2, [ent(13)], 9)), false, "gap");
  assert.equal(q.push(app(13, 1, [ent(14)], 9)), false, "logTerm is not the last entry's term");
  const later = { ...app(13, 2, [ent(14, 3)], 9), term: 3 };
  assert.equal(q.push(later), false, "message term differs");
  assert.equal(q.push({ ...app(14, 3, [ent(15, 3)], 9), term: 3, from: 5n }), false, "sender");
  assert.equal(q.take().length, 5);
});

Deno.test("a heartbeat between appends keeps them apart and in order", () => {
  const q = new CoalescingQueue();
  q.push(app(10, 2, [ent(11)], 9));
  q.push(newMessage({ type: MessageType.Heartbeat, from: 1n, to: 2n, term: 2, commit: 9 }));
  assert.equal(q.push(app(11, 2, [ent(12)], 9)), false);
  assert.deepEqual(q.take().map((m) => m.type), [
    MessageType.App,
    MessageType.Heartbeat,
    MessageType.App,
  ]);
});

Deno.test("a merged append stops growing at MERGE_LIMIT_BYTES", () => {
  const q = new CoalescingQueue();
  const size = 100 * 1024;
  let index = 10;
  for (let i = 0; i < 25; i++, index++) q.push(app(index, 2, [ent(index + 1, 2, size)], 9));
  const out = q.take();
  assert.ok(out.length >= 3, `${out.length} messages`);
  for (const m of out) {
    const b = m.entries.reduce((n, e) => n + e.data.length, 0);
    assert.ok(b <= MERGE_LIMIT_BYTES, `${b} bytes in one append`);
  }
  assert.deepEqual(
    out.flatMap((m) => m.entries.map((e) => e.index)),
    Array.from({ length: 25 }, (_, i) => 11 + i),
  );
});

Deno.test("acknowledgements collapse to the highest; rejections are never merged", () => {
  const q = new CoalescingQueue();
  q.push(ack(5));
  assert.equal(q.push(ack(7)), true);
  assert.equal(q.push(ack(7)), true);
  assert.equal(q.push(ack(6)), false, "a lower index is kept beside");
  assert.equal(q.push(ack(9, true)), false, "rejection");
  assert.equal(q.push(ack(10)), false, "after a rejection");
  assert.deepEqual(q.take().map((m) => [m.index, m.reject]), [
    [7, false],
    [6, false],
    [9, true],
    [10, false],
  ]);
});

/**
 * Runs a 3-member TestNet: member 1 leads, gets `n` proposals, one at a
 * time (so it emits one append per proposal and follower), and the traffic
 * is delivered, per destination merged by CoalescingQueue or not.
 */
function replicate(n: number, merge: boolean): { net: TestNet; delivered: number } {
  const net = new TestNet([1n, 2n, 3n]);
  net.elect(1n);
  const leader = net.get(1n);
  for (let i = 0; i < n; i++) {
    leader.node.propose(bytes(`v${i}`));
    net.flush(leader); // one Ready per proposal: one append per follower each
  }
  let delivered = 0;
  // Deliver round by round: each round, every member's queued output, merged per peer.
  for (let round = 0; round < 50 && net.queue.length > 0; round++) {
    const batch = net.queue;
    net.queue = [];
    const perPeer = new Map<string, CoalescingQueue>();
    const order: Message[] = [];
    if (merge) {
      for (const m of batch) {
        const k = `${m.from}-${m.to}`;
        let q = perPeer.get(k);
        if (q === undefined) perPeer.set(k, q = new CoalescingQueue());
        q.push(m);
      }
      for (const q of perPeer.values()) order.push(...q.take());
    } else order.push(...batch);
    for (const m of order) {
      delivered++;
      const to = net.get(m.to);
      to.node.step(m);
      net.flush(to);
    }
  }
  net.tick(2); // heartbeats carry the final commit index to the followers
  return { net, delivered };
}

Deno.test("merged traffic leaves every member with the same log, commit and applied data", () => {
  const plain = replicate(40, false);
  const merged = replicate(40, true);
  assert.ok(
    merged.delivered * 4 < plain.delivered,
    `merged ${merged.delivered} vs ${plain.delivered} messages`,
  );
  for (const id of [1n, 2n, 3n]) {
    const a = plain.net.get(id);
    const b = merged.net.get(id);
    assert.equal(b.storage.lastIndex(), a.storage.lastIndex(), `last index of ${id}`);
    assert.equal(b.node.status().commit, a.node.status().commit, `commit of ${id}`);
    assert.deepEqual(
      b.applied.map((e) => e.index),
      a.applied.map((e) => e.index),
      `applied by ${id}`,
    );
  }
  const leader = merged.net.get(1n);
  assert.equal(leader.node.status().commit, leader.storage.lastIndex(), "all committed");
  assert.deepEqual(appliedData(merged.net.get(2n)), Array.from({ length: 40 }, (_, i) => `v${i}`));
});

Deno.test("coalesceBatch merges per destination and keeps each destination's order", () => {
  const to3 = (m: Message): Message => ({ ...m, to: 3n });
  const out = coalesceBatch([
    app(10, 2, [ent(11)], 9),
    to3(app(10, 2, [ent(11)], 9)),
    app(11, 2, [ent(12)], 10),
    to3(newMessage({ type: MessageType.Heartbeat, from: 1n, to: 3n, term: 2 })),
    to3(app(11, 2, [ent(12)], 10)),
  ]);
  assert.deepEqual(out.map((m) => [m.to, m.type, m.entries.length]), [
    [2n, MessageType.App, 2],
    [3n, MessageType.App, 1],
    [3n, MessageType.Heartbeat, 0],
    [3n, MessageType.App, 1],
  ]);
});
