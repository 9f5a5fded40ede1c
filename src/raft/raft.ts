/**
 * The Raft state machine: terms, votes, roles, elections and the follower
 * and candidate step functions. The leader's step function and replication
 * live in `leader.ts`. Pure: inputs are `tick` and `step`, outputs collect
 * in `msgs` and `readStates` and in the log, for RawNode to hand out.
 *
 * @module
 */

import { decodeConfChange, encodeConfChange } from "./confchange.ts";
import { InvariantViolation } from "./errors.ts";
import {
  bcastAppend,
  bcastHeartbeat,
  maybeCommit,
  releasePendingReadIndexMessages,
  stepLeader,
} from "./leader.ts";
import { stepCandidate, stepFollower } from "./follower.ts";
import { RaftLog } from "./log.ts";
import { ReadOnly } from "./read_only.ts";
import type { MemoryStorage } from "./storage.ts";
import { ProgressTracker, VoteResult } from "./tracker.ts";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  newMessage,
  type NodeId,
  NONE,
  type ReadState,
  StateRole,
} from "./types.ts";

/** Marks votes of a leadership transfer, which bypass leases (as in etcd). */
export const CAMPAIGN_TRANSFER: Uint8Array = new TextEncoder().encode("CampaignTransfer");

/** Configuration of one Raft member. */
export interface RaftConfig {
  /** This member's id (non-zero). */
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning (randomized to [n, 2n)). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  heartbeatTick: number;
  /** The persisted log the member starts from. */
  storage: MemoryStorage;
  /** Last index the application had applied before a restart. */
  applied?: number;
  /** Run a pre-election round first, so partitioned members do not disrupt with higher terms. */
  preVote?: boolean;
  /** Leader steps down when it has not heard from a quorum for an election timeout. */
  checkQuorum?: boolean;
  /** Byte limit of the entries in one append message (at least one entry is always sent). */
  maxSizePerMsg?: number;
  /** Maximum appends in flight to one follower in the Replicate state. */
  maxInflightMsgs?: number;
  /** Source of randomness in [0, 1) (election timeout jitter). */
  random: () => number;
  /** Initial voters of a fresh cluster (ignored when storage is not empty). */
  peers?: NodeId[];
  /** Initial learners of a fresh cluster. */
  learners?: NodeId[];
}

/** Which kind of election to run. */
export enum CampaignType {
  PreElection = 0,
  Election = 1,
  Transfer = 2,
}

const byId = (a: NodeId, b: NodeId) => (a < b ? -1 : a > b ? 1 : 0);

function voteRespType(t: MessageType): MessageType {
  return t === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
}

