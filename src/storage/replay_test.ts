import assert from "node:assert/strict";
import { type Entry, EntryType } from "../raft/types.ts";
import { RecordType, WalCorruptError } from "./record.ts";
import { ReplayBuilder } from "./replay.ts";

function ent(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array([index]) };
}

function feed(b: ReplayBuilder, entries: Entry[]): void {
  for (const e of entries) b.add({ type: RecordType.Entry, entry: e }, "seg", 0);
}

Deno.test("a conflicting entry replaces its index and drops everything after it", () => {
  const b = new ReplayBuilder();
  feed(b, [1, 2, 3, 4, 5].map((i) => ent(i, 1)));
  feed(b, [ent(3, 2), ent(4, 2)]);
  feed(b, [ent(5, 3)]);
  const out = b.finish();
  assert.deepEqual(out.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 3]]);
  feed(b, [ent(2, 4)]);
  assert.deepEqual(b.finish().map((e) => [e.index, e.term]), [[1, 1], [2, 4]]);
});

Deno.test("entries up to the newest snapshot marker are dropped", () => {
  const b = new ReplayBuilder();
  feed(b, [1, 2, 3, 4].map((i) => ent(i, 1)));
  b.add({ type: RecordType.Snapshot, snapshot: { term: 1, index: 3 } }, "seg", 0);
  assert.deepEqual(b.finish().map((e) => e.index), [4]);
  // A snapshot received from the leader jumps past the local log.
  b.add({ type: RecordType.Snapshot, snapshot: { term: 2, index: 10 } }, "seg", 0);
  feed(b, [ent(11, 2), ent(12, 2)]);
  assert.deepEqual(b.finish().map((e) => e.index), [11, 12]);
  assert.deepEqual(b.snapshot, { term: 2, index: 10 });
});

Deno.test("entries of older terms after an installed snapshot's marker are dropped", () => {
  const b = new ReplayBuilder();
  // Our own log diverged at 4 (term 2), then the leader's snapshot at 5 (term 3) replaced it.
  feed(b, [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 2), ent(5, 2), ent(6, 2), ent(7, 2)]);
  b.add({ type: RecordType.Snapshot, snapshot: { term: 3, index: 5 } }, "seg", 0);
  assert.deepEqual(b.finish(), [], "6 and 7 belonged to the replaced log");
  // Entries after our own snapshot, from its term or later, stay.
  const own = new ReplayBuilder();
  feed(own, [ent(1, 1), ent(2, 2), ent(3, 2), ent(4, 3)]);
  own.add({ type: RecordType.Snapshot, snapshot: { term: 2, index: 2 } }, "seg", 0);
  assert.deepEqual(own.finish().map((e) => [e.index, e.term]), [[3, 2], [4, 3]]);
});

Deno.test("a gap after the snapshot marker is reported as corruption", () => {
  const b = new ReplayBuilder();
  feed(b, [ent(1, 1), ent(2, 1)]);
  feed(b, [ent(5, 1)]);
  assert.throws(
    () => b.finish(),
    (e: unknown) => e instanceof WalCorruptError && /missing/.test(e.message),
  );
});

Deno.test("replayed entry data does not alias the decode buffer", () => {
  const b = new ReplayBuilder();
  const e = ent(1, 1);
  feed(b, [e]);
  const [out] = b.finish();
  e.data[0] = 99;
  assert.equal(out.data[0], 1);
});

Deno.test("replayed entries keep their own data, empty ones included, none aliasing another", () => {
  const b = new ReplayBuilder();
  const sizes = [3, 0, 1, 300, 0, 7];
  const ents = sizes.map((n, i) => ({
    index: i + 1,
    term: 1,
    type: EntryType.Normal,
    data: new Uint8Array(n).fill(i + 1),
  }));
  feed(b, ents);
  const out = b.finish();
  assert.deepEqual(out.map((e) => e.data.length), sizes);
  for (let i = 0; i < out.length; i++) {
    assert.deepEqual(out[i].data, new Uint8Array(sizes[i]).fill(i + 1));
    ents[i].data.fill(0xee);
  }
  out[0].data.fill(0xaa);
  assert.deepEqual(out[2].data, new Uint8Array([3]), "a neighbour's bytes are not touched");
});
