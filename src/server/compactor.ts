/**
 * Auto-compaction (`--auto-compaction-mode`, `--auto-compaction-retention`)
 * with etcd 3.5's semantics (server/etcdserver/api/v3compactor):
 *
 * - periodic, retention P: every min(P, 1h)/10 the current revision is
 *   sampled and the last P/interval + 1 samples are kept, so the oldest is
 *   the revision of one period ago. Once P has passed since start (later:
 *   min(P, 1h) since the last success) it compacts to that oldest sample.
 *   A failure is retried at the next sample.
 * - revision, retention N: every 5 minutes it compacts to the current
 *   revision minus N, unless that is not positive or was the last one done.
 *
 * Only the leader compacts (etcd pauses the compactor on followers; the
 * samples are still taken), and it compacts the way a client would: by
 * proposing a Compact through Raft, so every member applies it at the
 * same point of the log. A revision already compacted counts as done.
 *
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import { EtcdErrors } from "../errors.ts";
import type { Logger } from "../log.ts";
import { formatDurationMs } from "../config/values.ts";

/** etcd's fixed interval of revision mode. */
export const REVISION_INTERVAL_MS = 5 * 60_000;

/** Time as the compactor sees it (a fake one in tests). */
export interface CompactorClock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** What the compactor works with. */
export interface CompactorOptions {
  mode: "periodic" | "revision";
  /** Milliseconds (periodic) or revisions (revision); 0 leaves compaction off. */
  retention: number;
  log: Logger;
  /** The store's current revision. */
  revision(): number;
  /** Whether this member leads now: only the leader compacts. */
  isLeader(): boolean;
  /** Proposes a Compact to `rev` and resolves once it is applied. */
  compact(rev: number): Promise<void>;
  clock?: CompactorClock;
}

/** The real clock: timers that do not keep the process alive. */
export const SYSTEM_CLOCK: CompactorClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      Deno.unrefTimer(t);
      function done() {
        signal.removeEventListener("abort", done);
        clearTimeout(t);
        resolve();
      }
      signal.addEventListener("abort", done);
    }),
};

/** Runs one of etcd's two compaction policies until stopped. */
export class Compactor {
  readonly #opts: CompactorOptions;
  readonly #clock: CompactorClock;
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;

  constructor(opts: CompactorOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? SYSTEM_CLOCK;
  }

  /** Starts the policy's loop (no-op with retention 0). */
  start(): void {
    if (this.#running || this.#opts.retention <= 0) return;
    this.#running = this.#opts.mode === "periodic" ? this.#periodic() : this.#revision();
  }

  /** Stops the loop; resolves once it has returned. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #periodic(): Promise<void> {
    const { log } = this.#opts;
    const period = this.#opts.retention;
    const compactInterval = Math.min(period, 3600_000);
    const retryInterval = compactInterval / 10;
    const retentions = Math.floor(period / retryInterval) + 1;
    const revs: number[] = [];
    let lastSuccess = this.#clock.now();
    let baseInterval = period;
    while (!this.#stopped) {
      revs.push(this.#opts.revision());
      // revs[0] is always the revision of one period ago.
      if (revs.length > retentions) revs.shift();
      await this.#clock.sleep(retryInterval, this.#stop.signal);
      if (this.#stopped) return;
      if (!this.#opts.isLeader()) continue;
      if (this.#clock.now() - lastSuccess < baseInterval) continue;
      // After the first period, compact every min(period, 1h).
      baseInterval = compactInterval;
      const rev = revs[0];
      const fields = { revision: rev, "compact-period": formatDurationMs(period) };
      log.info("starting auto periodic compaction", fields);
      const started = this.#clock.now();
      const err = await this.#compact(rev);
      if (err === undefined) {
        log.info("completed auto periodic compaction", {
          ...fields,
          took: formatDurationMs(this.#clock.now() - started),
        });
        lastSuccess = this.#clock.now();
      } else {
        log.warn("failed auto periodic compaction", {
          ...fields,
          "retry-interval": formatDurationMs(Math.round(retryInterval)),
          error: err,
        });
      }
    }
  }

  async #revision(): Promise<void> {
    const { log } = this.#opts;
    const retention = this.#opts.retention;
    let prev = 0;
    while (!this.#stopped) {
      await this.#clock.sleep(REVISION_INTERVAL_MS, this.#stop.signal);
      if (this.#stopped) return;
      if (!this.#opts.isLeader()) continue;
      const rev = this.#opts.revision() - retention;
      if (rev <= 0 || rev === prev) continue;
      const fields = { revision: rev, "revision-compaction-retention": retention };
      log.info("starting auto revision compaction", fields);
      const started = this.#clock.now();
      const err = await this.#compact(rev);
      if (err === undefined) {
        prev = rev;
        log.info("completed auto revision compaction", {
          ...fields,
          took: formatDurationMs(this.#clock.now() - started),
        });
      } else {
        log.warn("failed auto revision compaction", {
          ...fields,
          "retry-interval": formatDurationMs(REVISION_INTERVAL_MS),
          error: err,
        });
      }
    }
  }

  /** Compacts to `rev`; the error text on failure ("already compacted" is success, as in etcd). */
  async #compact(rev: number): Promise<string | undefined> {
    try {
      await this.#opts.compact(rev);
      return undefined;
    } catch (err) {
      const message = err instanceof ConnectError
        ? err.rawMessage
        : err instanceof Error
        ? err.message
        : String(err);
      if (message === EtcdErrors.compacted().rawMessage) return undefined;
      return message;
    }
  }
}
