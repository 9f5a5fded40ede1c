/**
 * The set of synced watchers, indexed for cheap fan-out: single-key
 * watchers sit in a map by key (the watcher itself when it is the key's
 * only one, as with 10,000 watchers on distinct keys; a set once a second
 * joins it), range watchers are grouped by their exact
 * span (many clients watch the same prefix) and the distinct spans are kept
 * sorted by start key beside the running maximum of their ends. An event's
 * key finds, by two binary searches, the spans that start at or before it
 * and the first one from which some span reaches past it; only those in
 * between are looked at. 10,000 watchers on distinct prefixes thus cost a
 * put O(log n) plus the spans that hold its key, not a scan of every span
 * (spans nested inside a wider one are still looked at one by one).
 *
 * @module
 */
import { Watcher } from "./watcher.ts";

/** Watchers sharing one exact range span. */
interface RangeGroup {
  /** Map key of the group. */
  id: string;
  /** Inclusive start (binary string). */
  start: string;
  /** Exclusive end; undefined = unbounded (from-key). */
  end: string | undefined;
  /** Members. */
  watchers: Set<Watcher>;
}

// Binary strings only hold chars 0..255, so U+FFFF cannot occur inside one.
const SEP = "\uffff";
/** Greater than every binary string: the end of an unbounded (from-key) span. */
const NO_END = "\u0100";

/** An indexed set of watchers (etcd's watcherGroup). */
export class WatcherGroup {
  readonly #byKey = new Map<string, Watcher | Set<Watcher>>();
  readonly #rangeById = new Map<string, RangeGroup>();
  /** Distinct range spans sorted by start key. */
  readonly #ranges: RangeGroup[] = [];
  /** #reach[i]: the largest end among #ranges[0..i] (NO_END for an unbounded one); never decreases. */
  readonly #reach: string[] = [];
  #size = 0;

  /** How many watchers the group holds. */
  get size(): number {
    return this.#size;
  }

  /** Adds a watcher. */
  add(w: Watcher): void {
    this.#size++;
    if (w.kind === "single") {
      const held = this.#byKey.get(w.bkey);
      if (held === undefined) this.#byKey.set(w.bkey, w);
      else if (held instanceof Watcher) {
        if (held !== w) this.#byKey.set(w.bkey, new Set([held, w]));
        else this.#size--; // already there
      } else {
        const before = held.size;
        held.add(w);
        if (held.size === before) this.#size--;
      }
      return;
    }
    const end = w.kind === "from" ? undefined : w.bend;
    const id = w.bkey + SEP + (end ?? SEP);
    let g = this.#rangeById.get(id);
    if (g === undefined) {
      g = { id, start: w.bkey, end, watchers: new Set() };
      this.#rangeById.set(id, g);
      const at = this.#upperBound(w.bkey);
      this.#ranges.splice(at, 0, g);
      this.#reach.splice(at, 0, "");
      this.#recomputeReach(at);
    }
    g.watchers.add(w);
  }

  /** Removes a watcher; returns whether it was in the group. */
  delete(w: Watcher): boolean {
    if (w.kind === "single") {
      const held = this.#byKey.get(w.bkey);
      if (held === w) this.#byKey.delete(w.bkey);
      else if (held === undefined || held instanceof Watcher || !held.delete(w)) return false;
      else if (held.size === 1) this.#byKey.set(w.bkey, held.values().next().value!);
      this.#size--;
      return true;
    }
    const id = w.bkey + SEP + (w.kind === "from" ? SEP : w.bend);
    const g = this.#rangeById.get(id);
    if (g === undefined || !g.watchers.delete(w)) return false;
    this.#size--;
    if (g.watchers.size === 0) {
      this.#rangeById.delete(id);
      // Groups with the same start sit together just before the upper bound.
      let i = this.#upperBound(g.start) - 1;
      while (i >= 0 && this.#ranges[i] !== g) i--;
      if (i >= 0) {
        this.#ranges.splice(i, 1);
        this.#reach.splice(i, 1);
        this.#recomputeReach(i);
      }
    }
    return true;
  }

  /** Calls `fn` for every watcher whose span contains the binary-string key `k`. */
  forEachMatching(k: string, fn: (w: Watcher) => void): void {
    const exact = this.#byKey.get(k);
    if (exact instanceof Watcher) fn(exact);
    else if (exact !== undefined) { for (const w of exact) fn(w); }
    const ranges = this.#ranges;
    if (ranges.length === 0) return;
    const reach = this.#reach;
    // Spans [0, hi) start at or before k; below `lo` none reaches past k
    // (#reach never decreases, so `lo` is found by binary search too).
    const hi = this.#upperBound(k);
    let lo = 0;
    let top = hi;
    while (lo < top) {
      const mid = (lo + top) >>> 1;
      if (reach[mid] > k) top = mid;
      else lo = mid + 1;
    }
    // In start order, as before: a stream's responses keep one order.
    for (let i = lo; i < hi; i++) {
      const g = ranges[i];
      if (g.end !== undefined && k >= g.end) continue;
      for (const w of g.watchers) fn(w);
    }
  }

  /** Refreshes the running maximum of ends from index `from` on. */
  #recomputeReach(from: number): void {
    const ranges = this.#ranges;
    const reach = this.#reach;
    let max = from > 0 ? reach[from - 1] : "";
    for (let i = from; i < ranges.length; i++) {
      const end = ranges[i].end ?? NO_END;
      if (end > max) max = end;
      reach[i] = max;
    }
  }

  /** Every watcher (single-key ones first). */
  *[Symbol.iterator](): IterableIterator<Watcher> {
    for (const held of this.#byKey.values()) {
      if (held instanceof Watcher) yield held;
      else yield* held;
    }
    for (const g of this.#ranges) yield* g.watchers;
  }

  /** Index of the first range group whose start is greater than `k`. */
  #upperBound(k: string): number {
    let lo = 0;
    let hi = this.#ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ranges[mid].start <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
