import assert from "node:assert/strict";
import { create, fromBinary } from "@bufbuild/protobuf";
import { ConfChangeContextSchema, MemberRecordSchema } from "../gen/cairn/internal_pb.ts";
import { decodeConfChange, encodeConfChange } from "../raft/confchange.ts";
import { MemoryStorage } from "../raft/storage.ts";
import { RawNode } from "../raft/raw_node.ts";
import {
  type ConfChange,
  ConfChangeType,
  EMPTY_BYTES,
  type Entry,
  EntryType,
} from "../raft/types.ts";
import { forceNewClusterLog, type StandaloneInput } from "./standalone.ts";

const SELF = 2n;
const selfRecord = create(MemberRecordSchema, {
  id: SELF,
  name: "m2",
  peerUrls: ["http://127.0.0.1:2380"],
});

function cc(index: number, type: ConfChangeType, nodeId: bigint, term = 1): Entry {
  return {
    term,
    index,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type, nodeId, context: EMPTY_BYTES }),
  };
}

function put(index: number, term = 2): Entry {
  return { term, index, type: EntryType.Normal, data: new Uint8Array([index]) };
}

function changes(entries: Entry[]): [ConfChangeType, bigint][] {
  return entries.map((e) => {
    assert.equal(e.type, EntryType.ConfChange);
    const c: ConfChange = decodeConfChange(e.data);
    return [c.type, c.nodeId];
  });
}

const base: StandaloneInput = {
  self: SELF,
  selfRecord,
  snapshotConf: undefined,
  knownMembers: [1n, 2n, 3n],
  entries: [],
  hardState: { term: 2, vote: 1n, commit: 0 },
};

Deno.test("the whole log is kept and the others are removed by committed conf changes", () => {
  const entries = [
    cc(1, ConfChangeType.AddNode, 1n),
    cc(2, ConfChangeType.AddNode, 2n),
    cc(3, ConfChangeType.AddNode, 3n),
    put(4),
    put(5),
    put(6),
    put(7),
  ];
  const out = forceNewClusterLog({ ...base, entries, hardState: { term: 2, vote: 1n, commit: 5 } });
  // 6 and 7 may have been acknowledged: the persisted commit index lags.
  assert.equal(out.pastCommit, 2);
  assert.deepEqual(out.removed, [1n, 3n]);
  assert.deepEqual(out.appended.map((e) => [e.index, e.term]), [[8, 2], [9, 2]]);
  assert.deepEqual(changes(out.appended), [
    [ConfChangeType.RemoveNode, 1n],
    [ConfChangeType.RemoveNode, 3n],
  ]);
  assert.deepEqual(out.entries.map((e) => e.index), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(out.entries.slice(0, 7), entries);
  assert.deepEqual(out.hardState, { term: 2, vote: 1n, commit: 9 });
});

Deno.test("a snapshot's configuration and later conf changes decide who is removed", () => {
  const out = forceNewClusterLog({
    ...base,
    snapshotConf: { voters: [1n, 2n, 3n], learners: [9n] },
    knownMembers: [1n, 2n, 3n, 9n],
    entries: [cc(11, ConfChangeType.RemoveNode, 3n, 4), cc(12, ConfChangeType.AddNode, 5n, 4)],
    hardState: { term: 4, vote: 2n, commit: 12 },
  });
  assert.deepEqual(out.removed, [1n, 5n, 9n], "3 is already gone; the learner goes too");
  assert.deepEqual(out.appended.map((e) => e.index), [13, 14, 15]);
  assert.equal(out.hardState.commit, 15);
});

Deno.test("members only the state machine lists are removed as well", () => {
  const out = forceNewClusterLog({
    ...base,
    snapshotConf: { voters: [2n], learners: [] },
    knownMembers: [2n, 7n],
    hardState: { term: 3, vote: 0n, commit: 20 },
  });
  assert.deepEqual(out.removed, [7n]);
  assert.deepEqual(out.appended.map((e) => e.index), [21]);
});

Deno.test("a member missing from the configuration adds itself first, with its record", () => {
  const out = forceNewClusterLog({
    ...base,
    snapshotConf: { voters: [1n, 3n], learners: [] },
    knownMembers: [1n, 3n],
    hardState: { term: 5, vote: 0n, commit: 30 },
  });
  assert.deepEqual(changes(out.appended), [
    [ConfChangeType.AddNode, SELF],
    [ConfChangeType.RemoveNode, 1n],
    [ConfChangeType.RemoveNode, 3n],
  ]);
  const ctx = fromBinary(ConfChangeContextSchema, decodeConfChange(out.appended[0].data).context);
  assert.equal(ctx.member?.name, "m2");
  assert.deepEqual(ctx.member?.peerUrls, ["http://127.0.0.1:2380"]);
});

Deno.test("a bootstrapped member with an empty WAL gets its bootstrap entries first", () => {
  const out = forceNewClusterLog({
    ...base,
    hardState: { term: 0, vote: 0n, commit: 0 },
    bootstrap: { voters: [3n, 1n, 2n], learners: [] },
  });
  assert.deepEqual(changes(out.appended), [
    [ConfChangeType.AddNode, 1n],
    [ConfChangeType.AddNode, 2n],
    [ConfChangeType.AddNode, 3n],
    [ConfChangeType.RemoveNode, 1n],
    [ConfChangeType.RemoveNode, 3n],
  ]);
  assert.ok(out.appended.every((e) => e.term === 1));
  assert.deepEqual(out.hardState, { term: 1, vote: 0n, commit: 5 });
});

Deno.test("Raft restarted on the result has this member as its only voter and can lead", () => {
  const entries = [
    cc(1, ConfChangeType.AddNode, 1n),
    cc(2, ConfChangeType.AddNode, 2n),
    cc(3, ConfChangeType.AddNode, 3n),
    put(4),
  ];
  const out = forceNewClusterLog({ ...base, entries, hardState: { term: 2, vote: 1n, commit: 4 } });
  const storage = new MemoryStorage();
  storage.setHardState(out.hardState);
  storage.append(out.entries);
  const node = new RawNode({
    id: SELF,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    applied: 0,
    random: () => 0.5,
  });
  // The application applies what Raft hands it as committed.
  const rd = node.ready();
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [1, 2, 3, 4, 5, 6]);
  let conf = { voters: [] as bigint[], learners: [] as bigint[] };
  for (const e of rd.committedEntries) {
    if (e.type === EntryType.ConfChange) conf = node.applyConfChange(decodeConfChange(e.data));
  }
  node.advance(rd);
  assert.deepEqual(conf.voters, [SELF]);
  node.campaign();
  while (node.hasReady()) node.advance(node.ready());
  assert.equal(node.status().lead, SELF, "a quorum of one elects itself");
});

Deno.test("new entries never carry a lower term than the log's last one", () => {
  const entries = [cc(1, ConfChangeType.AddNode, 2n), cc(2, ConfChangeType.AddNode, 3n), put(3, 4)];
  // The hard state of term 4 was torn off after the entries that reached the disk.
  const out = forceNewClusterLog({
    ...base,
    knownMembers: [2n, 3n],
    entries,
    hardState: { term: 3, vote: 3n, commit: 2 },
  });
  assert.deepEqual(out.appended.map((e) => [e.index, e.term]), [[4, 4]]);
  assert.deepEqual(out.hardState, { term: 4, vote: 0n, commit: 4 });
});
