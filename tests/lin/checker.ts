/**
 * Linearizability checker for register histories: the Wing–Gong search with
 * Lowe's memoization (as in Lowe, "Testing for linearizability", 2017, and
 * the Porcupine checker).
 *
 * Each key is checked on its own (a register per key is a local property, so
 * a history is linearizable iff every key's sub-history is). For one key the
 * search walks a list of invocation and completion events in time order. At
 * an invocation it tries to linearize that op next: if the model accepts it
 * and the pair (set of linearized ops, register state) was not explored
 * before, the op and its completion are cut out of the list and the search
 * starts again from the front. Reaching a completion whose op is not yet
 * linearized means the current order cannot be extended: it undoes the last
 * choice. The cache of explored (set, state) pairs is what keeps this from
 * being exponential on the histories a real test produces.
 *
 * Unknown outcomes: a write with no answer completes "at infinity", so it may
 * be linearized at any point after its invocation; once every op with a real
 * completion is linearized the rest may simply never have happened.
 *
 * Unanswered writes are what makes real histories expensive: with u of them
 * pending, any subset may have happened. Three reductions keep that in check,
 * all exact (written values are unique per key, as the test clients make
 * them):
 *
 * - An unanswered write whose value some answered op observed (a read
 *   returned it, or a swap succeeded against it) did happen, before the
 *   earliest such observer completed: it becomes an answered write
 *   completing then.
 * - A value no read returned and no compare-and-swap compared against behaves
 *   like every other such value, so all of them become one canonical value in
 *   the model state.
 * - Unanswered writes of such values with the same precondition (plain puts;
 *   swaps expecting the same value) are interchangeable, except for when they
 *   were invoked. If a valid order uses k of them, it can use the k invoked
 *   earliest instead, in invocation order: the i-th point used is after at
 *   least i of their invocations. So the search only ever takes the earliest
 *   one not yet taken, instead of every subset.
 *
 * The search effort is bounded (`maxSteps`); a key that needs more is
 * reported "unknown", never silently passed.
 *
 * @module
 */

import { byKey, checkable, type Op } from "./history.ts";
import { INCONSISTENT, type RegisterState, step } from "./model.ts";

/** Result of checking one key. */
export type Verdict = "linearizable" | "not-linearizable" | "unknown";

/** Bounds on one key's search. */
export interface CheckOptions {
  /**
   * Search steps (events visited) before giving up with "unknown". Default
   * 2,000,000: about a second of work.
   */
  maxSteps?: number;
}

/** Default for `CheckOptions.maxSteps`. */
export const DEFAULT_MAX_STEPS = 2_000_000;

/** What the search concluded for one key. */
export interface KeyResult {
  /** The key. */
  key: string;
  /** Linearizable, not, or unknown when the search was cut off. */
  verdict: Verdict;
  /** Operations the search had to place (failures and unanswered reads excluded). */
  ops: number;
  /** Search steps used. */
  steps: number;
  /** Why the verdict is "unknown". */
  reason?: string;
}

/** One event of the search list (dancing-links style, so cuts can be undone). */
interface Entry {
  /** Index into the checked ops; -1 for the list head. */
  op: number;
  /** Invocation (true) or completion (false). */
  isCall: boolean;
  /** Event time; Infinity for the completion of an unknown op. */
  time: number;
  /** The completion of an invocation. */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

/** Builds the time-ordered event list of `ops`, headed by a sentinel. */
function buildList(ops: readonly Op[]): Entry {
  const events: Entry[] = [];
  ops.forEach((op, i) => {
    const unknown = op.outcome === "unknown";
    if (!unknown && (op.ret === null || op.ret < op.call || !Number.isFinite(op.ret))) {
      throw new RangeError(`op ${i} on ${op.key}: completion ${op.ret} before call ${op.call}`);
    }
    if (!Number.isFinite(op.call)) throw new RangeError(`op ${i} on ${op.key}: bad call time`);
    const ret: Entry = {
      op: i,
      isCall: false,
      time: unknown ? Infinity : op.ret!,
      match: null,
      prev: null,
      next: null,
    };
    events.push({ op: i, isCall: true, time: op.call, match: ret, prev: null, next: null }, ret);
  });
  // Equal times count as overlapping (invocations first): clock resolution
  // must never turn two concurrent ops into an order they did not have.
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    return a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1;
  });
  const head: Entry = {
    op: -1,
    isCall: false,
    time: -Infinity,
    match: null,
    prev: null,
    next: null,
  };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }
  return head;
}

/** Cuts an invocation and its completion out of the list. */
function lift(call: Entry): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

