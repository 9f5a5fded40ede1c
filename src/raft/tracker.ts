/**
 * ProgressTracker: the membership (voters, learners), the leader's Progress
 * for each member, and the votes of the current election, with the quorum
 * arithmetic over them (simple majority; changes happen one at a time).
 *
 * @module
 */

import { Progress } from "./progress.ts";
import type { ConfState, NodeId } from "./types.ts";

/** Outcome of counting votes. */
export enum VoteResult {
  Pending = 0,
  Lost = 1,
  Won = 2,
}

/** Membership plus per-member progress and votes. */
export class ProgressTracker {
  readonly maxInflight: number;
  voters = new Set<NodeId>();
  learners = new Set<NodeId>();
  progress = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  /** @param maxInflight inflight capacity for each new Progress. */
  constructor(maxInflight: number) {
    this.maxInflight = maxInflight;
  }

  /** The membership as a ConfState (sorted, for stable output). */
  confState(): ConfState {
    const sort = (s: Set<NodeId>) => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return { voters: sort(this.voters), learners: sort(this.learners) };
  }

  /** Adds (or promotes to) a voter. */
  addVoter(id: NodeId, next: number): void {
    this.learners.delete(id);
    this.voters.add(id);
    const pr = this.progress.get(id);
    if (pr) pr.isLearner = false;
    else this.#newProgress(id, next, false);
  }

  /** Adds a learner; a no-op for an existing voter (demotion is not supported). */
  addLearner(id: NodeId, next: number): void {
    if (this.voters.has(id) || this.learners.has(id)) return;
    this.learners.add(id);
    this.#newProgress(id, next, true);
  }

  /** Removes a member. */
  remove(id: NodeId): void {
    this.voters.delete(id);
    this.learners.delete(id);
    this.progress.delete(id);
  }

  #newProgress(id: NodeId, next: number, isLearner: boolean): void {
    const pr = new Progress(next, this.maxInflight, isLearner);
    // A new member counts as active so CheckQuorum does not fire right away.
    pr.recentActive = true;
    this.progress.set(id, pr);
  }

  /** Replaces the membership by a ConfState (bootstrap or snapshot). */
  reset(cs: ConfState, next: number): void {
    this.voters = new Set();
    this.learners = new Set();
    this.progress = new Map();
    for (const id of cs.voters) this.addVoter(id, next);
    for (const id of cs.learners) this.addLearner(id, next);
  }

  /** Whether only one voter exists (and it is `id`). */
  isSingleton(id: NodeId): boolean {
    return this.voters.size === 1 && this.voters.has(id);
  }

  /** Size of a majority of voters. */
  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** Largest index replicated on a majority of voters. */
  committed(): number {
    if (this.voters.size === 0) return Infinity;
    const matches: number[] = [];
    for (const id of this.voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    return matches[this.quorum() - 1];
  }

  /** Whether the acknowledgements in `acks` include a majority of voters. */
  hasQuorum(acks: Set<NodeId>): boolean {
    let n = 0;
    for (const id of this.voters) if (acks.has(id)) n++;
    return n >= this.quorum();
  }

  /** Forgets the votes of the last election. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records a vote (first one from a member wins) and returns the tally. */
  recordVote(id: NodeId, granted: boolean): VoteResult {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return this.tallyVotes();
  }

  /** Won, lost, or still pending given the votes so far. */
  tallyVotes(): VoteResult {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return VoteResult.Won;
    if (this.voters.size - rejected < q) return VoteResult.Lost;
    return VoteResult.Pending;
  }

  /** Whether a majority of voters was recently active (self counts as active). */
  quorumActive(self: NodeId): boolean {
    let n = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive) n++;
    }
    return n >= this.quorum();
  }
}
