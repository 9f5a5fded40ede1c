/**
 * Request checks that run before a request is proposed to Raft, mirroring
 * etcd's v3rpc `checkRangeRequest`, `checkPutRequest`, `checkDeleteRequest`,
 * `checkTxnRequest` and `checkIntervals` (same order, same errors).
 * Each function throws the etcd error or returns normally.
 */
import {
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  RangeRequest_SortOrder as SortOrder,
  RangeRequest_SortTarget as SortTarget,
  type RequestOp,
  type TxnRequest,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { toBinary } from "./keys.ts";

/** etcd's default `--max-txn-ops`. */
export const DEFAULT_MAX_TXN_OPS = 128;

const SORT_ORDERS = new Set<number>([SortOrder.NONE, SortOrder.ASCEND, SortOrder.DESCEND]);
const SORT_TARGETS = new Set<number>([
  SortTarget.KEY,
  SortTarget.VERSION,
  SortTarget.CREATE,
  SortTarget.MOD,
  SortTarget.VALUE,
]);

/** Range: key required; sort order and target must be known enum values. */
export function validateRange(r: RangeRequest): void {
  if (r.key.length === 0) throw EtcdErrors.emptyKey();
  if (!SORT_ORDERS.has(r.sortOrder)) throw EtcdErrors.invalidSortOption();
  if (!SORT_TARGETS.has(r.sortTarget)) throw EtcdErrors.invalidSortOption();
}

/** Put: key required; `ignore_value` forbids a value, `ignore_lease` a lease. */
export function validatePut(r: PutRequest): void {
  if (r.key.length === 0) throw EtcdErrors.emptyKey();
  if (r.ignoreValue && r.value.length !== 0) throw EtcdErrors.valueProvided();
  if (r.ignoreLease && r.lease !== 0n) throw EtcdErrors.leaseProvided();
}

/** DeleteRange: key required. */
export function validateDeleteRange(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw EtcdErrors.emptyKey();
}

/**
 * Txn: op counts, every nested request, then put/delete overlaps in each
 * branch (a key may be written at most once on any execution path).
 */
export function validateTxn(r: TxnRequest, maxTxnOps: number = DEFAULT_MAX_TXN_OPS): void {
  checkTxnRequest(r, maxTxnOps);
  checkIntervals(r.success);
  checkIntervals(r.failure);
}

function checkTxnRequest(r: TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) throw EtcdErrors.tooManyOps();
  for (const c of r.compare) if (c.key.length === 0) throw EtcdErrors.emptyKey();
  // Nested txns get the budget left over by this level, as in etcd.
  for (const op of r.success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of r.failure) checkRequestOp(op, maxTxnOps - opc);
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  const req = op.request;
  switch (req.case) {
    case "requestRange":
      return validateRange(req.value);
    case "requestPut":
      return validatePut(req.value);
    case "requestDeleteRange":
      return validateDeleteRange(req.value);
    case "requestTxn":
      return checkTxnRequest(req.value, maxTxnOps);
    default:
      // etcd answers an empty RequestOp with "key not found".
      throw EtcdErrors.keyNotFound();
  }
}

/** A deleted key interval `[begin, end)`; `end === ""` means unbounded. */
interface Interval {
  begin: string;
  end: string;
}

/**
 * Whether point `p` lies in a delete interval. etcd's adt treats an empty
 * end as +infinity and compares everything else bytewise, so a delete with
 * range_end "\0" (from-key) or an inverted range never matches a put.
 */
function intersects(dels: Interval[], p: string): boolean {
  for (const d of dels) {
    if (p >= d.begin && (d.end === "" || p < d.end)) return true;
  }
  return false;
}

interface Writes {
  puts: Set<string>;
  dels: Interval[];
}

function checkIntervals(reqs: RequestOp[]): Writes {
  const dels: Interval[] = [];
  for (const op of reqs) {
    if (op.request.case !== "requestDeleteRange") continue;
    const d = op.request.value;
    const begin = toBinary(d.key);
    // A single-key delete is the point interval [key, key+"\0").
    dels.push({ begin, end: d.rangeEnd.length !== 0 ? toBinary(d.rangeEnd) : begin + "\0" });
  }

  const puts = new Set<string>();
  for (const op of reqs) {
    if (op.request.case !== "requestTxn") continue;
    const then = checkIntervals(op.request.value.success);
    const els = checkIntervals(op.request.value.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) throw EtcdErrors.duplicateKey();
      puts.add(k);
    }
    for (const k of els.puts) {
      // then/else are exclusive, so a key put by both branches is fine.
      if (puts.has(k) && !then.puts.has(k)) throw EtcdErrors.duplicateKey();
      if (intersects(dels, k)) throw EtcdErrors.duplicateKey();
      puts.add(k);
    }
    for (const d of then.dels) dels.push(d);
    for (const d of els.dels) dels.push(d);
  }

  for (const op of reqs) {
    if (op.request.case !== "requestPut") continue;
    const k = toBinary(op.request.value.key);
    if (puts.has(k) || intersects(dels, k)) throw EtcdErrors.duplicateKey();
    puts.add(k);
  }
  return { puts, dels };
}