/** One member's consensus state. */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: StateRole = StateRole.Follower;
  readonly log: RaftLog;
  readonly trk: ProgressTracker;
  /** Outgoing messages, drained by RawNode.ready(). */
  msgs: Message[] = [];
  /** Answered read requests, drained by RawNode.ready(). */
  readStates: ReadState[] = [];
  readOnly: ReadOnly = new ReadOnly();
  /** Reads that arrived before the leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = [];
  leadTransferee: NodeId = NONE;
  /** Index of the last conf change proposed; a new one waits until it is applied. */
  pendingConfIndex = 0;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly maxMsgSize: number;
  readonly #random: () => number;

  /** Builds the member from its persisted state (or bootstraps a fresh cluster). */
  constructor(cfg: RaftConfig) {
    if (cfg.id === NONE) throw new Error("raft: cannot use none as id");
    if (cfg.heartbeatTick <= 0) throw new Error("raft: heartbeat tick must be greater than 0");
    if (cfg.electionTick <= cfg.heartbeatTick) {
      throw new Error("raft: election tick must be greater than heartbeat tick");
    }
    this.id = cfg.id;
    this.electionTimeout = cfg.electionTick;
    this.heartbeatTimeout = cfg.heartbeatTick;
    this.checkQuorum = cfg.checkQuorum ?? false;
    this.preVote = cfg.preVote ?? false;
    this.maxMsgSize = cfg.maxSizePerMsg ?? 1024 * 1024;
    this.#random = cfg.random;
    const storage = cfg.storage;
    this.log = new RaftLog(storage);
    this.trk = new ProgressTracker(cfg.maxInflightMsgs ?? 256);
    const { hardState, confState } = storage.initialState();
    this.trk.reset(confState, this.log.lastIndex() + 1);
    const fresh = storage.lastIndex() === 0 && hardState.term === 0;
    if (fresh && (cfg.peers?.length ?? 0) > 0) {
      this.#bootstrap(cfg.peers ?? [], cfg.learners ?? []);
      return;
    }
    if (hardState.term !== 0 || hardState.commit !== 0) this.#loadState(hardState);
    if (cfg.applied && cfg.applied > this.log.applied) this.log.appliedTo(cfg.applied);
    this.#replayConfChanges();
    this.becomeFollower(this.term, NONE);
  }

  /**
   * A fresh cluster starts with one committed ConfChange entry per initial
   * member at term 1, as etcd does: the membership is in the log, so a
   * restart rebuilds it from there, and the application applies them as
   * ordinary committed entries.
   */
  #bootstrap(peers: NodeId[], learners: NodeId[]): void {
    const ccs: ConfChange[] = [
      ...[...peers].sort(byId).map((id) => ({ type: ConfChangeType.AddNode, nodeId: id })),
      ...[...learners].sort(byId).map((id) => ({ type: ConfChangeType.AddLearner, nodeId: id })),
    ].map((c) => ({ ...c, context: EMPTY_BYTES }));
    const ents: Entry[] = ccs.map((cc, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange(cc),
    }));
    this.becomeFollower(1, NONE);
    this.log.append(ents);
    this.log.committed = ents.length;
    for (const cc of ccs) this.applyConfChange(cc);
  }

  /**
   * After a restart, the membership is that of the snapshot plus every conf
   * change the application had already applied (entries up to `applied`).
   * Later ones come back as committed entries and are applied again.
   */
  #replayConfChanges(): void {
    const lo = this.log.firstIndex();
    const hi = Math.min(this.log.applied, this.log.lastIndex());
    if (hi < lo) return;
    for (const e of this.log.slice(lo, hi + 1)) {
      if (e.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(e.data));
    }
  }

  #loadState(hs: HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new InvariantViolation(
        `raft: commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`,
      );
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** The state to persist. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Whether this member may become leader (it is a voter). */
  promotable(): boolean {
    return this.trk.voters.has(this.id);
  }

  /** Queues an outgoing message, stamping sender and term. */
  send(m: Message): void {
    if (m.from === NONE) m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.Vote || t === MessageType.VoteResp || t === MessageType.PreVote ||
      t === MessageType.PreVoteResp
    ) {
      if (m.term === 0) {
        throw new InvariantViolation(`raft: term should be set when sending ${MessageType[t]}`);
      }
    } else if (t !== MessageType.Prop && t !== MessageType.ReadIndex) {
      // Proposals and read requests forwarded to the leader carry no term (local messages).
      m.term = this.term;
    }
    this.msgs.push(m);
  }

  // ---- role transitions ----

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout +
      Math.floor(this.#random() * this.electionTimeout);
    this.leadTransferee = NONE;
    this.trk.resetVotes();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.trk.progress) {
      pr.match = id === this.id ? this.log.stableLastIndex() : 0;
      pr.next = next;
      pr.becomeProbe();
      pr.next = next;
      pr.recentActive = false;
    }
    this.pendingConfIndex = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  /** Becomes a follower of `lead` (or of nobody) in `term`. */
  becomeFollower(term: number, lead: NodeId): void {
    this.#reset(term);
    this.lead = lead;
    this.role = StateRole.Follower;
  }

  /** Starts an election in the next term, voting for itself. */
  becomeCandidate(): void {
    if (this.role === StateRole.Leader) {
      throw new InvariantViolation("raft: leader cannot become candidate");
    }
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = StateRole.Candidate;
  }

  /** Starts a pre-election: the term does not change until a quorum would vote for us. */
  becomePreCandidate(): void {
    if (this.role === StateRole.Leader) {
      throw new InvariantViolation("raft: leader cannot become pre-candidate");
    }
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = StateRole.PreCandidate;
  }

  /** Takes leadership of the current term and appends the empty entry of the term. */
  becomeLeader(): void {
    if (this.role === StateRole.Follower) {
      throw new InvariantViolation("raft: follower cannot become leader");
    }
    this.#reset(this.term);
    this.lead = this.id;
    this.role = StateRole.Leader;
    this.trk.progress.get(this.id)?.becomeReplicate();
    // Conservatively treat any entry of earlier terms as a possibly pending conf change.
    this.pendingConfIndex = this.log.lastIndex();
    this.appendEntries([{ term: 0, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }]);
  }

  /** Leader: appends entries of the current term to its own log (acknowledged once persisted). */
  appendEntries(ents: Entry[]): void {
    const li = this.log.lastIndex();
    const term = this.term;
    // New entry objects (the proposal's may be shared, by a simulated
    // network for one), made in a plain loop: no closure per proposal.
    const out: Entry[] = [];
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i];
      out.push({ term, index: li + 1 + i, type: e.type, data: e.data });
    }
    this.log.append(out);
  }

  /** Leader: appends one entry of the current term (see {@link appendEntries}). */
  appendEntry(type: EntryType, data: Uint8Array): void {
    this.log.appendOne({ term: this.term, index: this.log.lastIndex() + 1, type, data });
  }

  /** Called once everything up to the stable index is persisted: the leader acks itself. */
  onPersisted(): void {
    if (this.role !== StateRole.Leader) return;
    const pr = this.trk.progress.get(this.id);
    if (pr && pr.maybeUpdate(this.log.stableLastIndex()) && maybeCommit(this)) {
      releasePendingReadIndexMessages(this);
      bcastAppend(this);
    }
  }

  // ---- timers ----

  /** Advances the logical clock by one tick. */
  tick(): void {
    if (this.role === StateRole.Leader) this.#tickHeartbeat();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.Hup, from: this.id }));
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(newMessage({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === StateRole.Leader) this.leadTransferee = NONE;
    }
    if (this.role !== StateRole.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---- elections ----

  /** Starts an election of the given type (no-op for leaders and non-voters). */
  hup(t: CampaignType): void {
    if (this.role === StateRole.Leader) return;
    if (!this.promotable()) return;
    this.campaign(t);
  }

  /** Runs an election round, voting for itself and asking every other voter. */
  campaign(t: CampaignType): void {
    let voteMsg: MessageType;
    let term: number;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.PreVote;
      term = this.term + 1; // the term we would campaign in
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    if (this.trk.recordVote(this.id, true) === VoteResult.Won) {
      // Single voter: we won on our own vote.
      if (t === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    const ids = [...this.trk.voters].sort(byId);
    for (const id of ids) {
      if (id === this.id) continue;
      this.send(newMessage({
        type: voteMsg,
        to: id,
        term,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: t === CampaignType.Transfer ? CAMPAIGN_TRANSFER : EMPTY_BYTES,
      }));
    }
  }

  // ---- step ----

  /** Processes one message (local input or from a peer). */
  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = sameBytes(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.checkQuorum && this.lead !== NONE &&
          this.electionElapsed < this.electionTimeout;
        // We heard from a leader recently: ignore the vote (it may be a partitioned member).
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change our term in response to a PreVote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote carries the future term; the term changes when a quorum grants it.
      } else if (
        m.type === MessageType.App || m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // A stale leader, possibly cut off; our higher term makes it step down.
        this.send(newMessage({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(newMessage({
          type: MessageType.PreVoteResp,
          to: m.from,
          term: this.term,
          reject: true,
        }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(this.preVote ? CampaignType.PreElection : CampaignType.Election);
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote = this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          this.send(newMessage({ type: voteRespType(m.type), to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(newMessage({
            type: voteRespType(m.type),
            to: m.from,
            term: this.term,
            reject: true,
          }));
        }
        return;
      }
    }
    switch (this.role) {
      case StateRole.Leader:
        stepLeader(this, m);
        return;
      case StateRole.Candidate:
      case StateRole.PreCandidate:
        stepCandidate(this, m);
        return;
      default:
        stepFollower(this, m);
    }
  }

  // ---- membership ----

  /** Applies a committed conf change to the membership; returns the new membership. */
  applyConfChange(cc: ConfChange): ConfState {
    const next = this.log.lastIndex() + 1;
    switch (cc.type) {
      case ConfChangeType.AddNode:
        this.trk.addVoter(cc.nodeId, next);
        break;
      case ConfChangeType.AddLearner:
        this.trk.addLearner(cc.nodeId, next);
        break;
      case ConfChangeType.RemoveNode:
        this.trk.remove(cc.nodeId);
        break;
      case ConfChangeType.UpdateNode:
        break;
    }
    if (this.role === StateRole.Leader) {
      if (!this.trk.voters.has(this.id)) {
        // Removed (or never a voter): let the remaining members elect a leader.
        this.becomeFollower(this.term, NONE);
      } else {
        if (this.leadTransferee !== NONE && !this.trk.voters.has(this.leadTransferee)) {
          this.leadTransferee = NONE;
        }
        // A smaller quorum may commit more right away.
        if (maybeCommit(this)) releasePendingReadIndexMessages(this);
        bcastAppend(this);
      }
    }
    return this.trk.confState();
  }

  /** Leader: broadcasts heartbeats (exposed for RawNode and tests). */
  bcastHeartbeat(): void {
    bcastHeartbeat(this);
  }
}

/** Byte-wise equality. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
