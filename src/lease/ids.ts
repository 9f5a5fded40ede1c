/**
 * Lease ids the server picks when a client grants with ID 0, laid out as
 * etcd's request-id generator lays them out: the member id's low 16 bits,
 * then 40 bits of the start time in ms, then an 8-bit counter that carries
 * into the time bits; masked to 63 bits so ids are positive int64. The
 * member bits keep members from picking the same id; the time bits keep a
 * restarted member from reusing one.
 *
 * @module
 */

const SUFFIX_BITS = 48n;
const TS_BITS = 40n;
const COUNT_BITS = 8n;
const SUFFIX_MASK = (1n << SUFFIX_BITS) - 1n;
const INT63_MASK = (1n << 63n) - 1n;

/** Generates positive int64 lease ids, never 0. */
export class LeaseIdGenerator {
  readonly #prefix: bigint;
  #suffix: bigint;

  /** @param memberId this member's id @param nowMs the start time in ms since epoch */
  constructor(memberId: bigint, nowMs: number = Date.now()) {
    this.#prefix = (memberId & 0xffffn) << SUFFIX_BITS;
    this.#suffix = (BigInt(Math.floor(nowMs)) & ((1n << TS_BITS) - 1n)) << COUNT_BITS;
  }

  /** The next id. */
  next(): bigint {
    for (;;) {
      this.#suffix++;
      const id = (this.#prefix | (this.#suffix & SUFFIX_MASK)) & INT63_MASK;
      if (id !== 0n) return id;
    }
  }
}
