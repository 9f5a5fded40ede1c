/**
 * The lessor: etcd's `lease.lessor`, in memory.
 *
 * Two kinds of state live here and must not be confused:
 *
 * - Replicated state (which leases exist, their granted TTL, the remaining
 *   TTL of the last checkpoint, and which keys are attached) changes only
 *   through `grant`, `revoke`, `checkpoint` and the store's attach/detach
 *   hooks, all called from the apply of committed entries (DESIGN.md rule 1),
 *   so every member holds the same.
 * - Local timing state (each lease's expiry instant, when its next
 *   checkpoint is due) exists only on the primary, i.e. the leader once it
 *   has applied everything of earlier terms (`promote`). Followers keep
 *   every lease "forever": only the leader decides that a lease expired, and
 *   it does so by proposing a revoke through the log.
 *
 * Time comes from an injected clock so tests can drive it.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { LeaseRecordSchema, LeaseSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import {
  type LeaseCheckpoint,
  LeaseCheckpointSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import type { LeaseHooks } from "../mvcc/store.ts";

/** etcd's MaxLeaseTTL: the largest TTL (seconds) a lease may be granted with. */
export const MAX_LEASE_TTL = 9_000_000_000;

/** Leases revoked per second at most (etcd's leaseRevokeRate). */
export const LEASE_REVOKE_RATE = 1000;

/** An expired lease whose revoke was proposed is offered again after this long (etcd: 3 s). */
export const EXPIRED_RETRY_MS = 3000;

/** Most checkpoints per LeaseCheckpoint proposal (etcd's maxLeaseCheckpointBatchSize). */
export const MAX_CHECKPOINT_BATCH = 1000;

/**
 * How often the leader checkpoints a lease's remaining TTL. etcd defaults
 * to 5 minutes (so leases shorter than that restart with their full TTL);
 * cairn checkpoints every 5 s so remaining TTLs survive leader changes and
 * restarts closely, at the price of one small batched entry per interval.
 */
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5000;

/**
 * etcd's minimum lease TTL in seconds: one and a half election timeouts,
 * counted in whole heartbeat ticks as etcd counts them, rounded up to a
 * whole second (2 s for the default 100 ms / 1000 ms).
 */
export function minLeaseTtl(electionTimeoutMs: number, heartbeatIntervalMs: number): number {
  const electionTicks = Math.floor(electionTimeoutMs / heartbeatIntervalMs);
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * heartbeatIntervalMs) / 1000);
}

/** One lease. */
export class Lease {
  /** Lease id (positive int64). */
  readonly id: bigint;
  /** Granted TTL in seconds, after the minimum-TTL rule. */
  readonly ttl: number;
  /** Remaining TTL (seconds) of the last applied checkpoint; 0 when none. Replicated. */
  remainingTtl = 0;
  /** When the lease expires (ms since epoch); Infinity unless this lessor is primary. Local. */
  expiry = Infinity;
  /** When the next checkpoint is due (ms); Infinity when none is scheduled. Local. */
  checkpointAt = Infinity;
  /** Before this instant an expired lease is not offered for revoking again. Local. */
  retryAt = 0;
  /** Attached keys, by latin1 binary string. Replicated (through the store hooks). */
  readonly keys = new Map<string, Uint8Array>();

  /** @param id lease id @param ttl granted TTL in seconds */
  constructor(id: bigint, ttl: number) {
    this.id = id;
    this.ttl = ttl;
  }

  /** The TTL a refresh counts from: the checkpointed remaining TTL if any, else the granted TTL. */
  get effectiveTtl(): number {
    return this.remainingTtl > 0 ? this.remainingTtl : this.ttl;
  }

  /** Attached keys in byte order. */
  sortedKeys(): Uint8Array[] {
    return [...this.keys.keys()].sort().map((k) => this.keys.get(k)!);
  }
}

/** Options for {@link Lessor}. */
export interface LessorOptions {
  /** Minimum TTL in seconds (see {@link minLeaseTtl}). */
  minTtl: number;
  /** Checkpoint interval in ms; 0 disables checkpoints. Default {@link DEFAULT_CHECKPOINT_INTERVAL_MS}. */
  checkpointIntervalMs?: number;
  /** Clock in ms since epoch. Default Date.now. */
  now?: () => number;
}

function binaryKey(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += String.fromCharCode(key[i]);
  return s;
}

/** Deterministic replicated lease state plus the primary's local expiry timing. */
export class Lessor {
  readonly #leases = new Map<bigint, Lease>();
  readonly #minTtl: number;
  readonly #checkpointMs: number;
  readonly #now: () => number;
  #primary = false;

