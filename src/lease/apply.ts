/**
 * Applying the three lease entries to the replicated state. Called only by
 * `applyRequest` (src/server/apply.ts), the one apply function (DESIGN.md
 * rule 1), so every member runs exactly this in log order.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type LeaseCheckpointRequest,
  type LeaseCheckpointResponse,
  LeaseCheckpointResponseSchema,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  LeaseGrantResponseSchema,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  LeaseRevokeResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { MvccStore } from "../mvcc/store.ts";
import type { Lessor } from "./lessor.ts";

/** Grants the lease (id chosen before proposing); throws leaseExist / leaseTTLTooLarge. */
export function applyLeaseGrant(lessor: Lessor, req: LeaseGrantRequest): LeaseGrantResponse {
  const lease = lessor.grant(req.ID, Number(req.TTL));
  return create(LeaseGrantResponseSchema, { ID: lease.id, TTL: BigInt(lease.ttl) });
}

/**
 * Revokes the lease and deletes its keys: the deletes are one store
 * revision (none when no key is attached), in the same apply as removing
 * the lease, so no member can see one without the other.
 */
export function applyLeaseRevoke(
  lessor: Lessor,
  store: MvccStore,
  req: LeaseRevokeRequest,
): LeaseRevokeResponse {
  const keys = lessor.revoke(req.ID);
  if (keys.length > 0) store.deleteKeys(keys);
  return create(LeaseRevokeResponseSchema, {});
}

/** Records checkpointed remaining TTLs. */
export function applyLeaseCheckpoint(
  lessor: Lessor,
  req: LeaseCheckpointRequest,
): LeaseCheckpointResponse {
  lessor.checkpoint(req.checkpoints);
  return create(LeaseCheckpointResponseSchema, {});
}
