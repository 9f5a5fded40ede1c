/**
 * `--force-new-cluster`: turn a member's recovered log into that of a
 * one-member cluster, as etcd's restartAsStandaloneNode does: conf-change
 * entries that remove every other member (and add this one, should it be
 * missing) are appended and taken as committed. They go through the WAL and
 * are applied like any other entry (rule 1), so the membership, the Raft
 * configuration, the WAL and later snapshots all agree, and later restarts
 * without the flag replay the same log.
 *
 * One deliberate difference: etcd first drops the entries past
 * max(hard state commit, backend consistent index), both of which it keeps
 * current on disk even across a SIGKILL. cairn does not write a hard state
 * whose only change is the commit index (member.ts defers it to the next
 * write), so its persisted commit lags what the member knew: dropping past
 * it would drop writes clients were told succeeded (a follower that applied
 * the last put lost it in tests/force_new_cluster_test.ts). The whole log is
 * kept instead. That is the outcome Raft itself allows had this member won
 * an election with its log; the only entries it can add are ones whose
 * clients never got an answer.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { ConfChangeContextSchema, type MemberRecord } from "../gen/cairn/internal_pb.ts";
import { decodeConfChange, encodeConfChange } from "../raft/confchange.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type HardState,
} from "../raft/types.ts";

/** What a restarting member recovered, and who it is. */
export interface StandaloneInput {
  /** This member's id. */
  self: bigint;
  /** This member's record, carried by the conf change that adds it if it is missing. */
  selfRecord: MemberRecord;
  /** Membership of the snapshot the state machine was restored from (none: undefined). */
  snapshotConf: ConfState | undefined;
  /** Ids of the members the state machine starts with (snapshot or bootstrap records). */
  knownMembers: readonly bigint[];
  /** Entries after the snapshot, as replayed from the WAL. */
  entries: readonly Entry[];
  /** The recovered hard state; `commit` already covers the snapshot. */
  hardState: HardState;
  /**
   * The initial voters and learners, when the member bootstrapped a new
   * cluster but crashed before its first log entries reached the WAL:
   * those entries are made here first, exactly as Raft would have.
   */
  bootstrap?: { voters: readonly bigint[]; learners: readonly bigint[] };
}

/** The log to restart from. */
export interface StandaloneLog {
  /** Every entry after the snapshot: the recovered ones, then `appended`. */
  entries: Entry[];
  /** The entries to write to the WAL. */
  appended: Entry[];
  /** Hard state to persist with them: everything in `entries` is committed. */
  hardState: HardState;
  /** Members the appended entries remove, ascending. */
  removed: bigint[];
  /** How many recovered entries were past the persisted commit index (now committed). */
  pastCommit: number;
}

/** Builds the log of a one-member cluster from a member's recovered log. */
export function forceNewClusterLog(input: StandaloneInput): StandaloneLog {
  const { self, hardState } = input;
  const commit = hardState.commit;
  const kept = [...input.entries];
  const pastCommit = kept.filter((e) => e.index > commit).length;
  const appended: Entry[] = [];
  // Raft needs a term of at least 1 for real entries (a member that never
  // wrote its bootstrap entries is still at term 0), and terms never go
  // down along the log (a torn write can keep entries without the hard
  // state written after them).
  const term = Math.max(hardState.term, kept.at(-1)?.term ?? 0, 1);
  let next = (kept.at(-1)?.index ?? commit) + 1;
  const push = (cc: ConfChange) =>
    appended.push({ term, index: next++, type: EntryType.ConfChange, data: encodeConfChange(cc) });

  if (input.bootstrap && kept.length === 0 && input.snapshotConf === undefined) {
    const byId = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
    for (const id of [...input.bootstrap.voters].sort(byId)) {
      push({ type: ConfChangeType.AddNode, nodeId: id, context: EMPTY_BYTES });
    }
    for (const id of [...input.bootstrap.learners].sort(byId)) {
      push({ type: ConfChangeType.AddLearner, nodeId: id, context: EMPTY_BYTES });
    }
  }

  const log = [...kept, ...appended];
  const conf = input.snapshotConf;
  const inRaft = afterChanges([...(conf?.voters ?? []), ...(conf?.learners ?? [])], log);
  // Self first: Raft must never be left without a voter.
  if (!inRaft.has(self)) {
    const context = toBinary(
      ConfChangeContextSchema,
      create(ConfChangeContextSchema, { member: { ...input.selfRecord, isLearner: false } }),
    );
    push({ type: ConfChangeType.AddNode, nodeId: self, context });
  }
  // Members only the state machine still lists are removed too, so the
  // member list ends with this member alone whatever the records held.
  const others = new Set([...inRaft, ...afterChanges(input.knownMembers, log)]);
  others.delete(self);
  const removed = [...others].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of removed) {
    push({ type: ConfChangeType.RemoveNode, nodeId: id, context: EMPTY_BYTES });
  }

  const entries = [...kept, ...appended];
  const last = entries.at(-1)?.index ?? commit;
  return {
    entries,
    appended,
    hardState: {
      term,
      vote: term === hardState.term ? hardState.vote : 0n,
      commit: Math.max(commit, last),
    },
    removed,
    pastCommit,
  };
}

/** The member ids `start` becomes through the conf changes in `entries`. */
function afterChanges(start: readonly bigint[], entries: readonly Entry[]): Set<bigint> {
  const ids = new Set<bigint>(start);
  for (const e of entries) {
    if (e.type !== EntryType.ConfChange) continue;
    const cc = decodeConfChange(e.data);
    if (cc.type === ConfChangeType.AddNode || cc.type === ConfChangeType.AddLearner) {
      ids.add(cc.nodeId);
    } else if (cc.type === ConfChangeType.RemoveNode) {
      ids.delete(cc.nodeId);
    }
  }
  return ids;
}
