/**
 * Large buffers whose memory is touched in advance on another thread, so
 * the JavaScript thread never waits for their pages to be faulted in.
 *
 * Why: on this VM the first write into fresh memory costs ~3 ms per MiB
 * (measured 2026-12-07, Deno 2.9: filling new 1 MiB buffers that stay
 * alive, 2.8-3.0 ms per MiB; filling them a second time, 0.06 ms), and
 * huge pages only bring it to ~2 ms. Memory a member keeps is always
 * fresh: a large put's request body becomes its Raft entry and stays in
 * the in-memory log (128 entries on a lone member, until the snapshot
 * after it with peers). A `perf record -e page-faults` of 1 MiB puts at
 * 10 clients put 82% of the member's page faults in the copy of DATA
 * frames into those bodies, on the one thread that also runs Raft, the
 * WAL and every connection. Writing zeros over the next buffer with
 * `memset` on Deno's FFI thread pool moves that cost to the other core
 * while the current buffer fills.
 *
 * Only the buffer being prepared is touched off-thread, and nothing else
 * sees it until the `memset` has returned, so the two threads never
 * share memory. {@link PrefaultedBuffers.take} never waits: when no
 * prepared buffer is ready it returns a fresh one, as without this
 * module. A prepared buffer that is not taken within `idleMs` is dropped,
 * so a member that stops receiving large requests gives the memory back.
 *
 * Best effort: without FFI permission or off glibc Linux, `take` always
 * returns fresh buffers.
 *
 * @module
 */
import { lazyGlibc } from "./glibc.ts";
import { adviseHugePages } from "./huge_pages.ts";

const LIBC_SYMBOLS = {
  // nonblocking: runs on a thread of Deno's blocking pool, not the JS thread.
  memset: { parameters: ["pointer", "i32", "usize"], result: "pointer", nonblocking: true },
} as const;

/** Without FFI permission or glibc: fresh buffers only. */
const openLibc = lazyGlibc(LIBC_SYMBOLS);

/** Options for {@link PrefaultedBuffers}. */
export interface PrefaultOptions {
  /** Drop a prepared buffer nobody took for this long, ms (default 2000). */
  idleMs?: number;
}

/** Hands out buffers of one size, each prepared off-thread when possible. */
export class PrefaultedBuffers {
  /** Size of every buffer handed out, bytes. */
  readonly size: number;
  readonly #idleMs: number;
  #ready: ArrayBuffer | undefined;
  #preparing: Promise<void> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #prepared = 0;
  #taken = 0;

  /** @param size bytes per buffer */
  constructor(size: number, opts: PrefaultOptions = {}) {
    this.size = size;
    this.#idleMs = opts.idleMs ?? 2000;
  }

  /** Buffers prepared off-thread so far, and how many of them were taken. */
  get stats(): { prepared: number; taken: number } {
    return { prepared: this.#prepared, taken: this.#taken };
  }

  /** Whether a prepared buffer is waiting to be taken. */
  get ready(): boolean {
    return this.#ready !== undefined;
  }

  /** Resolves once the buffer being prepared (if any) is ready. */
  async settled(): Promise<void> {
    await this.#preparing;
  }

  /**
   * A zeroed buffer of {@link size} bytes: the prepared one when it is
   * ready, else a fresh one. Either way the next one starts preparing.
   */
  take(): ArrayBuffer {
    const ready = this.#ready;
    this.#ready = undefined;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#prepare();
    if (ready !== undefined) {
      this.#taken++;
      return ready;
    }
    return this.#fresh();
  }

  #fresh(): ArrayBuffer {
    const buf = new ArrayBuffer(this.size);
    // Before the first write: pages touched already stay small.
    adviseHugePages(new Uint8Array(buf));
    return buf;
  }

  #prepare(): void {
    if (this.#preparing !== undefined) return;
    const lib = openLibc();
    if (lib === null) return;
    const buf = this.#fresh();
    const ptr = Deno.UnsafePointer.of(new Uint8Array(buf));
    if (ptr === null) return;
    // `buf` stays referenced by this closure until memset returns.
    this.#preparing = lib.symbols.memset(ptr, 0, BigInt(this.size)).then(() => {
      this.#preparing = undefined;
      this.#prepared++;
      this.#ready = buf;
      const timer = setTimeout(() => {
        this.#idleTimer = undefined;
        this.#ready = undefined;
      }, this.#idleMs);
      Deno.unrefTimer(timer);
      this.#idleTimer = timer;
    });
  }
}
