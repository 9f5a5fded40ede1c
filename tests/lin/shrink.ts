/**
 * Cuts a non-linearizable key history down to a small witness a person can
 * read, using only reductions that keep it a genuine counterexample:
 *
 * 1. **Shortest failing prefix.** The prefix at time T keeps the ops invoked
 *    by T; those still running at T lose their answer (a write becomes
 *    unknown, a read is dropped). Any linearization of the whole history,
 *    cut at T, linearizes that prefix, so a prefix that fails proves the
 *    whole history fails. T is found by bisection over completion times.
 * 2. **Observations dropped one by one.** Removing a read, or a
 *    compare-and-swap that failed its comparison, only removes constraints,
 *    so if the rest still fails, the rest is still a counterexample.
 * 3. **Unseen writes dropped one by one**, once no failed compare-and-swap
 *    is left. A write whose value no remaining op reads or compares against
 *    only ever matters by making such a swap fail; without any, a
 *    linearization of the history with the write is one without it. Writes
 *    whose value is seen are never dropped: the read of it would look wrong.
 *
 * Every check is bounded by the same search budget as the main check, and the
 * number of checks is bounded too; an inconclusive check keeps the op.
 *
 * @module
 */

import { checkKey, type CheckOptions } from "./checker.ts";
import { checkable, observationOnly, type Op } from "./history.ts";

/** Bounds on the shrinking. */
export interface ShrinkOptions extends CheckOptions {
  /** Checks spent on dropping observations (default 300). */
  maxChecks?: number;
}

/** The prefix of `ops` at time `t` (see the module comment). */
export function prefixAt(ops: readonly Op[], t: number): Op[] {
  const out: Op[] = [];
  for (const op of ops) {
    if (op.call > t) continue;
    if (op.outcome === "ok" && op.ret !== null && op.ret > t) {
      if (op.kind === "get") continue;
      if (op.kind === "put") out.push({ ...op, outcome: "unknown", ret: null });
      else out.push({ ...op, outcome: "unknown", ret: null, swapped: undefined });
      continue;
    }
    out.push(op);
  }
  return out;
}

/**
 * A small sub-history of one key's `ops` that is itself not linearizable, in
 * invocation order; undefined when `ops` is not (provably) non-linearizable.
 */
export function minimalCounterexample(
  ops: readonly Op[],
  options: ShrinkOptions = {},
): Op[] | undefined {
  const fails = (h: readonly Op[]) => checkKey(h, options).verdict === "not-linearizable";
  const relevant = ops.filter(checkable).sort((a, b) => a.call - b.call);
  if (!fails(relevant)) return undefined;

  const times = [
    ...new Set(relevant.filter((o) => o.outcome === "ok").map((o) => o.ret!)),
  ].sort((a, b) => a - b);
  let current: Op[] = relevant;
  // Smallest index whose prefix fails; the full history (hi) is known to.
  let lo = 0;
  let hi = times.length - 1;
  let best: Op[] | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const prefix = prefixAt(relevant, times[mid]);
    if (fails(prefix)) {
      best = prefix;
      hi = mid - 1;
    } else {
      lo = mid + 1;
    }
  }
  if (best) current = best;

  let budget = options.maxChecks ?? 300;
  const dropWhere = (droppable: (op: Op, rest: readonly Op[]) => boolean) => {
    for (let i = current.length - 1; i >= 0 && budget > 0; i--) {
      if (!droppable(current[i], current)) continue;
      budget--;
      const without = current.slice(0, i).concat(current.slice(i + 1));
      if (fails(without)) current = without;
    }
  };
  dropWhere(observationOnly);
  const failedSwap = (o: Op) => o.kind === "cas" && o.outcome === "ok" && o.swapped === false;
  if (!current.some(failedSwap)) {
    dropWhere((op, rest) => op.kind !== "get" && !seen(op.value, rest));
  }
  return current;
}

/** Whether any op of `ops` reads `value` or compares against it. */
function seen(value: string, ops: readonly Op[]): boolean {
  return ops.some((o) =>
    (o.kind === "get" && o.outcome === "ok" && o.read === value) ||
    (o.kind === "cas" && o.expected === value)
  );
}
