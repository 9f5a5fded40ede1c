/**
 * The set of synced watchers, indexed for cheap fan-out: single-key
 * watchers sit in a map by key (the watcher itself when it is the key's
 * only one, as with 10,000 watchers on distinct keys; a set once a second
 * joins it), range watchers are grouped by their exact
 * span (many clients watch the same prefix) and the distinct spans are kept
 * sorted by start key, so an event only looks at spans starting at or
 * before its key.
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

/** An indexed set of watchers (etcd's watcherGroup). */
export class WatcherGroup {
  readonly #byKey = new Map<string, Watcher | Set<Watcher>>();
  readonly #rangeById = new Map<string, RangeGroup>();
  /** Distinct range spans sorted by start key. */
  readonly #ranges: RangeGroup[] = [];
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
      this.#ranges.splice(this.#upperBound(w.bkey), 0, g);
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
      if (i >= 0) this.#ranges.splice(i, 1);
    }
    return true;
  }

  /** Calls `fn` for every watcher whose span contains the binary-string key `k`. */
  forEachMatching(k: string, fn: (w: Watcher) => void): void {
    const exact = this.#byKey.get(k);
    if (exact instanceof Watcher) fn(exact);
    else if (exact !== undefined) { for (const w of exact) fn(w); }
    const ranges = this.#ranges;
    const n = ranges.length;
    for (let i = 0; i < n; i++) {
      const g = ranges[i];
      if (g.start > k) break;
      if (g.end !== undefined && k >= g.end) continue;
      for (const w of g.watchers) fn(w);
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
