/**
 * The sequential specification the checker linearizes against: one register
 * per key, holding a string or nothing (null), with get, put and
 * compare-and-swap. It matches etcd's semantics for these operations:
 * a Txn comparing `value(key) = expected` fails on an absent key, and the
 * "absent" comparison is `version(key) = 0`.
 *
 * @module
 */

import type { Op } from "./history.ts";

/** Register contents: the value, or null when the key does not exist. */
export type RegisterState = string | null;

/** A marker no real value can equal: `step`'s answer for "this op cannot happen here". */
export const INCONSISTENT: unique symbol = Symbol("inconsistent");

/**
 * Applies `op` to `state` as if it took effect atomically now. Returns the
 * new state, or INCONSISTENT when the op's recorded answer contradicts the
 * state (a read of another value, a swap that succeeded against the wrong
 * value, a swap that failed although the value matched).
 *
 * An op whose outcome is unknown has no recorded answer: a write simply takes
 * effect (a compare-and-swap only if its comparison holds).
 */
export function step(state: RegisterState, op: Op): RegisterState | typeof INCONSISTENT {
  switch (op.kind) {
    case "get":
      return op.read === state ? state : INCONSISTENT;
    case "put":
      return op.value;
    case "cas": {
      const holds = state === op.expected;
      if (op.outcome !== "ok") return holds ? op.value : state;
      if (op.swapped === true) return holds ? op.value : INCONSISTENT;
      return holds ? INCONSISTENT : state;
    }
  }
}
