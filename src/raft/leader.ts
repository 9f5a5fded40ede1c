/**
 * The leader's side of Raft: the leader step function, log replication
 * (probe / replicate / snapshot), commit, heartbeats, ReadIndex and
 * leadership transfer. Functions over a `Raft` so raft.ts stays readable.
 *
 * @module
 */

import { ErrCompacted, InvalidMessage, ProposalDropped } from "./errors.ts";
import { ProgressState } from "./progress.ts";
import type { Raft } from "./raft.ts";
import {
  EMPTY_BYTES,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  newMessage,
  type NodeId,
  NONE,
} from "./types.ts";

/** Commits whatever a quorum has matched (entries of the current term only). */
export function maybeCommit(r: Raft): boolean {
  const mci = r.trk.committed();
  if (mci === Infinity) return false;
  return r.log.maybeCommit(mci, r.term);
}

/**
 * Sends the follower what it is missing: entries from `next`, or a snapshot
 * when those are compacted. With `sendIfEmpty` false nothing is sent when
 * there are no new entries. Returns whether a message was sent.
 */
export function sendAppend(r: Raft, to: NodeId, sendIfEmpty = true): boolean {
  const pr = r.trk.progress.get(to);
  if (pr === undefined || pr.isPaused()) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  let ents: Entry[] | null = null;
  if (prevTerm !== null) {
    try {
      ents = r.log.entries(pr.next, r.maxMsgSize);
    } catch (e) {
      if (!(e instanceof ErrCompacted)) throw e;
    }
  }
  if (prevTerm === null || ents === null) {
    // The follower needs entries we no longer have: send the snapshot, but
    // only to a member that answered lately (it is costly and may be wasted).
    if (!pr.recentActive) return false;
    const snap = r.log.snapshot();
    if (snap.meta.index === 0) return false; // no snapshot yet; retry later
    // One that ends before the log starts bridges nothing: the follower
    // would need the entries in between, which are gone. A newer one is
    // being written (a lone member that just gained a peer kept no applied
    // entries); retry later, as etcd does on ErrSnapshotTemporarilyUnavailable.
    if (snap.meta.index < r.log.firstIndex() - 1) return false;
    r.send(newMessage({ type: MessageType.Snap, to, snapshot: snap }));
    pr.becomeSnapshot(snap.meta.index);
    return true;
  }
  if (ents.length === 0 && !sendIfEmpty) return false;
  r.send(newMessage({
    type: MessageType.App,
    to,
    index: prevIndex,
    logTerm: prevTerm,
    entries: ents,
    commit: r.log.committed,
  }));
  pr.sentEntries(ents.length, prevIndex + ents.length);
  return true;
}

/** Sends appends (or empty ones carrying the commit index) to every other member. */
export function bcastAppend(r: Raft): void {
  for (const id of r.trk.progress.keys()) {
    if (id !== r.id) sendAppend(r, id);
  }
}

/** Sends heartbeats carrying `ctx` (default: newest pending read request). */
export function bcastHeartbeat(r: Raft, ctx?: Uint8Array): void {
  const context = ctx ?? r.readOnly.lastPendingRequestCtx() ?? EMPTY_BYTES;
  for (const [id, pr] of r.trk.progress) {
    if (id === r.id) continue;
    // Never tell a follower to commit past what it is known to hold.
    const commit = Math.min(pr.match, r.log.committed);
    r.send(newMessage({ type: MessageType.Heartbeat, to: id, commit, context }));
  }
}

/** Whether the leader has committed an entry of its own term (needed before serving reads). */
function committedEntryInCurrentTerm(r: Raft): boolean {
  return r.log.zeroTerm(r.log.committed) === r.term;
}

/** Answers a read request with read index `index`, locally or to the forwarding follower. */
function respondToReadIndex(r: Raft, req: Message, index: number): void {
  if (req.from === NONE || req.from === r.id) {
    r.readStates.push({ index, requestCtx: req.context });
  } else {
    r.send(
      newMessage({ type: MessageType.ReadIndexResp, to: req.from, index, context: req.context }),
    );
  }
}

function handleReadIndex(r: Raft, m: Message): void {
  if (r.trk.isSingleton(r.id)) {
    respondToReadIndex(r, m, r.log.committed);
    return;
  }
  // Remember the commit index now, then confirm leadership with a heartbeat round.
  r.readOnly.addRequest(r.log.committed, m);
  r.readOnly.recvAck(r.id, m.context);
  bcastHeartbeat(r, m.context);
}

/** Serves reads that waited for the first commit of this term. */
export function releasePendingReadIndexMessages(r: Raft): void {
  if (r.pendingReadIndexMessages.length === 0 || !committedEntryInCurrentTerm(r)) return;
  const pending = r.pendingReadIndexMessages;
  r.pendingReadIndexMessages = [];
  for (const m of pending) handleReadIndex(r, m);
}

function sendTimeoutNow(r: Raft, to: NodeId): void {
  r.send(newMessage({ type: MessageType.TimeoutNow, to }));
}

