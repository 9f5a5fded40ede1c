/**
 * Append-only byte slabs holding every stored version's key and value bytes.
 *
 * Why: one `Uint8Array` per value costs far more than its bytes. Measured on
 * Deno 2.9, a 256-byte `Uint8Array` made with `slice()` adds ~660 bytes of
 * resident memory (a 200-byte JS object pair plus a malloc'd backing store
 * and V8's C++ bookkeeping for it), an 11-byte key ~420. Packing the bytes
 * into large shared buffers leaves only the bytes themselves; readers get a
 * fresh view (`new Uint8Array(buf, off, len)`, as cheap as reading a field).
 *
 * Bytes once written are never overwritten: views handed out (responses,
 * watch events, the lessor) stay valid however long they live. Space comes
 * back in whole slabs: a slab whose bytes are all freed is dropped, and
 * compaction moves the survivors out of sparse slabs (`sparseSlabs`,
 * `move`) so those can be dropped too. A dropped slab's memory is
 * garbage-collected once no view of it remains.
 */

import { adviseHugePages, HUGE_PAGE_MIN_BYTES } from "../process/huge_pages.ts";

/** First slab size: small stores (tests, fresh members) stay small. */
const MIN_SLAB = 4 * 1024;
/**
 * Slab size cap: each slab is one allocation of at most this many bytes.
 * Large enough to be backed by huge pages (`#open` asks for them): the
 * first write into each 4 KiB page of a fresh slab is a page fault, which
 * on the VM measured cost more than the copies (a restart re-applying
 * 100,000 puts of 256 bytes spent ~100 ms of its ~650 ms faulting 1 MiB
 * slabs in); with 2 MiB pages there are 512 times fewer. Slabs reach this
 * size once the arena holds ~8 MiB.
 */
const MAX_SLAB = 8 * 1024 * 1024;

/** One shared buffer; `live` counts bytes still referenced by versions. */
export class Slab {
  /** The slab's memory (views are made on it). */
  readonly buf: ArrayBuffer;
  /** The same memory as bytes. */
  readonly bytes: Uint8Array;
  /**
   * Bytes the slab counts for (its capacity, or for an adopted buffer
   * the stored bytes placed in it: the rest of such a buffer is not room
   * for writes, and counting it as free space would inflate the size a
   * restarted store reports).
   */
  size: number;
  /** Bytes handed out so far (the rest is free space at the end). */
  used = 0;
  /** Bytes handed out and not yet freed. */
  live = 0;

  /** @param size capacity in bytes, or an existing buffer to adopt (counted as empty) */
  constructor(size: number | ArrayBuffer) {
    this.buf = typeof size === "number" ? new ArrayBuffer(size) : size;
    this.bytes = new Uint8Array(this.buf);
    this.size = typeof size === "number" ? size : 0;
  }
}

/** A set of slabs with one open for appending. */
export class Arena {
  // A zero-size placeholder until the first write opens a real slab.
  #cur = new Slab(0);
  #slabs = new Set<Slab>();
  #nextSize = MIN_SLAB;
  /** Sum of `live` over the slabs (kept as a count: the quota asks on every put). */
  #live = 0;
  /** Sum of the sizes of the closed slabs in `#slabs`. */
  #closedBytes = 0;
  /** Offset of the bytes placed by the last `write` (in the slab it returned). */
  lastOffset = 0;

  /** Number of slabs holding live bytes (including the open one). */
  get slabCount(): number {
    return this.#slabs.size;
  }

