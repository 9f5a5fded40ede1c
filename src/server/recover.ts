/**
 * Where a member's state comes from at start: a new cluster bootstrapped
 * from `--initial-cluster`, an existing cluster joined through its peers,
 * or this member's own snapshot and WAL after a restart.
 *
 * @module
 */
import { join } from "node:path";
import { create, fromBinary } from "@bufbuild/protobuf";
import type { Config } from "../config.ts";
import { MemberRecordSchema, StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import { Lessor, minLeaseTtl } from "../lease/lessor.ts";
import { AuthStore } from "../auth/store.ts";
import type { Logger } from "../log.ts";
import { MvccStore } from "../mvcc/store.ts";
import { MemoryStorage } from "../raft/storage.ts";
import { EMPTY_BYTES, type Entry, type HardState, type Snapshot } from "../raft/types.ts";
import { openDataDir } from "../storage/data_dir.ts";
import { OFF_THREAD_SNAPSHOT_BYTES, snapshotName, SnapshotStore } from "../storage/snapshot.ts";
import { type SnapshotMarker, Wal } from "../storage/wal.ts";
import type { StateMachine } from "./apply.ts";
import { bootstrapMetadata, readBootstrapMetadata } from "./bootstrap.ts";
import { computeClusterId, urlString } from "./ids.ts";
import type { MemberEnv } from "./env.ts";
import { discoverCluster } from "./join.ts";
import { Membership } from "./membership.ts";
import { forceNewClusterLog } from "./standalone.ts";

/** Everything a member needs to start its Raft node and state machine. */
export interface StartingState {
  snaps: SnapshotStore;
  storage: MemoryStorage;
  wal: Wal;
  id: bigint;
  clusterId: bigint;
  membership: Membership;
  store: MvccStore;
  lessor: Lessor;
  auth: AuthStore;
  alarms: StateMachine["alarms"];
  /** Index of the snapshot the state machine was restored from (0: none). */
  applied: number;
  /** Initial voters, only for a member that bootstraps a new cluster's log. */
  peers: bigint[] | undefined;
}

/**
 * The state machine held in a snapshot, restored (leases first: restoring
 * the store attaches leased keys); `auth` takes the snapshot's users and roles.
 * `data` comes from a snapshot file whose checksum was verified on reading
 * it (the store's own checksum is not computed again).
 */
export function restoreStateSnapshot(
  data: Uint8Array,
  lessor: Lessor,
  auth: AuthStore,
): { store: MvccStore; membership: Membership; alarms: StateMachine["alarms"] } {
  const state = fromBinary(StateSnapshotSchema, data);
  lessor.restore(state.leases);
  auth.restore(state.auth);
  return {
    // The snapshot file's checksum, verified on reading it, covers these bytes.
    store: MvccStore.restore(state.mvcc, lessor.hooks, true),
    membership: Membership.fromRecords(state.members, state.removedMembers),
    alarms: state.alarms,
  };
}

/**
 * Opens (or creates) the data directory and recovers, bootstraps or joins,
 * through `env`'s disk, clock and peer network.
 */
export async function recoverOrBootstrap(
  cfg: Config,
  log: Logger,
  env: MemberEnv,
): Promise<StartingState> {
  const { disk, clock } = env;
  const walOptions = {
    disk,
    segmentSize: env.tuning.walSegmentBytes,
    syncMode: env.tuning.walSyncMode,
  };
  const dir = await openDataDir(cfg.dataDir, { walDir: cfg.walDir, disk });
  const snaps = new SnapshotStore(dir.snapDir, { onWarning: (msg) => log.warn(msg), disk });
  // No save can be under way yet: a temp file is what a crash left behind.
  await snaps.removeTemps();
  const storage = new MemoryStorage();
  let wal: Wal;
  let id: bigint;
  let clusterId: bigint;
  let membership: Membership;
  let store: MvccStore;
  // Expiries are durations: a wall-clock jump must not expire a lease early.
  const lessor = new Lessor({
    minTtl: minLeaseTtl(cfg.electionTimeoutMs, cfg.heartbeatIntervalMs),
    now: () => clock.monotonic(),
  });
  const auth = new AuthStore({
    tokenTtlSeconds: cfg.authTokenTtlSeconds,
    now: () => clock.monotonic(),
  });
  let alarms: StateMachine["alarms"] = [];
  let applied = 0;
  let peers: bigint[] | undefined;

  if (!dir.exists && cfg.initialClusterState === "existing") {
    const selfPeerUrls = cfg.initialAdvertisePeerUrls.map(urlString);
    const others = [...cfg.initialCluster.entries()]
      .filter(([name]) => name !== cfg.name)
      .flatMap(([, urls]) => urls.map(urlString));
    const info = await discoverCluster(others, selfPeerUrls, () => env.network.caller());
    membership = Membership.fromRecords(info.members);
    id = info.memberId;
    clusterId = info.clusterId;
    wal = await Wal.create(dir.walDir, {
      clusterId,
      memberId: id,
      extra: bootstrapMetadata(membership.records(), true),
    }, walOptions);
    store = new MvccStore(lessor.hooks);
    log.info("joining an existing cluster", { member_id: hex(id), cluster_id: hex(clusterId) });
  } else if (!dir.exists) {
    membership = Membership.fromInitialCluster(cfg.initialCluster, cfg.initialClusterToken);
    const self = membership.records().find((r) => r.name === cfg.name);
    if (!self) throw new Error(`--initial-cluster has no member named ${cfg.name}`);
    id = self.id;
    clusterId = computeClusterId(membership.voterIds());
    wal = await Wal.create(dir.walDir, {
      clusterId,
      memberId: id,
      extra: bootstrapMetadata(membership.records()),
    }, walOptions);
    store = new MvccStore(lessor.hooks);
    peers = membership.voterIds();
    log.info("bootstrapped a new member", { member_id: hex(id), cluster_id: hex(clusterId) });
  } else {
    // The newest snapshot file is read while the WAL is replayed: the
    // read's page faults (most of reading ~290 MB with 1,000,000 keys) run
    // on Deno's I/O thread meanwhile. Only a file the WAL's newest marker
    // names is used, as before. The checks a restart must make but need
    // not hold up on (the snapshot body's checksum, the WAL segments
    // before those replayed: ~0.75 s of CPU at 1,000,000 keys) run on the
    // other core while this one decodes, and are awaited before the
    // restored state is used (off_thread_check.ts).
    const newestSnap = (await snaps.list())[0];
    const offThreadBytes = env.tuning.offThreadCheckBytes;
    const early = snaps.peekNewest(offThreadBytes ?? OFF_THREAD_SNAPSHOT_BYTES);
    let opened: Awaited<ReturnType<typeof Wal.open>>;
    try {
      opened = await Wal.open(dir.walDir, {
        ...walOptions,
        replayHint: newestSnap?.index,
        deferVerify: true,
        offThreadBytes,
      });
    } catch (err) {
      await (await early)?.verified.catch(() => {}); // no check left running behind a refused start
      throw err;
    }
    wal = opened.wal;
    const replay = opened.replay;
    const peeked = await early;
    let snap: Snapshot | undefined;
    let restored: ReturnType<typeof restoreStateSnapshot> | undefined;
    try {
      snap = await snapshotOfWal(snaps, replay.snapshot, peeked?.snap);
      if (snap) restored = restoreStateSnapshot(snap.data, lessor, auth);
      await replay.verified;
      if (snap !== undefined && snap === peeked?.snap) {
        await checkedBody(snaps, snap, peeked.verified);
      }
    } catch (err) {
      await wal.close();
      throw err;
    } finally {
      // Neither check is left running behind a start, refused or not.
      await replay.verified.catch(() => {});
      await peeked?.verified.catch(() => {});
    }
    id = replay.metadata.memberId;
    clusterId = replay.metadata.clusterId;
    if (snap && restored) {
      ({ store, membership, alarms } = restored);
      // Raft keeps only the snapshot's position, as after the member's own
      // snapshots (DurableLog.commitSnapshot): a follower that needs it is
      // sent the file. At 1,000,000 keys that is ~290 MB not held.
      storage.applySnapshot({ meta: snap.meta, data: EMPTY_BYTES });
      applied = snap.meta.index;
    } else {
      store = new MvccStore(lessor.hooks);
      const boot = readBootstrapMetadata(replay.metadata.extra);
      membership = Membership.fromRecords(boot.members);
      // Only a member that bootstrapped the cluster writes the initial
      // membership into its own log (if a crash came before it did).
      if (!boot.joined) peers = membership.voterIds();
    }
    // A snapshot only ever covers committed entries, while a commit-only
    // hard state may not have reached the WAL before a crash.
    let hardState: HardState = {
      ...replay.hardState,
      commit: Math.max(replay.hardState.commit, applied),
    };
    let entries: Entry[] = replay.entries;
    if (cfg.forceNewCluster) {
      // A snapshot file newer than the WAL's marker already holds the
      // effect of the entries it covers.
      entries = entries.filter((e) => e.index > applied);
      const forced = forceNewClusterLog({
        self: id,
        selfRecord: membership.get(id) ?? create(MemberRecordSchema, {
          id,
          name: cfg.name,
          peerUrls: cfg.initialAdvertisePeerUrls.map(urlString),
          clientUrls: cfg.advertiseClientUrls.map(urlString),
        }),
        snapshotConf: snap?.meta.confState,
        knownMembers: membership.records().map((r) => r.id),
        entries,
        hardState,
        bootstrap: peers ? { voters: peers, learners: membership.learnerIds() } : undefined,
      });
      if (forced.pastCommit > 0) {
        log.info("keeping WAL entries past the persisted commit index", {
          commit_index_from_wal: hardState.commit,
          entries: forced.pastCommit,
        });
      }
      // Durable before Raft sees them: the new entries count as committed.
      await wal.save(forced.hardState, forced.appended);
      log.info("forcing restart member", {
        cluster_id: hex(clusterId),
        local_member_id: hex(id),
        wal_commit_index: hardState.commit,
        commit_index: forced.hardState.commit,
        removed_members: forced.removed.map(hex),
      });
      hardState = forced.hardState;
      entries = forced.entries;
      peers = undefined; // the log is no longer empty: nothing left to bootstrap
    }
    storage.setHardState(hardState);
    // A lone member trims its log as it applies: packing it would buy nothing.
    storage.packEntries = membership.records().length > 1;
    storage.append(entries);
    // Entries committed before the restart only replay: the simple tokens
    // they issued died with the process, as etcd's do.
    auth.tokens.forgetThrough(hardState.commit);
    log.info("recovered member from disk", {
      member_id: hex(id),
      cluster_id: hex(clusterId),
      snapshot_index: applied,
      wal_entries: replay.entries.length,
      commit: replay.hardState.commit,
    });
  }

  return {
    snaps,
    storage,
    wal,
    id,
    clusterId,
    membership,
    store,
    lessor,
    auth,
    alarms,
    applied,
    peers,
  };
}

/**
 * The snapshot the WAL's newest marker names: its entries continue exactly
 * there (etcd's LoadNewestAvailable over the WAL's snapshot entries). A
 * newer snapshot file whose marker never reached the WAL (a crash or a
 * failed fsync between the two) is not used: the WAL would not connect to
 * it, and the entries appended after it could never be replayed. Refuses
 * to start when the named snapshot is missing or damaged. `early` is the
 * newest file read ahead (SnapshotStore.peekNewest), used if it is the one.
 */
async function snapshotOfWal(
  snaps: SnapshotStore,
  marker: SnapshotMarker | undefined,
  early: Snapshot | undefined,
): Promise<Snapshot | undefined> {
  if (marker === undefined) return undefined;
  const snap = await snaps.loadNewest(
    (m) => m.index === marker.index && m.term === marker.term,
    early,
  );
  if (snap === undefined) {
    throw new Error(
      `snapshot ${join(snaps.dir, snapshotName(marker.term, marker.index))}, which the WAL's ` +
        `newest snapshot marker names (term ${marker.term}, index ${marker.index}), is missing ` +
        "or damaged: cannot recover",
    );
  }
  return snap;
}

/**
 * Waits for the off-thread checksum of `snap`, the newest file read ahead.
 * On damage the file is read again here, so that it is set aside and
 * reported as any damaged snapshot is (SnapshotStore.loadNewest), and the
 * start is refused: what was restored from it cannot be trusted.
 */
async function checkedBody(
  snaps: SnapshotStore,
  snap: Snapshot,
  verified: Promise<void>,
): Promise<void> {
  try {
    await verified;
  } catch (err) {
    const { term, index } = snap.meta;
    const again = await snaps.loadNewest((m) => m.index === index && m.term === term);
    const path = join(snaps.dir, snapshotName(term, index));
    throw new Error(
      again === undefined
        ? `snapshot ${path}, which the WAL's newest snapshot marker names, is damaged ` +
          `(${(err as Error).message}): cannot recover`
        : `snapshot ${path} failed its checksum (${(err as Error).message}) but read back ` +
          "whole a second time: not starting from a read that may have differed; start again",
    );
  }
}

function hex(id: bigint): string {
  return id.toString(16);
}
