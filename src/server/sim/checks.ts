/**
 * What the member simulation checks after every step:
 *
 * - **One history.** Every member's MVCC history is compared, revision by
 *   revision, with the first member that reached that revision: members
 *   that apply the same log must produce the same events (a restarted
 *   member replaying its WAL included), so a write one member applied and
 *   another lost shows up as a divergence.
 * - **No acknowledged write lost.** A put acknowledged at revision r must
 *   be in that history at r, and the cluster must reach r again after any
 *   crash (checked at the end, once healed).
 * - **Watch streams** deliver exactly the history's events for their key
 *   span, in revision order, with no gap and no duplicate, across
 *   reconnections to other members.
 * - **Leases never expire early.** A lease key deleted by the lease's
 *   revoke must not go before the lease's TTL after the start of the last
 *   grant or keep-alive that was acknowledged.
 *
 * The client history it records (gets, puts, compare-and-swaps, with call
 * and return times) is what the linearizability checker reads; see
 * tests/lin/history.ts for the format.
 *
 * @module
 */
import { type Event, Event_EventType } from "../../gen/etcd/api/mvccpb/kv_pb.ts";
import type { MvccStore } from "../../mvcc/store.ts";

/** How a client operation ended (tests/lin/history.ts). */
export type Outcome = "ok" | "fail" | "unknown";

/** A client operation on one key, as the linearizability checker reads it. */
export type LinOp =
  & {
    client: number;
    key: string;
    call: number;
    ret: number | null;
    outcome: Outcome;
    via?: string;
  }
  & (
    | { kind: "get"; read: string | null }
    | { kind: "put"; value: string }
    | { kind: "cas"; expected: string | null; value: string; swapped?: boolean }
  );

/** A violated property; the run stops and reports it with its seed. */
export class CheckFailure extends Error {
  /** @param detail what broke */
  constructor(detail: string) {
    super(detail);
    this.name = "CheckFailure";
  }
}

/** One event of the history, reduced to what is compared. */
export interface EventRec {
  rev: number;
  key: string;
  /** "put k=v lease" or "delete k", with versions. */
  digest: string;
  isDelete: boolean;
}

interface RevRecord {
  events: EventRec[];
  /** Virtual time when a member first applied it. */
  at: number;
  /** Which member incarnation first applied it. */
  by: string;
}

interface LeaseRecord {
  id: bigint;
  key: string;
  /** No revoke may come before this (ms, virtual time). */
  aliveUntil: number;
  /** The lease's key was put and not yet deleted by its revoke. */
  attachedAt: number | undefined;
}

const dec = new TextDecoder();

function recOf(ev: Event): EventRec {
  const kv = ev.kv!;
  const key = dec.decode(kv.key);
  const rev = Number(kv.modRevision);
  const isDelete = ev.type === Event_EventType.DELETE;
  const digest = isDelete ? `delete ${key}@${rev}` : `put ${key}=${dec.decode(kv.value)}@${rev}` +
    ` c${kv.createRevision} v${kv.version} l${kv.lease.toString(16)}`;
  return { rev, key, digest, isDelete };
}

/** A watch stream under test: its key prefix and what it must see next. */
export class WatchCheck {
  /** Lowest revision not yet delivered. */
  nextRev: number;
  /** Delivered events waiting to be checked against the history. */
  pending: EventRec[] = [];
  delivered = 0;

  /** @param name for reports @param prefix the watched key prefix @param startRev first revision wanted */
  constructor(readonly name: string, readonly prefix: string, startRev: number) {
    this.nextRev = startRev;
  }
}

/** The run's checks; see the module doc. */
export class Checks {
  readonly #history = new Map<number, RevRecord>();
  /** Highest revision in the history. */
  #top = 1;
  /** Per store object: the highest revision already compared. */
  readonly #seen = new WeakMap<MvccStore, number>();
  readonly #acked: { key: string; value: string; rev: number; at: number }[] = [];
  readonly #leases = new Map<bigint, LeaseRecord>();
  readonly watches = new Set<WatchCheck>();
  /** The client history for the linearizability check. */
  readonly ops: LinOp[] = [];
  readonly stats = { revisions: 0, compared: 0, acked: 0, watchEvents: 0, leaseRevokes: 0 };

  /** Highest revision any member applied. */
  get top(): number {
    return this.#top;
  }

