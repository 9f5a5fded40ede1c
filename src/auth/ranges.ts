/**
 * Key ranges as etcd's auth store reads them, merged into one sorted set
 * per user and permission type so that a check is a binary search.
 *
 * Keys are latin1 binary strings (one char per byte, see src/mvcc/keys.ts),
 * so `<` is byte order. A permission's `range_end` means:
 * - empty: the single key (the interval `[key, key + "\0")`);
 * - the one byte `"\0"`: every key from `key` on (open-ended);
 * - anything else: `[key, range_end)`.
 *
 * A request range is read the same way, and is allowed only when the
 * union of the user's permissions covers all of it. That is what closes
 * GHSA-xg4h-6gfc-h4m8: an open-ended `"\0"` end is a range to cover, never a
 * single key.
 *
 * @module
 */

/** `null` as an end: no upper bound. */
export type RangeEnd = string | null;

/** One half-open interval `[begin, end)`; `end === null` is unbounded. */
export interface KeyInterval {
  begin: string;
  end: RangeEnd;
}

/** The interval a `(key, range_end)` pair names, as binary strings. */
export function intervalOf(key: string, rangeEnd: string): KeyInterval {
  if (rangeEnd === "") return { begin: key, end: key + "\0" };
  if (rangeEnd === "\0") return { begin: key, end: null };
  return { begin: key, end: rangeEnd };
}

/** True when `a <= b` as ends (`null` is the largest). */
function endAtMost(a: RangeEnd, b: RangeEnd): boolean {
  if (b === null) return true;
  if (a === null) return false;
  return a <= b;
}

/** A union of key intervals, merged into sorted disjoint runs. */
export class RangeSet {
  readonly #begins: string[];
  readonly #ends: RangeEnd[];

  private constructor(begins: string[], ends: RangeEnd[]) {
    this.#begins = begins;
    this.#ends = ends;
  }

  /** The set nothing is in. */
  static readonly EMPTY: RangeSet = new RangeSet([], []);

  /** Merges `intervals` (any order, overlapping or touching ones joined). */
  static of(intervals: KeyInterval[]): RangeSet {
    const sorted = intervals
      .filter((i) => i.end === null || i.begin < i.end)
      .sort((a, b) => (a.begin < b.begin ? -1 : a.begin > b.begin ? 1 : 0));
    const begins: string[] = [];
    const ends: RangeEnd[] = [];
    for (const iv of sorted) {
      const last = ends.length - 1;
      // Touching runs join too: [a, b) and [b, c) cover [a, c) without a gap.
      if (last >= 0 && (ends[last] === null || iv.begin <= ends[last]!)) {
        if (!endAtMost(iv.end, ends[last])) ends[last] = iv.end;
        continue;
      }
      begins.push(iv.begin);
      ends.push(iv.end);
    }
    return new RangeSet(begins, ends);
  }

  /** Number of disjoint runs (for tests). */
  get size(): number {
    return this.#begins.length;
  }

  /** Index of the last run beginning at or before `key`, or -1. */
  #runAt(key: string): number {
    let lo = 0;
    let hi = this.#begins.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#begins[mid] <= key) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Whether the single key `key` is in the set. */
  hasKey(key: string): boolean {
    const i = this.#runAt(key);
    if (i < 0) return false;
    const end = this.#ends[i];
    return end === null || key < end;
  }

  /**
   * Whether every key of `[begin, end)` is in the set. An empty or
   * inverted interval selects no key; it is refused, the safe answer
   * (etcd's interval tree answers it by accident of its overlap test).
   */
  covers(begin: string, end: RangeEnd): boolean {
    if (end !== null && begin >= end) return false;
    const i = this.#runAt(begin);
    if (i < 0) return false;
    return endAtMost(end, this.#ends[i]);
  }
}
