/**
 * A seeded PRNG for the Jepsen run's choices (which fault, which member, how
 * long, which key and op), so a run's schedule is printed as one number.
 * The processes and the network are not deterministic, so a seed replays the
 * choices, not the outcome.
 *
 * @module
 */

/** Random numbers from one seed (mulberry32). */
export class Rand {
  #a: number;

  /** Starts the sequence of `seed`. */
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Uniform in [range[0], range[1]]. */
  between(range: readonly [number, number]): number {
    return range[0] + this.next() * (range[1] - range[0]);
  }

  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[Math.floor(this.next() * items.length)];
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}