  /** Highest revision of an acknowledged write. */
  get topAcked(): number {
    let top = 0;
    for (const a of this.#acked) top = Math.max(top, a.rev);
    return top;
  }

  /**
   * Compares what `store` applied since the last look with the history,
   * extending the history with revisions nobody reached before.
   */
  observe(store: MvccStore, who: string, now: number): void {
    const cur = store.currentRevision;
    const from = Math.max(this.#seen.get(store) ?? 1, store.compactRevision) + 1;
    if (from > cur) return;
    this.#seen.set(store, cur);
    const byRev = new Map<number, EventRec[]>();
    for (const ev of store.eventsBetween(from, cur)) {
      const r = recOf(ev);
      let list = byRev.get(r.rev);
      if (!list) byRev.set(r.rev, list = []);
      list.push(r);
    }
    for (let rev = from; rev <= cur; rev++) {
      const events = byRev.get(rev) ?? [];
      const known = this.#history.get(rev);
      if (known === undefined) {
        this.#history.set(rev, { events, at: now, by: who });
        this.#top = Math.max(this.#top, rev);
        this.stats.revisions++;
        this.#onNewRevision(rev, events, now);
        continue;
      }
      this.stats.compared++;
      const a = known.events.map((e) => e.digest).join("; ");
      const b = events.map((e) => e.digest).join("; ");
      if (a !== b) {
        throw new CheckFailure(
          `members diverged at revision ${rev}: ${known.by} applied [${a}], ${who} applied [${b}]`,
        );
      }
    }
  }

  /** A put was acknowledged at `rev`: it must be (or become) that revision of the history. */
  acked(key: string, value: string, rev: number, now: number): void {
    this.stats.acked++;
    this.#acked.push({ key, value, rev, at: now });
    this.#checkAck(this.#acked[this.#acked.length - 1]);
  }

  /** Checks acknowledged writes and watch streams against the history. */
  verify(): void {
    for (const w of this.watches) this.#checkWatch(w);
  }

  /** At the end: every acknowledged write is in the history. */
  verifyAcked(): void {
    for (const a of this.#acked) {
      if (!this.#history.has(a.rev)) {
        throw new CheckFailure(
          `acknowledged put ${a.key}=${a.value} at revision ${a.rev} was never applied again ` +
            `(history ends at ${this.#top})`,
        );
      }
      this.#checkAck(a);
    }
  }

  /** A lease was granted (or kept alive): it must live `ttlSeconds` past `callAt`. */
  leaseAlive(id: bigint, key: string, ttlSeconds: number, callAt: number): void {
    const until = callAt + ttlSeconds * 1000;
    const l = this.#leases.get(id);
    if (l === undefined) {
      this.#leases.set(id, { id, key, aliveUntil: until, attachedAt: undefined });
    } else if (until > l.aliveUntil) l.aliveUntil = until;
  }

  /** Events of the history for keys under `prefix`, revisions [from, to]. */
  eventsFor(prefix: string, from: number, to: number): EventRec[] {
    const out: EventRec[] = [];
    for (let rev = from; rev <= to; rev++) {
      const r = this.#history.get(rev);
      if (r === undefined) {
        throw new CheckFailure(`history has no revision ${rev} (a watcher was sent it)`);
      }
      for (const e of r.events) if (e.key.startsWith(prefix)) out.push(e);
    }
    return out;
  }

  #checkAck(a: { key: string; value: string; rev: number }): void {
    const r = this.#history.get(a.rev);
    if (r === undefined) return; // not reached yet by anyone observed: checked again at the end
    const ok = r.events.some((e) => !e.isDelete && e.digest.startsWith(`put ${a.key}=${a.value}@`));
    if (!ok) {
      throw new CheckFailure(
        `acknowledged put ${a.key}=${a.value} at revision ${a.rev} is lost: the history holds ` +
          `[${r.events.map((e) => e.digest).join("; ")}] there (first applied by ${r.by})`,
      );
    }
  }

  #onNewRevision(rev: number, events: EventRec[], now: number): void {
    for (const e of events) {
      if (!e.key.startsWith("lease/")) continue;
      const id = BigInt(`0x${e.key.slice(6)}`);
      const l = this.#leases.get(id);
      if (l === undefined) continue;
      if (!e.isDelete) {
        l.attachedAt = rev;
        continue;
      }
      // Only the lease's revoke deletes its key (no client deletes lease/ keys).
      this.stats.leaseRevokes++;
      if (now < l.aliveUntil) {
        throw new CheckFailure(
          `lease ${id.toString(16)} expired early: its key went at revision ${rev}, ` +
            `${(l.aliveUntil - now).toFixed(1)} ms before the TTL of its last acknowledged ` +
            `grant or keep-alive ran out`,
        );
      }
    }
  }

  #checkWatch(w: WatchCheck): void {
    if (w.pending.length === 0) return;
    const got = w.pending;
    w.pending = [];
    const last = got[got.length - 1].rev;
    if (got[0].rev < w.nextRev) {
      throw new CheckFailure(
        `watch ${w.name}: got revision ${got[0].rev} again (already delivered up to ${
          w.nextRev - 1
        })`,
      );
    }
    const want = this.eventsFor(w.prefix, w.nextRev, last);
    const a = want.map((e) => e.digest);
    const b = got.map((e) => e.digest);
    if (a.join("; ") !== b.join("; ")) {
      throw new CheckFailure(
        `watch ${w.name} from revision ${w.nextRev}: expected [${a.join("; ")}], got [${
          b.join("; ")
        }]`,
      );
    }
    w.nextRev = last + 1;
    w.delivered += got.length;
    this.stats.watchEvents += got.length;
  }

  /** Converts delivered events for a watch check. */
  static records(events: Event[]): EventRec[] {
    return events.map(recOf);
  }
}
