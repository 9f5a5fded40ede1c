/**
 * The one function that changes replicated state (DESIGN.md rule 1): every
 * committed `InternalRequest` is applied here, on every member, in log
 * order. It must be deterministic: same state + same request = same result
 * everywhere.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { InvariantViolation } from "../raft/errors.ts";
import { type ConfChange, ConfChangeType } from "../raft/types.ts";
import {
  type InternalRequest,
  type MemberRecord,
  MemberRecordSchema,
} from "../gen/cairn/internal_pb.ts";
import {
  type AlarmMember,
  AlarmMemberSchema,
  AlarmRequest_AlarmAction,
  AlarmResponseSchema,
  AlarmType,
  CompactionResponseSchema,
  type TxnRequest,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { applyAuthEntry, authorizeEntry, NOT_AUTH } from "../auth/apply.ts";
import type { AuthStore } from "../auth/store.ts";
import { applyLeaseCheckpoint, applyLeaseGrant, applyLeaseRevoke } from "../lease/apply.ts";
import type { Lessor } from "../lease/lessor.ts";
import type { MvccStore } from "../mvcc/store.ts";
import type { Membership } from "./membership.ts";

/** All replicated state a member applies entries to. */
export interface StateMachine {
  store: MvccStore;
  membership: Membership;
  alarms: AlarmMember[];
  lessor: Lessor;
  auth: AuthStore;
}

/** What applying one request produced: the response, and the store revision right after it. */
export interface ApplyResult {
  response: unknown;
  revision: number;
  /**
   * For a compaction: resolves when its work (dropping the obsolete
   * versions, done in steps after apply) is finished; a `physical`
   * Compact answers only then, as etcd's does.
   */
  physical?: Promise<void>;
}

/**
 * Applies one committed request. Throws an etcd error (from `src/errors.ts`)
 * when the request fails; a failed request changes nothing. Anything else
 * it throws (InvariantViolation for a request kind this version does not
 * know) means the state machine cannot follow the log: the caller stops
 * the member.
 */
export function applyRequest(sm: StateMachine, req: InternalRequest, index = 0): ApplyResult {
  const { store } = sm;
  const r = req.request;
  // A client's write is checked against the replicated auth state as it is now.
  authorizeEntry(sm.auth, sm.lessor, req);
  let response: unknown;
  let physical: Promise<void> | undefined;
  switch (r.case) {
    case "put":
      refuseIfCorrupt(sm);
      if (hasNoSpaceAlarm(sm)) throw EtcdErrors.noSpace();
      response = store.put(r.value);
      break;
    case "deleteRange":
      refuseIfCorrupt(sm);
      response = store.deleteRange(r.value);
      break;
    case "txn":
      // etcd serves a read-only txn without the log, so CORRUPT never reaches it there.
      if (txnWrites(r.value)) refuseIfCorrupt(sm);
      if (hasNoSpaceAlarm(sm) && txnWrites(r.value)) throw EtcdErrors.noSpace();
      response = store.txn(r.value);
      break;
    case "compaction":
      refuseIfCorrupt(sm);
      // Takes effect now; the versions it drops go in steps off this call
      // (a one-pass compaction of a large store held the Raft loop for seconds).
      physical = store.compactInSteps(Number(r.value.revision));
      response = create(CompactionResponseSchema, {});
      break;
    case "leaseGrant":
      refuseIfCorrupt(sm);
      // etcd's capped applier refuses new leases while NOSPACE is raised.
      if (hasNoSpaceAlarm(sm)) throw EtcdErrors.noSpace();
      response = applyLeaseGrant(sm.lessor, r.value);
      break;
    case "leaseRevoke":
      refuseIfCorrupt(sm);
      response = applyLeaseRevoke(sm.lessor, store, r.value);
      break;
    case "leaseCheckpoint":
      response = applyLeaseCheckpoint(sm.lessor, r.value);
      break;
    case "alarm":
      response = applyAlarm(sm, r.value.action, r.value.memberID, r.value.alarm);
      break;
    case "memberAttributes": {
      const existing = sm.membership.get(r.value.id);
      if (existing) {
        sm.membership.set(create(MemberRecordSchema, {
          ...existing,
          name: r.value.name,
          clientUrls: r.value.clientUrls,
        }));
      }
      response = undefined;
      break;
    }
    default:
      response = applyAuthEntry(sm.auth, req, index);
      // A request kind this version does not know: applying nothing would
      // let members diverge silently, so stop loudly instead.
      if (response === NOT_AUTH) {
        throw new InvariantViolation(`cannot apply log entry of kind ${String(r.case)}`);
      }
  }
  return { response, revision: store.currentRevision, physical };
}

