/**
 * Gives memory back to the OS once a burst of work is over: part of the
 * process set-up (main.ts starts it), not of the member.
 *
 * Why: V8 grows its heap during a write burst and keeps it when the burst
 * ends: with no more allocation there is no more GC, so the garbage and the
 * grown heap stay resident. Measured with 100k keys × 256 B written by 100
 * clients, cairn sat at ~390 MiB RSS of which ~200 MiB was such garbage; one
 * full GC once the member went quiet brought it to ~180 MiB, and glibc's
 * `malloc_trim(0)` (freed small buffers left in fragmented malloc pages that
 * glibc does not return on its own) to ~130 MiB. Go's runtime does the
 * equivalent for etcd with its background scavenger.
 *
 * Start-up is such a burst too: loading the program and recovering the
 * member allocate about 70 MiB, and V8 leaves the young generation grown
 * to 7–30 MiB (measured: an idle member at 85–135 MiB RSS, 41–88 MiB of it
 * anonymous). One collection once start-up has settled shrinks the young
 * generation to under 1 MiB and the anonymous memory to ~33 MiB, so the
 * first collection needs no growth, only quiet, and is looked for sooner.
 *
 * The process checks its memory twice a second; after `quietTicks` samples
 * in a row with almost no heap change and little CPU used (no traffic:
 * the heap alone can look still under load) and a resident size
 * well above what it was after the last collection (32 MiB and 25% by
 * default), it runs one full GC and a trim. A busy member is left to V8 alone; a quiet one pays
 * one collection per burst (a few ms per 10 MiB of live heap).
 *
 * A big heap is where the two kinds of member differ. A full collection
 * stops the process for about 3 ms per MiB live (measured: 658 ms with
 * 1,000,000 keys, 216 MiB in use). A member with peers must not stop that
 * long (a leader would lose its quorum), so above `maxHeapBytes` its
 * memory is left to V8's memory reducer. A member with no peers has no
 * quorum to lose: it collects up to `loneMaxHeapBytes` (the same load:
 * 959 MiB resident 4 s after the load without it, 557 MiB 2 s after with
 * it; etcd 3.4 held 605-632 MiB), and above that trims alone, which frees
 * what glibc holds without a collection (97 MiB with a 270 MiB heap). The
 * trim runs on a thread of its own: it took 428 ms with a 1 GB heap, though
 * the JS thread still waits for it if it allocates from an arena the trim
 * holds (a member with peers therefore never trims a big heap).
 *
 * The GC trigger is `globalThis.gc` when the process was started with
 * `--v8-flags=--expose-gc` (`make run` and the `make build` executable
 * are); otherwise `--expose-gc` is set at run time and `gc` taken from a
 * fresh context (it is only installed into contexts made after the flag),
 * so a plain `deno run main.ts` behaves the same. `malloc_trim` comes from
 * libc through FFI when allowed (glibc Linux only; elsewhere only the GC
 * runs).
 *
 * @module
 */
import process from "node:process";
import { openGlibc } from "./glibc.ts";

/** One memory sample, as `Deno.memoryUsage()` reports it. */
export interface MemorySample {
  /** Resident set size, bytes. */
  rss: number;
  /** V8 heap bytes in use. */
  heapUsed: number;
  /**
   * CPU time the process has used so far, ms (user + system), when known.
   * The heap alone cannot tell a busy member from an idle one: under a
   * steady load heapUsed rises and falls with each young-generation
   * collection, and samples a whole number of those cycles apart look
   * still (measured: at 100 clients, a full collection of 75 + 46 ms fired
   * in the middle of a put run, the slowest puts of that run).
   */
  cpuMs?: number;
  /**
   * When the sample was taken, ms on a monotonic clock: with it the CPU
   * used is judged as a share of the time between two samples, so a
   * shorter sampling period (start-up's) is not more lenient.
   */
  atMs?: number;
}