  /** Total capacity of all slabs, in bytes. */
  get capacity(): number {
    let n = 0;
    for (const s of this.#slabs) n += s.size;
    return n;
  }

  /** Bytes still referenced, over all slabs. */
  get liveBytes(): number {
    let n = 0;
    for (const s of this.#slabs) n += s.live;
    return n;
  }

  /**
   * Space held in slabs that no live byte uses: freed bytes anywhere, and
   * the unused tails of closed slabs (the open slab's tail is room for the
   * next writes, not waste).
   */
  get slackBytes(): number {
    return this.#closedBytes + this.#cur.used - this.#live;
  }

  /**
   * Copies `a` then `b` next to each other into a slab; returns the slab,
   * with the offset of `a` in `lastOffset`.
   */
  write(a: Uint8Array, b: Uint8Array): Slab {
    const n = a.length + b.length;
    let s = this.#cur;
    if (s.used + n > s.bytes.length) s = this.#open(n);
    const off = s.used;
    s.bytes.set(a, off);
    if (b.length > 0) s.bytes.set(b, off + a.length);
    s.used += n;
    s.live += n;
    this.#live += n;
    this.lastOffset = off;
    return s;
  }

  /**
   * Takes `buf` as a closed slab holding stored bytes that are already in
   * place (a decoded snapshot's keys and values, where they lie in the
   * snapshot itself): no copy, and no second buffer as large as the data
   * while restoring. Nothing is counted until {@link claim} says which
   * bytes are stored; the caller never changes `buf` afterwards.
   */
  adopt(buf: ArrayBuffer): Slab {
    const s = new Slab(buf);
    s.used = buf.byteLength;
    this.#slabs.add(s);
    return s;
  }

  /** Counts `n` bytes of an adopted `slab` as stored (live). */
  claim(slab: Slab, n: number): void {
    slab.size += n;
    slab.live += n;
    this.#live += n;
    this.#closedBytes += n;
  }

  /** Releases `n` bytes of `slab` (they are never reused, only dropped with the slab). */
  free(slab: Slab, n: number): void {
    slab.live -= n;
    this.#live -= n;
    if (slab.live === 0 && slab !== this.#cur && this.#slabs.delete(slab)) {
      this.#closedBytes -= slab.size;
    }
  }

  /**
   * Closed slabs less than half live: moving their survivors out
   * (`move`) lets them go, at a copy cost at most what they free.
   */
  sparseSlabs(): Set<Slab> {
    const out = new Set<Slab>();
    for (const s of this.#slabs) {
      if (s !== this.#cur && s.live * 2 < s.size) out.add(s);
    }
    return out;
  }

  /**
   * Closes the open slab (its unused tail becomes dead space) so that it
   * can be evacuated like any other; the next write opens a new one.
   */
  seal(): void {
    this.#close(this.#cur);
    this.#cur = new Slab(0);
  }

  /** The open slab `old` stops taking writes: its unused tail is dead space from now on. */
  #close(old: Slab): void {
    old.used = old.bytes.length;
    if (!this.#slabs.has(old)) return; // the zero-size placeholder
    if (old.live === 0) this.#slabs.delete(old);
    else this.#closedBytes += old.size;
  }

  /**
   * Closed slabs holding any space that is not live (freed bytes or an
   * unused tail): defragmentation moves their survivors out.
   */
  slackSlabs(): Set<Slab> {
    const out = new Set<Slab>();
    for (const s of this.#slabs) {
      if (s !== this.#cur && s.live < s.size) out.add(s);
    }
    return out;
  }

  /**
   * Copies `n` bytes at `off` in `from` into the open slab, frees them in
   * `from`, and returns the new slab (offset in `lastOffset`).
   */
  move(from: Slab, off: number, n: number): Slab {
    const to = this.write(from.bytes.subarray(off, off + n), EMPTY);
    this.free(from, n);
    return to;
  }

  #open(need: number): Slab {
    // A closed slab's unused tail is dead space: it counts against the slab
    // being half empty, so sparse tails get compacted too.
    this.#close(this.#cur);
    let size = this.#nextSize;
    if (size < MAX_SLAB) this.#nextSize = size * 2;
    // An oversized value gets a slab of its own, freed as soon as it is.
    if (need > size) size = need;
    const s = new Slab(size);
    // Before its first byte is written: pages already touched stay small.
    if (size >= HUGE_PAGE_MIN_BYTES) adviseHugePages(s.bytes);
    this.#cur = s;
    this.#slabs.add(s);
    return s;
  }
}

const EMPTY = new Uint8Array(0);
