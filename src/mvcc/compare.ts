/**
 * Txn compares and branch selection, as etcd's `applyCompare`, `compareKV`
 * and `compareToPath` define them.
 *
 * Every compare of a txn, nested ones included, is evaluated against the
 * state before the txn writes anything; the result is a "path": one boolean
 * per txn (outer first, then nested txns of the chosen branch, depth first).
 */
import {
  type Compare,
  Compare_CompareResult as Result,
  Compare_CompareTarget as Target,
  type RequestOp,
  type TxnRequest,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type KeyIndex, type Version, visibleAt } from "./history.ts";
import { compareBytes, EMPTY_BYTES, keySpan } from "./keys.ts";

/**
 * Compares one key-value (undefined = a missing key, read as all-zero fields)
 * against `c`. A target value of the wrong oneof case reads as zero/empty.
 */
export function compareKV(c: Compare, v: Version | undefined): boolean {
  let result: number;
  const tu = c.targetUnion;
  switch (c.target) {
    case Target.VALUE: {
      const want = tu.case === "value" ? tu.value : EMPTY_BYTES;
      result = compareBytes(v === undefined ? EMPTY_BYTES : v.value, want);
      break;
    }
    case Target.CREATE:
      result = cmpNum(v === undefined ? 0 : v.create, tu.case === "createRevision" ? tu.value : 0n);
      break;
    case Target.MOD:
      result = cmpNum(v === undefined ? 0 : v.main, tu.case === "modRevision" ? tu.value : 0n);
      break;
    case Target.VERSION:
      result = cmpNum(v === undefined ? 0 : v.ver, tu.case === "version" ? tu.value : 0n);
      break;
    case Target.LEASE: {
      const have = v === undefined ? 0n : v.lease;
      const want = tu.case === "lease" ? tu.value : 0n;
      result = have < want ? -1 : have > want ? 1 : 0;
      break;
    }
    default:
      result = 0;
  }
  switch (c.result) {
    case Result.EQUAL:
      return result === 0;
    case Result.NOT_EQUAL:
      return result !== 0;
    case Result.GREATER:
      return result > 0;
    case Result.LESS:
      return result < 0;
    default:
      return true;
  }
}

// Store numbers are < 2^53, so comparing with Number(want) keeps the exact sign.
function cmpNum(have: number, want: bigint): number {
  const w = Number(want);
  return have < w ? -1 : have > w ? 1 : 0;
}

/**
 * One compare over its key or range at `rev`: every existing key must
 * satisfy it; with no key, VALUE compares fail and others see a zero kv.
 */
export function applyCompare(index: KeyIndex, c: Compare, rev: number): boolean {
  let any = false;
  let ok = true;
  index.scan(keySpan(c.key, c.rangeEnd), (hist) => {
    const v = visibleAt(hist, rev);
    if (v === undefined) return;
    any = true;
    if (!compareKV(c, v)) {
      ok = false;
      return true;
    }
  });
  if (!any) return c.target === Target.VALUE ? false : compareKV(c, undefined);
  return ok;
}

/** True when every compare holds (an empty list holds). */
export function applyCompares(index: KeyIndex, cmps: Compare[], rev: number): boolean {
  for (const c of cmps) if (!applyCompare(index, c, rev)) return false;
  return true;
}

/** The chosen branch of every txn in the request, evaluated at `rev`. */
export function compareToPath(index: KeyIndex, rt: TxnRequest, rev: number): boolean[] {
  const path: boolean[] = [];
  walkPath(index, rt, rev, path);
  return path;
}

function walkPath(index: KeyIndex, rt: TxnRequest, rev: number, path: boolean[]): void {
  const ok = applyCompares(index, rt.compare, rev);
  path.push(ok);
  for (const op of ok ? rt.success : rt.failure) {
    if (op.request.case === "requestTxn") walkPath(index, op.request.value, rev, path);
  }
}

/** Ops of the branch `path[at]` chose for `rt`. */
export function chosenOps(rt: TxnRequest, path: boolean[], at: number): RequestOp[] {
  return path[at] ? rt.success : rt.failure;
}

/**
 * Visits every non-txn op on the chosen path, depth first in request order
 * (the order etcd's `checkRequests` uses). Returns how many path entries
 * the nested txns consumed.
 */
export function forEachChosenOp(
  rt: TxnRequest,
  path: boolean[],
  at: number,
  visit: (op: RequestOp) => void,
): number {
  let used = 0;
  for (const op of chosenOps(rt, path, at)) {
    if (op.request.case === "requestTxn") {
      const n = forEachChosenOp(op.request.value, path, at + 1 + used, visit);
      used += n + 1;
    } else {
      visit(op);
    }
  }
  return used;
}

/** True when no op anywhere in the request (either branch, any depth) writes. */
export function isTxnReadonly(rt: TxnRequest): boolean {
  for (const ops of [rt.success, rt.failure]) {
    for (const op of ops) {
      const c = op.request.case;
      if (c === "requestPut" || c === "requestDeleteRange") return false;
      if (c === "requestTxn" && !isTxnReadonly(op.request.value)) return false;
    }
  }
  return true;
}
