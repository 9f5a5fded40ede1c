/**
 * How a member's store compacts: `--experimental-compaction-batch-limit`
 * sets how many versions one step of a compaction's work handles,
 * `--experimental-compaction-sleep-interval` the pause between steps (on
 * the member's clock, so the simulator's too), and every compaction's hash
 * is recorded for `--experimental-compact-hash-check-enabled`
 * (compaction_hash.ts). The member hands each store it gets (at start and
 * from every snapshot install) to {@link StoreCompaction.attach}.
 *
 * etcd counts the revisions its compaction reads from bbolt per batch,
 * kept or deleted. cairn's step counts the versions up to the compaction
 * revision it walks, and once more each one it drops. A value of 0 (the
 * flags' Go default, and etcd's "use the default") gives cairn's own
 * defaults, kept because etcd's (1,000 per batch, 10 ms apart) would make
 * a compaction of 1,000,000 versions take over 10 s instead of about one.
 *
 * @module
 */
import { type Clock, sleep } from "../clock.ts";
import type { Config } from "../config.ts";
import { EtcdErrors } from "../errors.ts";
import type { Logger } from "../log.ts";
import { COMPACTION_STEP_VERSIONS } from "../mvcc/compaction.ts";
import { runStepsPaused } from "../mvcc/steps.ts";
import type { MvccStore } from "../mvcc/store.ts";
import { type CompactHashes, compactionHashSteps } from "./compaction_hash.ts";

/**
 * Versions per compaction step for a batch limit: 0 is the default
 * ({@link COMPACTION_STEP_VERSIONS}); a negative limit means no limit
 * (the whole work in one step: etcd reads without a limit then).
 */
export function compactionStepVersions(batchLimit: number): number {
  if (batchLimit === 0) return COMPACTION_STEP_VERSIONS;
  if (batchLimit < 0) return Number.MAX_SAFE_INTEGER;
  return batchLimit;
}

/** What the store settings need of their member. */
export interface StoreCompactionHost {
  readonly clock: Clock;
  readonly log: Logger;
  readonly cfg: Pick<Config, "compactionBatchLimit" | "compactionSleepIntervalMs">;
  /** Where compaction hashes are kept. */
  readonly hashes: Pick<CompactHashes, "store">;
  /** Whether the member stopped: work in steps is abandoned at its next pause. */
  stopped(): boolean;
}

/** A member's compaction settings and hash recording, applied to each store it uses. */
export class StoreCompaction {
  readonly #host: StoreCompactionHost;
  /** Versions per step. */
  readonly stepVersions: number;

  /** @param host the member whose stores these settings apply to */
  constructor(host: StoreCompactionHost) {
    this.#host = host;
    this.stepVersions = compactionStepVersions(host.cfg.compactionBatchLimit);
  }

  /**
   * The pause between steps: the sleep interval on the member's clock (a
   * zero-delay timer at 0, which still lets I/O and timers run); rejects
   * once the member stopped, which abandons the work.
   */
  readonly pause = async (): Promise<void> => {
    await sleep(this.#host.clock, Math.max(0, this.#host.cfg.compactionSleepIntervalMs));
    if (this.#host.stopped()) throw EtcdErrors.stopped();
  };

  /** Applies the settings to `store` and records the hash of each compaction it applies. */
  attach(store: MvccStore): void {
    store.compactionStepVersions = this.stepVersions;
    store.compactionPause = this.pause;
    store.beforeCompact = (rev) => this.#record(store, rev);
  }

  /** Starts hashing what the compaction at `rev` covers (the store has not moved yet). */
  #record(store: MvccStore, rev: number): void {
    const host = this.#host;
    const steps = compactionHashSteps(store.pointInTime(), rev, this.stepVersions);
    runStepsPaused(steps, this.pause).then(
      (h) => {
        host.log.info("storing new hash", {
          hash: h.hash,
          revision: h.revision,
          "compact-revision": h.compactRevision,
        });
        host.hashes.store(h);
      },
      (err) => {
        // Abandoned at a pause by a stopping member: nothing to record.
        // Anything else is a bug, and escapes as compaction's own failures do.
        if (!host.stopped()) throw err;
      },
    );
  }
}
