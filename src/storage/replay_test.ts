import assert from "node:assert/strict";
import { type Entry, EntryType } from "../raft/types.ts";
import { WalCorruptError } from "./record.ts";
import { ReplayLog } from "./replay.ts";

function ent(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array([index]) };
}

/** A ReplayLog whose entries' data lives in a list (the WAL keeps it in files). */
class ReplayBuilder extends ReplayLog {
  fed: Entry[] = [];

  add(e: Entry): void {
    this.entry(e.term, e.index, e.type, 0, this.fed.length, e.data.length, "seg", 0);
    this.fed.push(e);
  }

  /** The surviving entries, read back as the WAL does. */
  entries(): Entry[] {
    const { first, count } = this.finish();
    return Array.from({ length: count }, (_, i) => ({
      term: this.termAt(i),
      index: first + i,
      type: this.typeAt(i) as EntryType,
      data: this.fed[this.offAt(i)].data.slice(0, this.lenAt(i)),
    }));
  }
}

function feed(b: ReplayBuilder, entries: Entry[]): void {
  for (const e of entries) b.add(e);
}

Deno.test("a conflicting entry replaces its index and drops everything after it", () => {
  const b = new ReplayBuilder();
  feed(b, [1, 2, 3, 4, 5].map((i) => ent(i, 1)));
  feed(b, [ent(3, 2), ent(4, 2)]);
  feed(b, [ent(5, 3)]);
  const out = b.entries();
  assert.deepEqual(out.map((e) => [e.index, e.term]), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 3]]);
  feed(b, [ent(2, 4)]);
  assert.deepEqual(b.entries().map((e) => [e.index, e.term]), [[1, 1], [2, 4]]);
});

Deno.test("entries up to the newest snapshot marker are dropped", () => {
  const b = new ReplayBuilder();
  feed(b, [1, 2, 3, 4].map((i) => ent(i, 1)));
  b.snapshotMarker(1, 3);
  assert.deepEqual(b.entries().map((e) => e.index), [4]);
  // A snapshot received from the leader jumps past the local log.
  b.snapshotMarker(2, 10);
  feed(b, [ent(11, 2), ent(12, 2)]);
  assert.deepEqual(b.entries().map((e) => e.index), [11, 12]);
  assert.deepEqual(b.snapshot, { term: 2, index: 10 });
});

Deno.test("entries of older terms after an installed snapshot's marker are dropped", () => {
  const b = new ReplayBuilder();
  // Our own log diverged at 4 (term 2), then the leader's snapshot at 5 (term 3) replaced it.
  feed(b, [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 2), ent(5, 2), ent(6, 2), ent(7, 2)]);
  b.snapshotMarker(3, 5);
  assert.deepEqual(b.entries(), [], "6 and 7 belonged to the replaced log");
  // Entries after our own snapshot, from its term or later, stay.
  const own = new ReplayBuilder();
  feed(own, [ent(1, 1), ent(2, 2), ent(3, 2), ent(4, 3)]);
  own.snapshotMarker(2, 2);
  assert.deepEqual(own.entries().map((e) => [e.index, e.term]), [[3, 2], [4, 3]]);
});

Deno.test("a gap after the snapshot marker is reported as corruption", () => {
  const b = new ReplayBuilder();
  feed(b, [ent(1, 1), ent(2, 1)]);
  feed(b, [ent(5, 1)]);
  assert.throws(
    () => b.entries(),
    (e: unknown) => e instanceof WalCorruptError && /missing/.test(e.message),
  );
});

Deno.test("the run keeps its order through markers that drop its front and columns that grow", () => {
  const b = new ReplayBuilder();
  // 5,000 entries (the columns start at 1,024), a marker every 700.
  for (let i = 1; i <= 5000; i++) {
    b.add(ent(i, 1 + Math.floor(i / 2000)));
    if (i % 700 === 0) b.snapshotMarker(1 + Math.floor(i / 2000), i - 100);
  }
  const out = b.entries();
  assert.equal(out[0].index, 4801, "the newest marker is at 4800");
  assert.deepEqual(
    out.map((e) => e.index),
    Array.from({ length: 5000 - 4800 }, (_, k) => 4801 + k),
  );
  assert.ok(
    out.every((e) => e.term === 1 + Math.floor(e.index / 2000) && e.data[0] === (e.index & 255)),
  );
});
