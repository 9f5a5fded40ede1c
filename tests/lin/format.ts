/**
 * Human-readable rendering of register histories, for failure messages and
 * reports: one line per op, in invocation order, times relative to a origin.
 *
 * @module
 */

import type { Op } from "./history.ts";

/** `"text"` for a value, `absent` for null. */
function show(value: string | null): string {
  return value === null ? "absent" : JSON.stringify(value);
}

/** What an op did, e.g. `cas "a" -> "b": swapped`. */
export function describeOp(op: Op): string {
  switch (op.kind) {
    case "get":
      return op.outcome === "ok" ? `get -> ${show(op.read)}` : "get";
    case "put":
      return `put ${show(op.value)}`;
    case "cas": {
      const base = `cas ${show(op.expected)} -> ${show(op.value)}`;
      if (op.outcome !== "ok") return base;
      return `${base}: ${op.swapped ? "swapped" : "not swapped"}`;
    }
  }
}

/**
 * One line per op: `[ call ..  return] client via  what  outcome`. Times are
 * milliseconds after `origin` (default: the earliest invocation).
 */
export function formatHistory(ops: readonly Op[], origin?: number): string {
  if (ops.length === 0) return "  (no operations)";
  const t0 = origin ?? Math.min(...ops.map((o) => o.call));
  const ms = (t: number) => (t - t0).toFixed(1).padStart(9);
  return [...ops].sort((a, b) => a.call - b.call).map((op) => {
    const end = op.ret === null ? "        ?" : ms(op.ret);
    const who = `c${op.client}${op.via ? ` via ${op.via}` : ""}`.padEnd(12);
    const outcome = op.outcome === "ok" ? "" : `  (${op.outcome})`;
    return `  [${ms(op.call)} ..${end}] ${who} ${describeOp(op)}${outcome}`;
  }).join("\n");
}
