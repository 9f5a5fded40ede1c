/**
 * The fuzzers' only source of randomness: a small seeded PRNG (sfc32, a
 * 128-bit-state generator that passes PractRand to 2^40+ bytes) and the rule
 * that derives every case's generator from `(seed, case index)` alone, so a
 * case can be replayed without running the ones before it.
 *
 * @module
 */

/** Mixes a 32-bit value (the finaliser of MurmurHash3): nearby inputs give unrelated outputs. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A deterministic pseudo-random generator; never use Math.random in a fuzzer. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** A generator whose whole output is fixed by the four 32-bit words. */
  constructor(a: number, b: number, c: number, d: number) {
    this.#a = a >>> 0;
    this.#b = b >>> 0;
    this.#c = c >>> 0;
    this.#d = d >>> 0 || 1;
    // The first outputs of sfc32 still show the seed: discard them.
    for (let i = 0; i < 12; i++) this.u32();
  }

  /**
   * The generator of case `index` of a run with `seed`: it depends on the
   * pair only, so `FUZZ_SEED=<seed> FUZZ_CASE=<index>` reproduces it alone.
   */
  static forCase(seed: number, index: number, stream = 0): Rng {
    const s = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    return new Rng(
      mix32(s ^ 0x9e3779b9),
      mix32(hi ^ mix32(index + 0x7f4a7c15)),
      mix32(index ^ 0x6a09e667 ^ mix32(stream)),
      mix32(s + Math.imul(index, 0x85ebca6b) + stream),
    );
  }

  /** Next uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n) for 0 < n <= 2^32. */
  below(n: number): number {
    if (n <= 0) throw new RangeError(`below(${n})`);
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** One element, chosen with the given relative weights (`[weight, item]` pairs). */
  weighted<T>(choices: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let r = this.float() * total;
    for (const [w, item] of choices) {
      r -= w;
      if (r < 0) return item;
    }
    return choices[choices.length - 1][1];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (v >>> (8 * k)) & 0xff;
    }
    return out;
  }

  /**
   * A length that is usually small but sometimes large: fuzz inputs should
   * mostly be cheap, and now and then probe size limits.
   */
  size(max: number): number {
    const r = this.float();
    if (r < 0.6) return this.below(Math.min(max, 32) + 1);
    if (r < 0.9) return this.below(Math.min(max, 1024) + 1);
    return this.below(max + 1);
  }

  /**
   * A 32-bit value that hits edges often (0, 1, powers of two and their
   * neighbours, all ones), since bugs live at limits.
   */
  edgyU32(): number {
    if (this.chance(0.5)) return this.u32();
    const p = this.below(33);
    const base = p === 32 ? 0xffffffff : 2 ** p;
    return Math.min(0xffffffff, Math.max(0, base + this.int(-1, 1)));
  }
}