/** Tuning of the quiet-time collection. */
export interface IdleGcOptions {
  /**
   * Sampling period, ms (default 500): a burst's garbage is collected about
   * 1.5 s after it ends (at 1000 the bench's RSS sample 5 s after a load of
   * 100,000 keys sometimes came before it: 303 MiB instead of ~146).
   */
  intervalMs?: number;
  /**
   * Sampling period until the first collection, ms (default 250): the
   * start-up garbage is collected soon after the member is up.
   */
  settleIntervalMs?: number;
  /** Consecutive quiet samples before collecting (default 2). */
  quietTicks?: number;
  /** A sample is quiet when heapUsed moved less than this since the last one (default 1 MiB)... */
  quietBytes?: number;
  /**
   * ...and the process used less CPU than this share of one core since the
   * last one (default 0.2; without sample times, this share of
   * `intervalMs`). At 0.4 (100 ms per start-up tick of 250 ms) a member
   * under 1,000 puts/s with 10,000 watchers (35-47% of a core) looked
   * quiet, and start-up's collection (60-68 ms with 24 MiB live) stalled
   * its puts in 2 of 3 benchmark rounds.
   */
  quietCpuShare?: number;
  /** Collect only when RSS grew this much since the last collection (default 32 MiB)... */
  minGrowthBytes?: number;
  /**
   * ...and by this fraction of the RSS after it (default 0.25): a full GC
   * pauses longer the more is live, so big members collect less often.
   */
  minGrowthRatio?: number;
  /**
   * Treat everything before the first collection as a burst (default
   * false): the first quiet sample collects whatever the growth. main.ts
   * sets it, since start-up leaves garbage and a grown young generation.
   */
  settleFirst?: boolean;
  /**
   * Never collect while more than this is live on the V8 heap (default
   * 96 MiB): a full collection pauses the whole process for about 1 ms
   * per MiB live on an idle core, several times that on a loaded one, and
   * the last-resort flavour runs two or more. Measured at 1,000,000 keys
   * (~270 MiB live, 3 members on 2 busy cores): 0.6-3.6 s per collection,
   * a 6-10 s stall that cost the leader its quorum when both followers
   * collected at once. Such a member leaves its memory to V8.
   */
  maxHeapBytes?: number;
  /**
   * The same bound for a member with no peers (default 512 MiB, about a
   * 1.5 s collection): a pause costs it no quorum, only a late answer to
   * a request that arrives in it, right after a burst.
   */
  loneMaxHeapBytes?: number;
  /** True while this process's member has no peers (default: never). */
  lone?: () => boolean;
}

/** What a sample calls for: nothing, a full collection and a trim, or a trim alone. */
export type IdleAction = "none" | "collect" | "trim";

const MIB = 1024 * 1024;

/**
 * Decides when to collect, from memory samples alone (pure: no timers, no
 * GC), so the rule can be tested.
 */
export class IdleGcPolicy {
  readonly #quietTicks: number;
  readonly #quietBytes: number;
  readonly #quietCpuShare: number;
  readonly #intervalMs: number;
  readonly #minGrowth: number;
  readonly #growthRatio: number;
  readonly #maxHeap: number;
  readonly #loneMaxHeap: number;
  #last: MemorySample | undefined;
  #quiet = 0;
  #baseRss: number | undefined;
  #settled: boolean;

  /** @param opts thresholds (defaults as documented on IdleGcOptions) */
  constructor(opts: IdleGcOptions = {}) {
    this.#quietTicks = opts.quietTicks ?? 2;
    this.#quietBytes = opts.quietBytes ?? MIB;
    this.#quietCpuShare = opts.quietCpuShare ?? 0.2;
    this.#intervalMs = opts.intervalMs ?? 500;
    this.#minGrowth = opts.minGrowthBytes ?? 32 * MIB;
    this.#growthRatio = opts.minGrowthRatio ?? 0.25;
    this.#settled = !(opts.settleFirst ?? false);
    this.#maxHeap = opts.maxHeapBytes ?? 96 * MIB;
    this.#loneMaxHeap = opts.loneMaxHeapBytes ?? 512 * MIB;
  }

