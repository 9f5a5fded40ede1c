/**
 * Invariant bookkeeping for the simulation: a global record of what every
 * member persisted, applied and elected, against which each new event is
 * checked. A violation calls `fail` (which throws).
 *
 * @module
 */

import type { RaftLog } from "./log.ts";
import type { Entry, NodeId } from "./types.ts";

/** A small, fast, seedable PRNG (mulberry32) returning values in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fnv(h: number, bytes: Uint8Array): number {
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

/** Hash of an entry's type and data. */
export function entryHash(e: Entry): number {
  return fnv((2166136261 ^ e.type) >>> 0, e.data);
}

/** The simulated state machine after applying `e` to state `sm`. */
export function applyToState(sm: number, e: Entry): number {
  return Math.imul(sm ^ entryHash(e), 16777619) >>> 0;
}

interface AppliedRecord {
  term: number;
  hash: number;
  sm: number;
}

/** Election safety, log matching, leader completeness, state machine safety, read freshness. */
export class Invariants {
  readonly #fail: (detail: string) => never;
  readonly #leaderOfTerm = new Map<number, NodeId>();
  readonly #logEntries = new Map<string, { hash: number; prev: number | null }>();
  readonly #appliedAt: AppliedRecord[] = [];
  readonly #reads = new Map<string, number>();
  /** Highest index applied by any member (hence committed). */
  maxApplied = 0;
  /** Distinct indexes applied so far. */
  appliedCount = 0;

  /** @param fail reports a violation (must throw). */
  constructor(fail: (detail: string) => never) {
    this.#fail = fail;
  }

  /** `who` became leader of `term` with log `log`. */
  leaderElected(who: string, id: NodeId, term: number, log: RaftLog): void {
    const prev = this.#leaderOfTerm.get(term);
    if (prev !== undefined && prev !== id) this.#fail(`two leaders in term ${term} (${who})`);
    this.#leaderOfTerm.set(term, id);
    // Leader completeness: every entry applied anywhere is in the new leader's log.
    if (log.lastIndex() < this.maxApplied) {
      this.#fail(`leader ${who} lacks committed entries up to ${this.maxApplied}`);
    }
    for (let i = Math.max(1, log.firstIndex()); i <= this.maxApplied; i++) {
      if (log.term(i) !== this.#appliedAt[i].term) {
        this.#fail(`leader ${who} has term ${log.term(i)} at committed index ${i}`);
      }
    }
  }

  /** `who` persisted `ents`, the first following an entry of term `prev` (null: unknown). */
  persisted(who: string, ents: Entry[], prev: number | null): void {
    for (const e of ents) {
      // Log matching: (index, term) identifies the entry and its predecessor's term.
      const key = `${e.index}/${e.term}`;
      const h = entryHash(e);
      const seen = this.#logEntries.get(key);
      if (seen === undefined) {
        this.#logEntries.set(key, { hash: h, prev });
      } else if (seen.hash !== h || (seen.prev !== null && prev !== null && seen.prev !== prev)) {
        this.#fail(`log matching violated at ${key} on ${who}`);
      }
      prev = e.term;
    }
  }

  /** `who` applied `e`, reaching state `sm`. */
  applied(who: string, e: Entry, sm: number): void {
    const h = entryHash(e);
    const rec = this.#appliedAt[e.index];
    if (rec === undefined) {
      this.#appliedAt[e.index] = { term: e.term, hash: h, sm };
      this.maxApplied = Math.max(this.maxApplied, e.index);
      this.appliedCount++;
    } else if (rec.term !== e.term || rec.hash !== h || rec.sm !== sm) {
      this.#fail(`state machine safety: ${who} applied a different entry ${e.index}`);
    }
  }

  /** A snapshot at (index, term) claims state `sm`. */
  snapshot(index: number, term: number, sm: number): void {
    const rec = this.#appliedAt[index];
    if (rec === undefined || rec.sm !== sm || rec.term !== term) {
      this.#fail(`snapshot at ${index} disagrees with what was applied there`);
    }
  }

  /** A read `key` starts now: it must observe everything applied so far. */
  readIssued(key: string): void {
    this.#reads.set(key, this.maxApplied);
  }

  /** A read `key` was given `index`; returns false for reads not issued (or already answered). */
  readAnswered(key: string, index: number): boolean {
    const min = this.#reads.get(key);
    if (min === undefined) return false;
    if (index < min) this.#fail(`read ${key} got index ${index} < committed ${min}`);
    this.#reads.delete(key);
    return true;
  }
}
