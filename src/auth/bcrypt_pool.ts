/**
 * bcrypt off the main thread. A cost-10 hash takes ~70 ms of CPU; run on
 * the member's thread, every Authenticate would stall Raft, reads and
 * watches for that long (etcd issues 9615 and 11826: clients that all
 * re-authenticate after a leader election). Jobs go to a small pool of
 * Deno workers running hash-wasm's bcrypt (WebAssembly: measured about 15%
 * faster here than bcryptjs, and compatible with Go's `$2a$` hashes).
 *
 * The queue is bounded (rule 6): past it a job is refused with etcd's
 * "too many requests". Idle workers are stopped after a while, and
 * started again on demand.
 *
 * @module
 */
import { EtcdErrors } from "../errors.ts";

/** A job for a worker. */
export type BcryptJob =
  | { id: number; op: "hash"; password: string; cost: number }
  | { id: number; op: "verify"; password: string; hash: string };

/** A worker's answer. */
export type BcryptReply =
  | { id: number; ok: true; hash?: string; match?: boolean }
  | { id: number; ok: false; error: string };

/** bcrypt reads only the first 72 bytes; Go's x/crypto refuses longer passwords. */
export const MAX_PASSWORD_BYTES = 72;

/** Options for {@link BcryptPool}. */
export interface BcryptPoolOptions {
  /** Workers; default: the number of CPUs, at most 4. */
  workers?: number;
  /** Jobs waiting beyond the running ones before new ones are refused. */
  maxQueued?: number;
  /** Workers are stopped after this long without a job. */
  idleMs?: number;
}

interface Pending {
  job: BcryptJob;
  resolve(reply: BcryptReply): void;
}

interface Slot {
  worker: Worker;
  busy: Pending | undefined;
}

/** A pool of bcrypt workers. */
export class BcryptPool {
  readonly #size: number;
  readonly #maxQueued: number;
  readonly #idleMs: number;
  #slots: Slot[] = [];
  #queue: Pending[] = [];
  #nextId = 1;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** @param opts pool size, queue bound and idle time */
  constructor(opts: BcryptPoolOptions = {}) {
    const cpus = navigator.hardwareConcurrency || 1;
    this.#size = Math.max(1, opts.workers ?? Math.min(4, cpus));
    this.#maxQueued = opts.maxQueued ?? 4096;
    this.#idleMs = opts.idleMs ?? 30_000;
  }

  /** A bcrypt hash of `password` at `cost`, encoded as `$2a$cost$...`. */
  async hash(password: string, cost: number): Promise<string> {
    const reply = await this.#run({ id: 0, op: "hash", password, cost });
    if (!reply.ok || reply.hash === undefined) {
      throw new Error(reply.ok ? "bcrypt: no hash" : `bcrypt: ${reply.error}`);
    }
    return reply.hash;
  }

  /** Whether `password` matches `hash`; a malformed hash matches nothing. */
  async verify(password: string, hash: string): Promise<boolean> {
    const reply = await this.#run({ id: 0, op: "verify", password, hash });
    return reply.ok && reply.match === true;
  }

  /** Stops every worker; pending jobs fail with "server stopped". */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    for (const s of this.#slots) {
      s.worker.terminate();
      s.busy?.resolve({ id: 0, ok: false, error: "stopped" });
    }
    this.#slots = [];
    for (const p of this.#queue) p.resolve({ id: 0, ok: false, error: "stopped" });
    this.#queue = [];
  }

  #run(job: BcryptJob): Promise<BcryptReply> {
    if (this.#closed) return Promise.reject(EtcdErrors.stopped());
    if (this.#queue.length >= this.#maxQueued) return Promise.reject(EtcdErrors.tooManyRequests());
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    job.id = this.#nextId++;
    return new Promise((resolve) => {
      this.#queue.push({ job, resolve });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot = this.#slots.find((s) => s.busy === undefined);
      if (!slot && this.#slots.length < this.#size) slot = this.#spawn();
      if (!slot) return;
      const next = this.#queue.shift()!;
      slot.busy = next;
      slot.worker.postMessage(next.job);
    }
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./bcrypt_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const slot: Slot = { worker, busy: undefined };
    worker.onmessage = (e: MessageEvent<BcryptReply>) => {
      const done = slot.busy;
      slot.busy = undefined;
      if (done && done.job.id === e.data.id) done.resolve(e.data);
      this.#dispatch();
      this.#maybeIdle();
    };
    worker.onerror = (e) => {
      // A worker that died takes only its own job with it; the next job starts a new one.
      e.preventDefault();
      const done = slot.busy;
      slot.busy = undefined;
      worker.terminate();
      this.#slots = this.#slots.filter((s) => s !== slot);
      done?.resolve({ id: done.job.id, ok: false, error: e.message });
      this.#dispatch();
    };
    this.#slots.push(slot);
    return slot;
  }

  #maybeIdle(): void {
    if (this.#queue.length > 0 || this.#slots.some((s) => s.busy)) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#queue.length > 0 || this.#slots.some((s) => s.busy)) return;
      for (const s of this.#slots) s.worker.terminate();
      this.#slots = [];
    }, this.#idleMs);
    Deno.unrefTimer(this.#idleTimer);
  }
}
