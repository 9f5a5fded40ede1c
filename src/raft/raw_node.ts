/**
 * RawNode: the application's handle on the Raft core, shaped like
 * etcd-io/raft's RawNode. The loop the application runs:
 *
 * ```ts
 * node.tick();                 // from a timer
 * node.step(msgFromPeer);      // from the transport
 * node.propose(data);          // from clients
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   // 1. persist rd.hardState, rd.entries, rd.snapshot (WAL, fsync if rd.mustSync)
 *   //    and mirror them into the MemoryStorage (applySnapshot, append, setHardState)
 *   // 2. send rd.messages
 *   // 3. apply rd.snapshot and rd.committedEntries (calling applyConfChange for
 *   //    ConfChange entries), serve rd.readStates
 *   node.advance(rd);
 * }
 * ```
 *
 * @module
 */

import { encodeConfChange } from "./confchange.ts";
import { InvalidMessage, ProposalDropped } from "./errors.ts";
import { proposeNormal } from "./leader.ts";
import { ProgressState } from "./progress.ts";
import { Raft, type RaftConfig } from "./raft.ts";
import {
  type ConfChange,
  type ConfState,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  newMessage,
  type NodeId,
  type PeerStatus,
  type Ready,
  type SoftState,
  StateRole,
  type Status,
} from "./types.ts";

export type { RaftConfig } from "./raft.ts";

const LOCAL_TYPES = new Set([
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
]);

const RESPONSE_TYPES = new Set([
  MessageType.AppResp,
  MessageType.VoteResp,
  MessageType.HeartbeatResp,
  MessageType.PreVoteResp,
]);

const STATE_NAMES: Record<ProgressState, PeerStatus["state"]> = {
  [ProgressState.Probe]: "probe",
  [ProgressState.Replicate]: "replicate",
  [ProgressState.Snapshot]: "snapshot",
};

/** The application-facing Raft node (no goroutines, no I/O: the caller drives it). */
export class RawNode {
  /** The underlying state machine (exposed for tests and diagnostics). */
  readonly raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;

  /** Starts from `cfg.storage` (bootstrapping `cfg.peers` if the storage is empty). */
  constructor(cfg: RaftConfig) {
    this.raft = new Raft(cfg);
    this.#prevSoft = this.#softState();
    this.#prevHard = cfg.storage.hardState();
  }

  #softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  /** Advances the logical clock (elections, heartbeats) by one tick. */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (pre-vote first when enabled). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.Hup, from: this.raft.id }));
  }

  /** Proposes application data; throws ProposalDropped when it cannot be accepted. */
  propose(data: Uint8Array): void {
    const r = this.raft;
    // A leader appends at once: stepping a MsgProp would do the same through
    // a message and two arrays made per client write.
    if (r.role === StateRole.Leader) return proposeNormal(r, data);
    r.step(newMessage({
      type: MessageType.Prop,
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.Normal, data }],
    }));
  }

  /** Proposes a membership change; it takes effect when applied via applyConfChange. */
  proposeConfChange(cc: ConfChange): void {
    this.raft.step(newMessage({
      type: MessageType.Prop,
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }],
    }));
  }

  /** Applies a committed membership change; returns the resulting membership. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /** Processes a message from a peer. Local-only message types are refused. */
  step(m: Message): void {
    if (LOCAL_TYPES.has(m.type)) {
      throw new InvalidMessage(`raft: cannot step local message ${MessageType[m.type]}`);
    }
    // Responses from members we no longer track are meaningless.
    if (RESPONSE_TYPES.has(m.type) && !this.raft.trk.progress.has(m.from)) return;
    try {
      this.raft.step(m);
    } catch (e) {
      // A forwarded proposal the leader cannot take: the proposer will time out and retry.
      if (!(e instanceof ProposalDropped)) throw e;
    }
  }

  /**
   * Requests a linearizable read point; the answer comes back as a ReadState
   * with the same `ctx` (which must be unique per request). Silently dropped
   * when no leader is known: the caller retries.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(newMessage({ type: MessageType.ReadIndex, context: ctx }));
  }

  /** Asks the leader to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.TransferLeader, from: to }));
  }

  /** The transport failed to reach `id`: stop streaming to it optimistically. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.Unreachable, from: id }));
  }

  /** Outcome of sending a snapshot to `id`. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage({ type: MessageType.SnapStatus, from: id, reject: !ok }));
  }

  /** Whether `ready()` has anything to hand out. */
  hasReady(): boolean {
    const r = this.raft;
    const soft = this.#softState();
    if (soft.leader !== this.#prevSoft.leader || soft.role !== this.#prevSoft.role) return true;
    if (!sameHardState(r.hardState(), this.#prevHard)) return true;
    const u = r.log.unstable;
    if (u.snapshot !== undefined || u.entries.length > 0) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    return r.log.hasNextCommittedEnts();
  }

  /** Collects the work for the application; must be followed by `advance(rd)`. */
  ready(): Ready {
    const r = this.raft;
    const entries = r.log.unstableEntries().slice();
    const snapshot = r.log.unstable.snapshot;
    const rd: Ready = {
      entries,
      committedEntries: r.log.nextCommittedEnts(),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    if (snapshot !== undefined) rd.snapshot = snapshot;
    const soft = this.#softState();
    if (soft.leader !== this.#prevSoft.leader || soft.role !== this.#prevSoft.role) {
      rd.softState = soft;
      this.#prevSoft = soft;
    }
    const hs = r.hardState();
    if (!sameHardState(hs, this.#prevHard)) {
      rd.hardState = hs;
      // Commit-only changes need no fsync: the commit index can be recovered.
      rd.mustSync = hs.term !== this.#prevHard.term || hs.vote !== this.#prevHard.vote;
      this.#prevHard = hs;
    }
    rd.mustSync ||= entries.length > 0 || snapshot !== undefined;
    r.msgs = [];
    r.readStates = [];
    return rd;
  }

  /** Tells the core that `rd` was persisted and its committed entries applied. */
  advance(rd: Ready): void {
    const log = this.raft.log;
    if (rd.snapshot !== undefined) {
      log.unstable.stableSnapTo(rd.snapshot.meta.index);
      if (log.applied < rd.snapshot.meta.index) log.applied = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      log.unstable.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index);
    }
    this.raft.onPersisted();
  }

  /** The member's current state; progress of every member on the leader. */
  status(): Status {
    const r = this.raft;
    const st: Status = {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.log.committed,
      applied: r.log.applied,
      lead: r.lead,
      role: r.role,
      leadTransferee: r.leadTransferee,
    };
    if (r.role === StateRole.Leader) {
      st.progress = new Map();
      for (const [id, pr] of r.trk.progress) {
        st.progress.set(id, {
          match: pr.match,
          next: pr.next,
          state: STATE_NAMES[pr.state],
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
        });
      }
    }
    return st;
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