/**
 * While a CORRUPT alarm is active, etcd's corrupt applier refuses puts,
 * deletes, writing txns, compactions and lease grants and revokes with
 * `etcdserver: corrupt cluster`, on every member alike. It ends when the
 * last CORRUPT alarm is disarmed.
 */
function refuseIfCorrupt(sm: StateMachine): void {
  if (sm.alarms.length > 0 && sm.alarms.some((a) => a.alarm === AlarmType.CORRUPT)) {
    throw EtcdErrors.corrupt();
  }
}

/** While a NOSPACE alarm is active, writes that could grow the store are refused (etcd's capped applier). */
function hasNoSpaceAlarm(sm: StateMachine): boolean {
  return sm.alarms.length > 0 && sm.alarms.some((a) => a.alarm === AlarmType.NOSPACE);
}

/** Whether a txn contains any put or delete, in either branch, at any depth. */
export function txnWrites(txn: TxnRequest): boolean {
  for (const op of [...txn.success, ...txn.failure]) {
    const r = op.request;
    if (r.case === "requestPut" || r.case === "requestDeleteRange") return true;
    if (r.case === "requestTxn" && txnWrites(r.value)) return true;
  }
  return false;
}

function applyAlarm(
  sm: StateMachine,
  action: AlarmRequest_AlarmAction,
  memberID: bigint,
  alarm: AlarmType,
) {
  const matches = (a: AlarmMember) => a.memberID === memberID && a.alarm === alarm;
  let changed: AlarmMember[] = [];
  switch (action) {
    case AlarmRequest_AlarmAction.GET:
      changed = sm.alarms.filter((a) => alarm === AlarmType.NONE || a.alarm === alarm);
      break;
    case AlarmRequest_AlarmAction.ACTIVATE:
      if (alarm === AlarmType.NONE) break;
      if (!sm.alarms.some(matches)) {
        sm.alarms.push(create(AlarmMemberSchema, { memberID, alarm }));
      }
      changed = [create(AlarmMemberSchema, { memberID, alarm })];
      break;
    case AlarmRequest_AlarmAction.DEACTIVATE: {
      const found = sm.alarms.filter(matches);
      sm.alarms = sm.alarms.filter((a) => !matches(a));
      changed = found;
      break;
    }
  }
  return create(AlarmResponseSchema, { alarms: changed });
}

/**
 * Applies a committed membership change to the replicated membership (the
 * Raft core's own configuration is changed by the caller through
 * `applyConfChange`). Bootstrap entries carry no member record: the
 * membership they describe was built from `--initial-cluster`.
 */
export function applyMembershipChange(
  sm: StateMachine,
  cc: ConfChange,
  member?: MemberRecord,
): void {
  const existing = sm.membership.get(cc.nodeId);
  switch (cc.type) {
    case ConfChangeType.AddNode:
      if (existing) {
        sm.membership.join(create(MemberRecordSchema, { ...existing, isLearner: false }));
      } else if (member) {
        sm.membership.join(create(MemberRecordSchema, { ...member, isLearner: false }));
      }
      break;
    case ConfChangeType.AddLearner:
      if (!existing && member) {
        sm.membership.join(create(MemberRecordSchema, { ...member, isLearner: true }));
      }
      break;
    case ConfChangeType.RemoveNode:
      sm.membership.remove(cc.nodeId);
      break;
    case ConfChangeType.UpdateNode:
      if (existing && member) {
        sm.membership.set(create(MemberRecordSchema, { ...existing, peerUrls: member.peerUrls }));
      }
      break;
  }
}
