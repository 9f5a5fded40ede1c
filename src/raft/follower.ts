/**
 * Step functions of followers and candidates: voting rounds, and the
 * follower side of replication (appends, heartbeats, snapshots).
 *
 * @module
 */

import { ProposalDropped } from "./errors.ts";
import { bcastAppend } from "./leader.ts";
import { CampaignType, type Raft } from "./raft.ts";
import { VoteResult } from "./tracker.ts";
import { type Message, MessageType, newMessage, NONE, type Snapshot, StateRole } from "./types.ts";

/** Step function of candidates and pre-candidates. */
export function stepCandidate(r: Raft, m: Message): void {
  const myVoteResp = r.role === StateRole.PreCandidate
    ? MessageType.PreVoteResp
    : MessageType.VoteResp;
  switch (m.type) {
    case MessageType.Prop:
      throw new ProposalDropped("raft: no leader (election in progress)");
    case MessageType.App:
      r.becomeFollower(m.term, m.from);
      handleAppendEntries(r, m);
      return;
    case MessageType.Heartbeat:
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case MessageType.Snap:
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case myVoteResp: {
      const res = r.trk.recordVote(m.from, !m.reject);
      if (res === VoteResult.Won) {
        if (r.role === StateRole.PreCandidate) {
          r.campaign(CampaignType.Election);
        } else {
          r.becomeLeader();
          bcastAppend(r);
        }
      } else if (res === VoteResult.Lost) {
        r.becomeFollower(r.term, NONE);
      }
      return;
    }
  }
}

/** Step function of followers. */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case MessageType.Prop:
      if (r.lead === NONE) throw new ProposalDropped("raft: no leader");
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.App:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleAppendEntries(r, m);
      return;
    case MessageType.Heartbeat:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleHeartbeat(r, m);
      return;
    case MessageType.Snap:
      r.electionElapsed = 0;
      r.lead = m.from;
      handleSnapshot(r, m);
      return;
    case MessageType.TransferLeader:
    case MessageType.ReadIndex:
      if (r.lead === NONE) return; // dropped: the caller retries
      r.send({ ...m, to: r.lead });
      return;
    case MessageType.TimeoutNow:
      // The leader chose us: campaign at once, skipping the pre-vote.
      r.hup(CampaignType.Transfer);
      return;
    case MessageType.ReadIndexResp:
      r.readStates.push({ index: m.index, requestCtx: m.context });
      return;
  }
}

function handleAppendEntries(r: Raft, m: Message): void {
  if (m.index < r.log.committed) {
    r.send(newMessage({ type: MessageType.AppResp, to: m.from, index: r.log.committed }));
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== null) {
    r.send(newMessage({ type: MessageType.AppResp, to: m.from, index: lastNew }));
    return;
  }
  // Mismatch: hint the leader at the last index whose term could match.
  const [hintIndex, hintTerm] = r.log.findConflictByTerm(
    Math.min(m.index, r.log.lastIndex()),
    m.logTerm,
  );
  r.send(newMessage({
    type: MessageType.AppResp,
    to: m.from,
    index: m.index,
    reject: true,
    rejectHint: hintIndex,
    logTerm: hintTerm,
  }));
}

function handleHeartbeat(r: Raft, m: Message): void {
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  r.send(newMessage({ type: MessageType.HeartbeatResp, to: m.from, context: m.context }));
}

function handleSnapshot(r: Raft, m: Message): void {
  const s = m.snapshot;
  if (s === undefined) return;
  const index = restore(r, s) ? r.log.lastIndex() : r.log.committed;
  r.send(newMessage({ type: MessageType.AppResp, to: m.from, index }));
}

/** Installs a snapshot from the leader; false if it is stale or only fast-forwards commit. */
function restore(r: Raft, s: Snapshot): boolean {
  if (s.meta.index <= r.log.committed) return false;
  const cs = s.meta.confState;
  // Unlike etcd we accept a snapshot whose membership lacks us: a member added
  // after the leader's last snapshot would otherwise never catch up. We simply
  // stay a non-voting follower until our own AddNode/AddLearner entry applies.
  if (r.log.matchTerm(s.meta.index, s.meta.term)) {
    // We already have this prefix: just move the commit index.
    r.log.commitTo(s.meta.index);
    return false;
  }
  r.log.restore(s);
  r.trk.reset(cs, r.log.lastIndex() + 1);
  return true;
}