function propose(r: Raft, m: Message): void {
  if (m.entries.length === 0) throw new InvalidMessage("raft: stepped empty proposal");
  checkProposable(r);
  for (let i = 0; i < m.entries.length; i++) {
    if (m.entries[i].type !== EntryType.ConfChange) continue;
    // One membership change at a time: the previous one must be applied first.
    if (r.pendingConfIndex > r.log.applied) {
      throw new ProposalDropped("raft: a configuration change is still pending");
    }
    r.pendingConfIndex = r.log.lastIndex() + i + 1;
  }
  r.appendEntries(m.entries);
  bcastAppend(r);
}

/** Throws ProposalDropped when this leader cannot take proposals now. */
function checkProposable(r: Raft): void {
  if (!r.trk.progress.has(r.id)) throw new ProposalDropped("raft: leader was removed");
  if (r.leadTransferee !== NONE) throw new ProposalDropped("raft: leadership transfer in progress");
}

/**
 * A leader's own proposal of one normal entry: what stepping a MsgProp
 * carrying it does (same checks, same append, same broadcast), without the
 * message, the entries arrays and the proposal entry that the step would
 * build and drop at once. This is every client write's path on a leader.
 */
export function proposeNormal(r: Raft, data: Uint8Array): void {
  checkProposable(r);
  r.appendEntry(EntryType.Normal, data);
  bcastAppend(r);
}

/** The leader's step function. */
export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.Beat:
      bcastHeartbeat(r);
      return;
    case MessageType.CheckQuorum:
      if (!r.trk.quorumActive(r.id)) r.becomeFollower(r.term, NONE);
      for (const [id, pr] of r.trk.progress) if (id !== r.id) pr.recentActive = false;
      return;
    case MessageType.Prop:
      propose(r, m);
      return;
    case MessageType.ReadIndex:
      if (!committedEntryInCurrentTerm(r)) r.pendingReadIndexMessages.push(m);
      else handleReadIndex(r, m);
      return;
  }
  const pr = r.trk.progress.get(m.from);
  if (pr === undefined) return;
  switch (m.type) {
    case MessageType.AppResp: {
      pr.recentActive = true;
      if (m.reject) {
        let nextProbe = m.rejectHint;
        if (m.logTerm > 0) nextProbe = r.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
        if (pr.maybeDecrTo(m.index, nextProbe)) {
          if (pr.state === ProgressState.Replicate) pr.becomeProbe();
          sendAppend(r, m.from);
        }
        return;
      }
      const oldPaused = pr.isPaused();
      if (!pr.maybeUpdate(m.index)) return;
      if (pr.state === ProgressState.Probe) {
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= r.log.firstIndex()) {
        // The follower caught up past our compaction point: resume normal replication.
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === ProgressState.Replicate) {
        pr.inflights.freeLE(m.index);
      }
      if (maybeCommit(r)) {
        releasePendingReadIndexMessages(r);
        bcastAppend(r);
      } else if (oldPaused) {
        sendAppend(r, m.from);
      }
      // Fill the pipe while the inflight window allows.
      while (sendAppend(r, m.from, false)) { /* keep sending */ }
      if (m.from === r.leadTransferee && pr.match === r.log.lastIndex()) {
        sendTimeoutNow(r, m.from);
      }
      return;
    }
    case MessageType.HeartbeatResp: {
      pr.recentActive = true;
      pr.msgAppFlowPaused = false;
      // Appends may have been lost with the window full: free one slot so an
      // append goes out, whose rejection (if lost) drops us back to probing.
      if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
      if (pr.match < r.log.lastIndex() || pr.state === ProgressState.Probe) sendAppend(r, m.from);
      if (m.context.length === 0) return;
      const acks = r.readOnly.recvAck(m.from, m.context);
      if (acks === undefined || !r.trk.hasQuorum(acks)) return;
      for (const rs of r.readOnly.advance(m.context)) respondToReadIndex(r, rs.req, rs.index);
      return;
    }
    case MessageType.SnapStatus:
      if (pr.state !== ProgressState.Snapshot) return;
      if (m.reject) pr.pendingSnapshot = 0; // failed: probe from the match instead
      pr.becomeProbe();
      // Wait for the follower's answer (or the next heartbeat) before probing.
      pr.msgAppFlowPaused = true;
      return;
    case MessageType.Unreachable:
      if (pr.state === ProgressState.Replicate) pr.becomeProbe();
      return;
    case MessageType.TransferLeader: {
      if (pr.isLearner) return;
      const transferee = m.from;
      if (r.leadTransferee !== NONE) {
        if (r.leadTransferee === transferee) return;
        r.leadTransferee = NONE;
      }
      if (transferee === r.id) return;
      // The transfer must finish within an election timeout.
      r.electionElapsed = 0;
      r.leadTransferee = transferee;
      if (pr.match === r.log.lastIndex()) sendTimeoutNow(r, transferee);
      else sendAppend(r, transferee);
      return;
    }
  }
}
