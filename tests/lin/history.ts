/**
 * The history format the linearizability checker reads: one record per client
 * operation on a single-register-per-key store, with the real time it was
 * invoked and the real time its answer arrived.
 *
 * Times are milliseconds on one monotonic clock (the recording process's
 * `performance.now()`), so "A returned before B was invoked" is a real-time
 * order every linearization must respect.
 *
 * @module
 */

/**
 * How an operation ended.
 *
 * - `ok`: the answer arrived; its result is in the record.
 * - `fail`: it certainly had no effect (it was never sent, or the server
 *   refused it before proposing). The checker ignores it.
 * - `unknown`: no answer (timeout, connection lost after sending). A write
 *   may have taken effect at any moment after its invocation, or never; an
 *   unknown read tells nothing and is ignored.
 */
export type Outcome = "ok" | "fail" | "unknown";

/** Fields every operation has. */
export interface OpBase {
  /** The client (logical process) that issued it. */
  client: number;
  /** The key; each key is an independent register. */
  key: string;
  /** Invocation time (ms, monotonic). */
  call: number;
  /** Completion time (ms, monotonic); null unless `outcome` is `ok` or `fail`. */
  ret: number | null;
  /** How it ended. */
  outcome: Outcome;
  /** Which server it went to (for reports only). */
  via?: string;
}

/** A linearizable read of one key; `read` is the value seen, null when absent. */
export interface GetOp extends OpBase {
  /** Discriminant. */
  kind: "get";
  /** Value returned (only meaningful when `outcome` is `ok`). */
  read: string | null;
}

/** An unconditional put. */
export interface PutOp extends OpBase {
  /** Discriminant. */
  kind: "put";
  /** Value written. */
  value: string;
}

/**
 * Compare-and-swap: put `value` if the key holds `expected` (null: if the key
 * is absent). `swapped` is the answer of an `ok` operation.
 */
export interface CasOp extends OpBase {
  /** Discriminant. */
  kind: "cas";
  /** Value the key must hold, or null for "absent". */
  expected: string | null;
  /** Value written when the comparison holds. */
  value: string;
  /** Whether the comparison held (only meaningful when `outcome` is `ok`). */
  swapped?: boolean;
}

/** One operation of a history. */
export type Op = GetOp | PutOp | CasOp;

/** Operations grouped by key, keys in first-seen order. */
export function byKey(ops: readonly Op[]): Map<string, Op[]> {
  const groups = new Map<string, Op[]>();
  for (const op of ops) {
    let list = groups.get(op.key);
    if (!list) groups.set(op.key, list = []);
    list.push(op);
  }
  return groups;
}

/**
 * Whether an operation constrains the search: definite failures had no effect,
 * and a read without an answer observed nothing.
 */
export function checkable(op: Op): boolean {
  if (op.outcome === "fail") return false;
  if (op.kind === "get" && op.outcome !== "ok") return false;
  return true;
}

/**
 * Whether an operation only observes (never changes) the register: a read, or
 * a compare-and-swap known to have failed its comparison.
 */
export function observationOnly(op: Op): boolean {
  if (op.outcome !== "ok") return false;
  return op.kind === "get" || (op.kind === "cas" && op.swapped === false);
}