/** Puts back what `lift` cut (in reverse order, so the neighbours are right). */
function unlift(call: Entry): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/** A fixed-size bit set with a compact string form for the memo table. */
class BitSet {
  readonly #words: Uint16Array;
  constructor(size: number) {
    this.#words = new Uint16Array(Math.ceil(size / 16) || 1);
  }
  set(i: number): void {
    this.#words[i >> 4] |= 1 << (i & 15);
  }
  clear(i: number): void {
    this.#words[i >> 4] &= ~(1 << (i & 15));
  }
  has(i: number): boolean {
    return (this.#words[i >> 4] & (1 << (i & 15))) !== 0;
  }
  /** The bits as a string of UTF-16 code units: cheap to hash, exact. */
  key(): string {
    // Chunked: fromCharCode's argument count is bounded.
    let s = "";
    for (let i = 0; i < this.#words.length; i += 4096) {
      s += String.fromCharCode(...this.#words.subarray(i, i + 4096));
    }
    return s;
  }
}

/** Memo key of a (linearized set, state) pair; null and "" stay distinct. */
function memoKey(bits: BitSet, state: RegisterState): string {
  return bits.key() + (state === null ? "\u0000" : "\u0001" + state);
}

/**
 * Rewrites never-observed written values to one canonical value, and links
 * each interchangeable unanswered write to the one of its class invoked just
 * before it (see the module comment). Returns the rewritten ops and, per op,
 * the index of that predecessor or -1.
 */
function reduce(ops: readonly Op[]): { ops: Op[]; before: Int32Array } {
  const observed = new Set<string>();
  // Earliest completion of an answered op that saw each value.
  const seenBy = new Map<string, number>();
  const saw = (value: string, ret: number) => {
    const t = seenBy.get(value);
    if (t === undefined || ret < t) seenBy.set(value, ret);
  };
  for (const op of ops) {
    if (op.kind === "get" && op.read !== null) {
      observed.add(op.read);
      if (op.outcome === "ok") saw(op.read, op.ret!);
    }
    if (op.kind === "cas" && op.expected !== null) {
      observed.add(op.expected);
      if (op.outcome === "ok" && op.swapped) saw(op.expected, op.ret!);
    }
  }
  let canonical = "\u0000unobserved";
  while (observed.has(canonical)) canonical += "\u0000";
  const out = ops.map((op): Op => {
    if (op.kind === "get") return op;
    if (!observed.has(op.value)) return { ...op, value: canonical };
    const seen = seenBy.get(op.value);
    // Seen before it was even invoked: left as it is, for the search to refute.
    if (op.outcome !== "unknown" || seen === undefined || seen < op.call) return op;
    return op.kind === "put"
      ? { ...op, outcome: "ok", ret: seen }
      : { ...op, outcome: "ok", ret: seen, swapped: true };
  });
  const before = new Int32Array(out.length).fill(-1);
  const lastOfClass = new Map<string, number>();
  const order = out.map((_, i) => i).sort((a, b) => out[a].call - out[b].call);
  for (const i of order) {
    const op = out[i];
    if (op.outcome !== "unknown" || op.kind === "get" || op.value !== canonical) continue;
    const cls = op.kind === "put"
      ? "put"
      : op.expected === null
      ? "cas-absent"
      : `cas=${op.expected}`;
    before[i] = lastOfClass.get(cls) ?? -1;
    lastOfClass.set(cls, i);
  }
  return { ops: out, before };
}

/**
 * Checks the history of one key against the register model, starting from an
 * absent key. All ops must be on the same key (only the first one's key is
 * reported). Throws RangeError on a malformed record (completion before
 * invocation, or an `ok` op without a completion time).
 */
export function checkKey(history: readonly Op[], options: CheckOptions = {}): KeyResult {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  const { ops, before } = reduce(history.filter(checkable));
  const key = history[0]?.key ?? "";
  const head = buildList(ops);
  const bits = new BitSet(ops.length);
  const seen = new Set<string>();
  const stack: { entry: Entry; state: RegisterState }[] = [];
  let state: RegisterState = null;
  let entry = head.next;
  let steps = 0;
  const done = (verdict: Verdict, reason?: string): KeyResult => ({
    key,
    verdict,
    ops: ops.length,
    steps,
    ...(reason ? { reason } : {}),
  });

  while (head.next !== null) {
    // The list always ends with a completion, so the walk stops before its end.
    if (entry === null) throw new Error(`checker: ran off the event list of ${key}`);
    if (++steps > maxSteps) {
      return done("unknown", `too big: gave up after ${maxSteps} search steps`);
    }
    if (entry.isCall) {
      const prior = before[entry.op];
      const next: RegisterState | typeof INCONSISTENT = prior >= 0 && !bits.has(prior)
        ? INCONSISTENT
        : step(state, ops[entry.op]);
      if (next !== INCONSISTENT) {
        bits.set(entry.op);
        const k = memoKey(bits, next);
        if (!seen.has(k)) {
          seen.add(k);
          stack.push({ entry, state });
          state = next;
          lift(entry);
          entry = head.next;
          continue;
        }
        bits.clear(entry.op);
      }
      entry = entry.next;
    } else {
      // Completions at infinity sort last: reaching one means every op with a
      // real completion is placed, and the unknown rest may never have happened.
      if (entry.time === Infinity) return done("linearizable");
      const top = stack.pop();
      if (!top) return done("not-linearizable");
      state = top.state;
      bits.clear(top.entry.op);
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return done("linearizable");
}

/** Result of checking a whole history. */
export interface HistoryResult {
  /** Worst verdict over the keys: not-linearizable > unknown > linearizable. */
  verdict: Verdict;
  /** Per-key results, keys in first-seen order. */
  keys: KeyResult[];
}

/** Checks every key of a history independently. */
export function checkHistory(history: readonly Op[], options: CheckOptions = {}): HistoryResult {
  const keys = [...byKey(history).values()].map((ops) => checkKey(ops, options));
  const verdict: Verdict = keys.some((k) => k.verdict === "not-linearizable")
    ? "not-linearizable"
    : keys.some((k) => k.verdict === "unknown")
    ? "unknown"
    : "linearizable";
  return { verdict, keys };
}
