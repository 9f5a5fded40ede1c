/**
 * Plain data types shared by every part of the Raft core. Nothing here does
 * anything: it is the vocabulary of `RawNode` and its callers. Numbering of
 * the enums follows etcd's raftpb so a transport can map them one to one.
 *
 * @module
 */

/** A member id: a random 64-bit value, as etcd uses. `0n` means "none". */
export type NodeId = bigint;

/** The "no node" id: used for "no vote" and "no known leader". */
export const NONE: NodeId = 0n;

/** An empty byte array, shared to avoid allocating one per message. */
export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** What a log entry carries. */
export enum EntryType {
  /** Application data (may be empty: the leader's no-op on election). */
  Normal = 0,
  /** An encoded {@link ConfChange} (see `encodeConfChange`). */
  ConfChange = 1,
}

/** One entry of the replicated log. */
export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** The state that must be persisted before messages are sent. */
export interface HardState {
  term: number;
  /** Candidate voted for in `term`; `0n` = none. */
  vote: NodeId;
  commit: number;
}

/** The membership: voters count towards quorums, learners only replicate. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

/** Where a snapshot sits in the log, and the membership at that point. */
export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

/** A state machine snapshot: opaque `data` plus its position in the log. */
export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/** Message kinds; local ones (Hup, Beat, ...) never cross the network. */
export enum MessageType {
  /** Local: start an election. */
  Hup = 0,
  /** Local: leader should broadcast heartbeats. */
  Beat = 1,
  /** Proposal of new entries (local, or forwarded by a follower to the leader). */
  Prop = 2,
  App = 3,
  AppResp = 4,
  Vote = 5,
  VoteResp = 6,
  Snap = 7,
  Heartbeat = 8,
  HeartbeatResp = 9,
  /** Local: the transport could not reach `from`. */
  Unreachable = 10,
  /** Local: outcome of sending a snapshot to `from` (`reject` = failed). */
  SnapStatus = 11,
  /** Local: leader checks that a quorum was recently active. */
  CheckQuorum = 12,
  /** Ask the leader to hand leadership to `from`. */
  TransferLeader = 13,
  /** Leader tells the transferee to campaign right now. */
  TimeoutNow = 14,
  ReadIndex = 15,
  ReadIndexResp = 16,
  PreVote = 17,
  PreVoteResp = 18,
}

/** A Raft message between members (or a local input to `step`). */
export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  rejectHint: number;
  /** Read-index request context, or the campaign-transfer marker on votes. */
  context: Uint8Array;
  snapshot?: Snapshot;
}

/** Builds a message with every field defaulted, overridden by `fields`. */
export function newMessage(fields: Partial<Message> & { type: MessageType }): Message {
  // Field by field rather than a spread over defaults: one object of one
  // shape, and no empty entries array made only to be replaced (a
  // proposal or an append per request).
  const m: Message = {
    type: fields.type,
    to: fields.to ?? NONE,
    from: fields.from ?? NONE,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? EMPTY_BYTES,
  };
  if (fields.snapshot !== undefined) m.snapshot = fields.snapshot;
  return m;
}

/** A linearizable read point: once applied >= index, reads for requestCtx may be served. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

/** The role a member plays; numbering follows etcd's StateType. */
export enum StateRole {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

/** Volatile state worth telling the application about when it changes. */
export interface SoftState {
  leader: NodeId;
  role: StateRole;
}

/** Everything the application must do in one round (see RawNode). */
export interface Ready {
  /** Present when leader or role changed. */
  softState?: SoftState;
  /** Present when it changed; persist before sending messages. */
  hardState?: HardState;
  /** Entries to append to stable storage before sending messages. */
  entries: Entry[];
  /** Snapshot to persist and apply (install into the state machine). */
  snapshot?: Snapshot;
  /** Entries to apply to the state machine, in order. Already persisted. */
  committedEntries: Entry[];
  /** Messages to send after persisting the above. */
  messages: Message[];
  readStates: ReadState[];
  /** Whether the writes of this Ready need an fsync before continuing. */
  mustSync: boolean;
}

/** Membership change kinds; numbering follows etcd's ConfChangeType. */
export enum ConfChangeType {
  /** Add a voter, or promote an existing learner. */
  AddNode = 0,
  RemoveNode = 1,
  /** No change to the membership itself (e.g. peer URLs in the context). */
  UpdateNode = 2,
  AddLearner = 3,
}

/** A single membership change, proposed as an entry of type ConfChange. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  context: Uint8Array;
}

/** Current view of a peer's replication, as the leader tracks it. */
export interface PeerStatus {
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  isLearner: boolean;
  recentActive: boolean;
}

/** Snapshot of a member's Raft state, for diagnostics and the server. */
export interface Status {
  id: NodeId;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  lead: NodeId;
  role: StateRole;
  leadTransferee: NodeId;
  /** Only on the leader. */
  progress?: Map<NodeId, PeerStatus>;
}