  /** Callbacks for MvccStore: lease existence and key attach/detach. */
  readonly hooks: LeaseHooks;

  /** @param opts minimum TTL, checkpoint interval, clock */
  constructor(opts: LessorOptions) {
    this.#minTtl = opts.minTtl;
    this.#checkpointMs = opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    this.#now = opts.now ?? Date.now;
    this.hooks = {
      exists: (id) => this.#leases.has(id),
      attach: (id, key) => {
        // A key can name a lease that is gone only while restoring a store
        // whose lessor state is older; etcd ignores it the same way.
        this.#leases.get(id)?.keys.set(binaryKey(key), key);
      },
      detach: (id, key) => {
        this.#leases.get(id)?.keys.delete(binaryKey(key));
      },
    };
  }

  /** The minimum TTL in seconds. */
  get minTtl(): number {
    return this.#minTtl;
  }

  /** Whether this lessor is primary (tracks expiries). */
  get isPrimary(): boolean {
    return this.#primary;
  }

  /** Number of leases. */
  get size(): number {
    return this.#leases.size;
  }

  // ---- replicated state: called only from the apply of committed entries ----

  /**
   * Grants lease `id` with `ttl` seconds (raised to the minimum TTL).
   * Throws leaseNotFound for id 0, leaseTTLTooLarge, or leaseExist.
   */
  grant(id: bigint, ttl: number): Lease {
    // The server picks an id before proposing; 0 here means a bug upstream.
    if (id === 0n) throw EtcdErrors.leaseNotFound();
    if (ttl > MAX_LEASE_TTL) throw EtcdErrors.leaseTTLTooLarge();
    if (this.#leases.has(id)) throw EtcdErrors.leaseExist();
    const lease = new Lease(id, Math.max(ttl, this.#minTtl));
    this.#leases.set(id, lease);
    if (this.#primary) {
      this.#refresh(lease, 0);
      this.#scheduleCheckpoint(lease);
    }
    return lease;
  }

  /**
   * Removes lease `id` and returns its attached keys in byte order; the
   * caller deletes them from the store in the same apply, as one revision.
   * Throws leaseNotFound.
   */
  revoke(id: bigint): Uint8Array[] {
    const lease = this.#leases.get(id);
    if (lease === undefined) throw EtcdErrors.leaseNotFound();
    this.#leases.delete(id);
    return lease.sortedKeys();
  }

  /** Records checkpointed remaining TTLs; unknown leases are skipped (as etcd does). */
  checkpoint(checkpoints: readonly LeaseCheckpoint[]): void {
    for (const cp of checkpoints) {
      const lease = this.#leases.get(cp.ID);
      if (lease === undefined) continue;
      lease.remainingTtl = Number(cp.remainingTTL);
      if (this.#primary) this.#scheduleCheckpoint(lease);
    }
  }

  /** Replicated state for a snapshot (ids, TTLs, checkpointed TTLs; keys come from the store). */
  serialize(): Uint8Array {
    const ids = [...this.#leases.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return toBinary(
      LeaseSnapshotSchema,
      create(LeaseSnapshotSchema, {
        leases: ids.map((id) => {
          const l = this.#leases.get(id)!;
          return create(LeaseRecordSchema, {
            id,
            ttl: BigInt(l.ttl),
            remainingTtl: BigInt(l.remainingTtl),
          });
        }),
      }),
    );
  }

  /**
   * Replaces all leases with `serialize()` output (empty bytes = none). Keys
   * start empty: restore the MVCC store with `hooks` afterwards to attach them.
   */
  restore(bytes: Uint8Array): void {
    this.#leases.clear();
    const snap = fromBinary(LeaseSnapshotSchema, bytes);
    for (const r of snap.leases) {
      const lease = new Lease(r.id, Number(r.ttl));
      lease.remainingTtl = Number(r.remainingTtl);
      this.#leases.set(r.id, lease);
      if (this.#primary) {
        this.#refresh(lease, 0);
        this.#scheduleCheckpoint(lease);
      }
    }
  }

  // ---- reads ----

  /** The lease with `id`, if it exists. */
  lookup(id: bigint): Lease | undefined {
    return this.#leases.get(id);
  }

  /** Every lease, soonest expiry first (ties by id), as etcd lists them. */
  leases(): Lease[] {
    return [...this.#leases.values()].sort((a, b) =>
      a.expiry - b.expiry || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    );
  }

  /** Milliseconds until `lease` expires (Infinity when not primary). */
  remainingMs(lease: Lease): number {
    return lease.expiry - this.#now();
  }

  /** Whether `lease` has expired (never on a non-primary). */
  expired(lease: Lease): boolean {
    return lease.expiry <= this.#now();
  }

  // ---- primary (leader) local state ----

  /**
   * Becomes primary: every lease expires `extendMs` plus its effective TTL
   * from now, so no lease expires because of the election itself (etcd's
   * Promote). When many leases would expire in the same second, later ones
   * are spread out so revokes never exceed the revoke rate.
   */
  promote(extendMs: number): void {
    this.#primary = true;
    for (const lease of this.#leases.values()) {
      this.#refresh(lease, extendMs);
      this.#scheduleCheckpoint(lease);
    }
    if (this.#leases.size < LEASE_REVOKE_RATE) return;
    const target = Math.floor((3 * LEASE_REVOKE_RATE) / 4);
    const sorted = this.leases();
    let base = this.remainingMs(sorted[0]);
    let next = base + 1000;
    let expires = 0;
    for (const lease of sorted) {
      const remaining = this.remainingMs(lease);
      if (remaining > next) {
        base = remaining;
        next = base + 1000;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= target) continue;
      // Each full window of `target` leases pushes the rest one second later.
      const delay = (1000 * expires) / target - (remaining - base);
      next = base + delay;
      this.#refresh(lease, delay + extendMs);
    }
  }

  /** Stops being primary: leases no longer expire here. */
  demote(): void {
    this.#primary = false;
    for (const lease of this.#leases.values()) {
      lease.expiry = Infinity;
      lease.checkpointAt = Infinity;
      lease.retryAt = 0;
    }
  }

  /**
   * Keep-alive on the primary: the lease expires its granted TTL from now.
   * Returns the granted TTL. Throws notLeader when not primary and
   * leaseNotFound for an unknown lease; the caller handles expired leases
   * (see `expired`) before calling.
   */
  renew(id: bigint): number {
    if (!this.#primary) throw EtcdErrors.notLeader();
    const lease = this.#leases.get(id);
    if (lease === undefined) throw EtcdErrors.leaseNotFound();
    lease.expiry = this.#now() + lease.ttl * 1000;
    lease.retryAt = 0;
    return lease.ttl;
  }

  /**
   * Up to `limit` expired leases to revoke now. Each returned lease is not
   * offered again for {@link EXPIRED_RETRY_MS}, so a slow revoke is not
   * proposed twice.
   */
  findExpired(limit: number): bigint[] {
    if (!this.#primary) return [];
    const now = this.#now();
    const due: Lease[] = [];
    for (const lease of this.#leases.values()) {
      if (lease.expiry <= now && lease.retryAt <= now) due.push(lease);
    }
    due.sort((a, b) => a.expiry - b.expiry);
    const out = due.slice(0, limit);
    for (const lease of out) lease.retryAt = now + EXPIRED_RETRY_MS;
    return out.map((l) => l.id);
  }

  /**
   * Checkpoints that are due (up to `limit`): each lease's remaining TTL,
   * rounded up to seconds, when it is below the granted TTL (etcd's
   * findDueScheduledCheckpoints). A due lease is offered again one
   * interval later (applying its checkpoint reschedules it the same way).
   */
  dueCheckpoints(limit: number): LeaseCheckpoint[] {
    if (!this.#primary || this.#checkpointMs <= 0) return [];
    const now = this.#now();
    const out: LeaseCheckpoint[] = [];
    for (const lease of this.#leases.values()) {
      if (out.length >= limit) break;
      if (lease.checkpointAt > now) continue;
      lease.checkpointAt = now + this.#checkpointMs;
      if (lease.expiry <= now) continue;
      const remaining = Math.ceil((lease.expiry - now) / 1000);
      if (remaining >= lease.ttl) continue;
      out.push(create(LeaseCheckpointSchema, { ID: lease.id, remainingTTL: BigInt(remaining) }));
    }
    return out;
  }

  #refresh(lease: Lease, extendMs: number): void {
    lease.expiry = this.#now() + extendMs + lease.effectiveTtl * 1000;
    lease.retryAt = 0;
  }

  #scheduleCheckpoint(lease: Lease): void {
    if (this.#checkpointMs <= 0) return;
    lease.checkpointAt = lease.effectiveTtl > this.#checkpointMs / 1000
      ? this.#now() + this.#checkpointMs
      : Infinity;
  }
}