  /** False until the first collection when `settleFirst` was asked for. */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Feeds one sample: "collect" means a full collection and a trim now,
   * "trim" a trim alone (a lone member's heap over its bound); report the memory
   * after either to {@link collected}. `lone`: the member has no peers.
   */
  observe(s: MemorySample, lone = false): IdleAction {
    this.#baseRss ??= s.rss;
    // Memory V8 gave back by itself lowers the mark growth is measured from.
    if (this.#settled) this.#baseRss = Math.min(this.#baseRss, s.rss);
    const last = this.#last;
    this.#last = s;
    if (
      last === undefined || Math.abs(s.heapUsed - last.heapUsed) >= this.#quietBytes ||
      this.#busy(last, s)
    ) {
      this.#quiet = 0;
      return "none";
    }
    this.#quiet++;
    // Start-up needs one quiet sample only: the member may get its first
    // requests a second after it is up, and an idle start has no bursts
    // to wait out.
    const need = Math.max(this.#minGrowth, this.#baseRss * this.#growthRatio);
    const due = !this.#settled ||
      (this.#quiet >= this.#quietTicks && s.rss - this.#baseRss >= need);
    if (!due) return "none";
    // With peers, a big heap is left to V8 alone: even a trim holds
    // glibc's arena locks long enough to stall the JS thread's allocations.
    if (!lone) return s.heapUsed > this.#maxHeap ? "none" : "collect";
    return s.heapUsed > this.#loneMaxHeap ? "trim" : "collect";
  }

  /** Whether the process used more than its quiet share of the CPU between `a` and `b`. */
  #busy(a: MemorySample, b: MemorySample): boolean {
    if (a.cpuMs === undefined || b.cpuMs === undefined) return false;
    const wall = a.atMs !== undefined && b.atMs !== undefined ? b.atMs - a.atMs : this.#intervalMs;
    return b.cpuMs - a.cpuMs >= this.#quietCpuShare * wall;
  }

  /** Records the memory right after a collection: the next one needs new growth over it. */
  collected(after: MemorySample): void {
    this.#settled = true;
    this.#baseRss = after.rss;
    this.#last = after;
    this.#quiet = 0;
  }
}

/** A running idle collector. */
export interface IdleGc {
  /** Collections run so far. */
  readonly collections: number;
  /** Stops sampling. */
  stop(): void;
}

const LIBC_SYMBOLS = {
  // nonblocking: on a thread of its own, so a long trim never stops the JS thread.
  malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

/** Without FFI permission or glibc, the GC alone still does most of the work. */
function openLibc(): Libc | undefined {
  return openGlibc(LIBC_SYMBOLS) ?? undefined;
}

/** Memory now, with the CPU time used so far (see {@link MemorySample.cpuMs}). */
function sample(): MemorySample {
  const { rss, heapUsed } = Deno.memoryUsage();
  const cpu = process.cpuUsage();
  return { rss, heapUsed, cpuMs: (cpu.user + cpu.system) / 1000, atMs: performance.now() };
}

/** V8's `gc` extension: an options bag picks the kind of collection. */
type V8Gc = (opts?: { type: "major"; execution: "sync"; flavor: "last-resort" }) => void;

/**
 * A full, synchronous collection that also frees the backing stores of
 * dead ArrayBuffers. "last-resort" matters: measured on Deno 2.9, a plain
 * `gc()` of a process started with --expose-gc left 20 MiB of dead
 * buffers' memory allocated (it is freed later, by the next collections).
 */
function fullCollection(gc: V8Gc): () => void {
  return () => gc({ type: "major", execution: "sync", flavor: "last-resort" });
}

function exposeGc(): (() => void) | undefined {
  // Started with --v8-flags=--expose-gc: nothing to change at run time.
  const given: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof given === "function") return fullCollection(given as V8Gc);
  try {
    // node:v8 and node:vm are loaded only on this path: the shipped
    // executable and `make run` pass --expose-gc, and a module loaded at
    // start stays resident for the life of the process.
    const v8 = process.getBuiltinModule("node:v8");
    const vm = process.getBuiltinModule("node:vm");
    v8.setFlagsFromString("--expose-gc");
    const gc: unknown = vm.runInNewContext("gc");
    return typeof gc === "function" ? fullCollection(gc as V8Gc) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts sampling memory and collecting when quiet after growth. Returns
 * undefined when the runtime offers no way to trigger a GC. The timer does
 * not keep the process alive.
 */
export function startIdleGc(opts: IdleGcOptions = {}): IdleGc | undefined {
  const gc = exposeGc();
  if (gc === undefined) return undefined;
  const libc = openLibc();
  const policy = new IdleGcPolicy(opts);
  // The baseline is the memory now, before any work.
  policy.observe(sample());
  let collections = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    const action = policy.observe(sample(), opts.lone?.() ?? false);
    if (action !== "none") {
      if (action === "collect") {
        gc();
        collections++;
      }
      trimming = libc?.symbols.malloc_trim(0n).catch(() => 0);
      await trimming;
      trimming = undefined;
      if (stopped) return;
      policy.collected(sample());
    }
    schedule();
  };
  let stopped = false;
  /** A trim in flight: the library closes only after it. */
  let trimming: Promise<unknown> | undefined;
  const schedule = () => {
    if (stopped) return;
    const ms = policy.settled ? opts.intervalMs ?? 500 : opts.settleIntervalMs ?? 250;
    const t = setTimeout(tick, ms);
    // The timer never keeps the process alive.
    Deno.unrefTimer(t);
    timer = t;
  };
  schedule();
  return {
    get collections() {
      return collections;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      if (trimming === undefined) libc?.close();
      else trimming.finally(() => libc?.close());
    },
  };
}
