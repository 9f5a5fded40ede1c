import assert from "node:assert/strict";
import { decodeConfChange } from "./confchange.ts";
import { ProposalDropped } from "./errors.ts";
import { RawNode } from "./raw_node.ts";
import { MemoryStorage } from "./storage.ts";
import { type Entry, EntryType, type Ready, StateRole } from "./types.ts";

const enc = new TextEncoder();

/** Persists a Ready the way the server does, applies it, and advances. */
function handle(node: RawNode, storage: MemoryStorage, applied: Entry[]): Ready {
  const rd = node.ready();
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.ConfChange) node.applyConfChange(decodeConfChange(e.data));
    applied.push(e);
  }
  node.advance(rd);
  return rd;
}

function drain(node: RawNode, storage: MemoryStorage, applied: Entry[]): Ready[] {
  const out: Ready[] = [];
  for (let i = 0; i < 10 && node.hasReady(); i++) out.push(handle(node, storage, applied));
  return out;
}

function single(id = 7n) {
  const storage = new MemoryStorage();
  const node = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: () => 0.5,
    peers: [id],
  });
  return { storage, node, applied: [] as Entry[] };
}

Deno.test("single voter: bootstrap, campaign, commit after persist", () => {
  const { storage, node, applied } = single();
  assert.throws(() => node.propose(enc.encode("x")), ProposalDropped);
  node.campaign();
  assert.equal(node.status().role, StateRole.Leader);
  const rd = node.ready();
  // Nothing of the new term is committed before it is persisted.
  assert.equal(rd.committedEntries.length, 0);
  assert.equal(rd.softState?.role, StateRole.Leader);
  assert.equal(rd.entries.length, 2); // bootstrap conf change + empty entry of term 2
  assert.equal(rd.mustSync, true);
  storage.append(rd.entries);
  storage.setHardState(rd.hardState!);
  node.advance(rd);
  assert.ok(node.hasReady());
  drain(node, storage, applied);
  assert.deepEqual(applied.map((e) => e.index), [1, 2]);
  assert.equal(node.status().commit, 2);
  node.propose(enc.encode("hello"));
  drain(node, storage, applied);
  assert.equal(applied.length, 3);
  assert.equal(new TextDecoder().decode(applied[2].data), "hello");
  assert.equal(storage.hardState().commit, 3);
});

Deno.test("single voter: elects itself after the election timeout", () => {
  const { node, storage, applied } = single();
  drain(node, storage, applied);
  for (let i = 0; i < 20 && node.status().role !== StateRole.Leader; i++) node.tick();
  assert.equal(node.status().role, StateRole.Leader);
});

Deno.test("single voter: read index waits for the first commit of the term", () => {
  const { node, storage, applied } = single();
  node.campaign();
  node.readIndex(enc.encode("r1"));
  const rd = node.ready();
  assert.equal(rd.readStates.length, 0);
  storage.append(rd.entries);
  node.advance(rd);
  const more = drain(node, storage, applied).flatMap((r) => r.readStates);
  assert.equal(more.length, 1);
  assert.equal(more[0].index, 2);
  node.readIndex(enc.encode("r2"));
  const rd2 = node.ready();
  assert.deepEqual(rd2.readStates.map((r) => r.index), [2]);
});

Deno.test("single voter: restart from persisted state keeps log and membership", () => {
  const { node, storage, applied } = single();
  node.campaign();
  drain(node, storage, applied);
  node.propose(enc.encode("a"));
  drain(node, storage, applied);
  const again = new RawNode({
    id: 7n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    random: () => 0,
    applied: 3,
  });
  assert.equal(again.status().commit, 3);
  assert.equal(again.status().term, 2);
  again.campaign();
  assert.equal(again.status().role, StateRole.Leader);
  assert.equal(again.status().term, 3);
  const got: Entry[] = [];
  drain(again, storage, got);
  assert.deepEqual(got.map((e) => e.index), [4]);
});
