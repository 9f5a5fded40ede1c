/**
 * Installing a leader's snapshot on a member that fell behind: the
 * snapshot file and WAL marker first, then the state machine rebuilt from
 * it. Both run in steps that yield to the event loop: at 1,000,000 keys
 * the rebuild takes seconds, and a follower that held its loop that long
 * would answer no heartbeat and call an election (as in etcd, it keeps
 * hearing its leader while it installs; unlike etcd's, its answers wait
 * for the install to finish).
 *
 * @module
 */
import type { Clock } from "../clock.ts";
import { EtcdErrors } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Snapshot, SnapshotMeta } from "../raft/types.ts";
import type { WatchHub } from "../watch/hub.ts";
import type { StateMachine } from "./apply.ts";
import type { DurableLog } from "./durable_log.ts";
import { restoreStateInSteps } from "./state_snapshot.ts";

/** What a snapshot install needs of its member. */
export interface SnapshotInstallHost {
  readonly clock: Clock;
  readonly log: Logger;
  /** Writes the snapshot file and its WAL marker. */
  readonly durable: Pick<DurableLog, "install">;
  /** The state machine whose store, membership and alarms the snapshot replaces. */
  readonly sm: StateMachine;
  /** Gives a store the member's compaction settings (each installed store gets them). */
  prepareStore(store: StateMachine["store"]): void;
  /** Follows the store across the install. */
  readonly watchHub: Pick<WatchHub, "attach">;
  /** Whether the member stopped: the install is abandoned at its next pause. */
  stopped(): boolean;
  /** Whether a broken invariant stopped the member (its failures are not abandoned installs). */
  halted(): boolean;
  /** The state machine now stands at `meta`: the member takes its position and configuration. */
  installed(meta: SnapshotMeta): void;
}

/** Installs leaders' snapshots on one member. */
export class SnapshotInstaller {
  readonly #host: SnapshotInstallHost;

  /** @param host the member that installs. */
  constructor(host: SnapshotInstallHost) {
    this.#host = host;
  }

  /**
   * A pause between steps of an install done on the loop: the member's
   * own clock; a stopping member abandons the work there.
   */
  readonly stepPause = async (): Promise<void> => {
    await new Promise<void>((resolve) => this.#host.clock.setTimeout(resolve, 0));
    if (this.#host.stopped()) throw EtcdErrors.stopped();
  };

  /**
   * Installs `snap`: the file and WAL marker, then the state machine. An
   * install abandoned because the member stopped resolves with nothing
   * replaced (a restart recovers from what reached the disk); any other
   * failure rejects.
   */
  async install(snap: Snapshot): Promise<void> {
    const host = this.#host;
    const sm = host.sm;
    let state: Awaited<ReturnType<typeof restoreStateInSteps>>;
    try {
      await host.durable.install(snap, this.stepPause);
      state = await restoreStateInSteps(snap.data, sm.lessor, sm.auth, this.stepPause);
    } catch (err) {
      // Abandoned at a pause by stop(): a restart recovers from what reached the disk.
      if (host.stopped() && !host.halted()) return;
      throw err;
    }
    sm.store = state.store;
    host.prepareStore(sm.store);
    host.watchHub.attach(sm.store);
    sm.membership = state.membership;
    sm.alarms = state.alarms;
    host.installed(snap.meta);
    host.log.info("installed snapshot from the leader", {
      index: snap.meta.index,
      term: snap.meta.term,
      bytes: snap.data.length,
    });
  }
}
