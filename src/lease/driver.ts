/**
 * The leader's lease chores, run from a timer: propose revokes for expired
 * leases and checkpoints of remaining TTLs. Nothing here changes replicated
 * state; it only proposes (DESIGN.md rule 1), and only on the primary.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import {
  LeaseCheckpointRequestSchema,
  LeaseRevokeRequestSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { LEASE_REVOKE_RATE, type Lessor, MAX_CHECKPOINT_BATCH } from "./lessor.ts";

/** How often the chores run (etcd checks expiries and checkpoints every 500 ms). */
export const LEASE_TICK_MS = 500;

/** What the driver needs from the member. */
export interface LeaseDriverHost {
  /** The member's lessor. */
  readonly lessor: Lessor;
  /** Whether this member currently leads. */
  isLeader(): boolean;
  /** Proposes one request through the log. */
  propose(request: InternalRequest["request"]): Promise<unknown>;
  /** Where failures are reported. */
  readonly log: Logger;
}

/** Proposes revokes of expired leases and due checkpoints, rate limited like etcd. */
export class LeaseDriver {
  readonly #host: LeaseDriverHost;
  #inflight = 0;

  /** @param host the member's lessor, leadership and propose */
  constructor(host: LeaseDriverHost) {
    this.#host = host;
  }

  /** Revoke proposals not yet answered. */
  get inflight(): number {
    return this.#inflight;
  }

  /** One round of chores; call every {@link LEASE_TICK_MS}. */
  tick(): void {
    const { lessor } = this.#host;
    if (!this.#host.isLeader() || !lessor.isPrimary) return;
    // Half the per-second rate per 500 ms tick, and never more in flight
    // than that: a busy log skips a round rather than piling revokes up.
    const budget = LEASE_REVOKE_RATE / 2 - this.#inflight;
    if (budget > 0) {
      for (const id of lessor.findExpired(budget)) this.#revoke(id);
    }
    const checkpoints = lessor.dueCheckpoints(MAX_CHECKPOINT_BATCH);
    if (checkpoints.length > 0) {
      this.#host.propose({
        case: "leaseCheckpoint",
        value: create(LeaseCheckpointRequestSchema, { checkpoints }),
      }).catch((err) => this.#report("lease checkpoint failed", err));
    }
  }

  #revoke(id: bigint): void {
    this.#inflight++;
    this.#host.propose({ case: "leaseRevoke", value: create(LeaseRevokeRequestSchema, { ID: id }) })
      .catch((err) => {
        // Revoked meanwhile by a client: that is what we wanted anyway.
        if (!isEtcdError(err, EtcdErrors.leaseNotFound)) {
          this.#report("revoking expired lease failed", err, id);
        }
      })
      .finally(() => this.#inflight--);
  }

  #report(msg: string, err: unknown, id?: bigint): void {
    const fields: Record<string, unknown> = { error: String((err as Error)?.message ?? err) };
    if (id !== undefined) fields.lease_id = id.toString(16);
    this.#host.log.warn(msg, fields);
  }
}
