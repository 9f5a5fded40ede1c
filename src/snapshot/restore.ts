/**
 * `cairn snapshot restore`: a new member's data directory from an etcd
 * snapshot file (saved from cairn or from etcd itself), as etcdutl's
 * restore makes one for etcd. The keys, values and their whole retained
 * history keep their revisions, versions and leases; auth, alarms and the
 * compaction revision are kept; the membership is replaced by
 * `--initial-cluster`'s members, and the Raft log starts afresh: the state
 * becomes a snapshot at index N (the number of members) of term 1, whose
 * configuration makes those members voters, so every member restored from
 * the same file with the same flags starts from identical state and
 * elects a leader among themselves.
 *
 * Everything is checked before the directory is created, so a refused
 * restore leaves nothing behind.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { StateSnapshotSchema } from "../gen/cairn/internal_pb.ts";
import { BoltFormatError, BoltReader } from "../bbolt/reader.ts";
import { openDataDir } from "../storage/data_dir.ts";
import { SnapshotStore } from "../storage/snapshot.ts";
import { Wal } from "../storage/wal.ts";
import { bootstrapMetadata } from "../server/bootstrap.ts";
import { computeClusterId, urlString } from "../server/ids.ts";
import { Membership } from "../server/membership.ts";
import { stateFromEtcd } from "./etcd_schema.ts";
import { snapshotDatabase } from "./file.ts";

/** What a restore needs (etcdutl's flags). */
export interface RestoreOptions {
  /** The snapshot file. */
  file: string;
  /** `--data-dir`; default `<name>.etcd`. */
  dataDir?: string;
  /** `--wal-dir`; default `<data-dir>/member/wal`. */
  walDir?: string;
  /** `--name` of the member this directory is for. */
  name: string;
  /** `--initial-cluster`: member name to peer URLs. */
  initialCluster: Map<string, URL[]>;
  /** `--initial-cluster-token`. */
  token: string;
  /** `--initial-advertise-peer-urls` of this member. */
  advertisePeerUrls: URL[];
  /** `--skip-hash-check`: accept a file without (or with a wrong) SHA-256 trailer. */
  skipHashCheck: boolean;
  /** Told what is happening, step by step (a terminal shows it). */
  progress?: (step: string) => void;
}

/** What the restore produced. */
export interface RestoreResult {
  dataDir: string;
  walDir: string;
  snapDir: string;
  memberId: bigint;
  clusterId: bigint;
  /** The store revision the member starts at. */
  revision: number;
  /** Revisions (versions, tombstones included) restored. */
  revisions: number;
  /** Raft index (and consistent index) of the restored snapshot. */
  index: number;
}

/** A restore refused, with etcd's wording where etcd has one. */
export class RestoreError extends Error {
  /** @param message the text etcdutl prints after `Error: ` */
  constructor(message: string) {
    super(message);
    this.name = "RestoreError";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** etcd's bootstrap check: this member is in the cluster, at the URLs it advertises. */
function verifyBootstrap(o: RestoreOptions): void {
  const urls = o.initialCluster.get(o.name);
  if (urls === undefined) {
    throw new RestoreError(
      `couldn't find local name ${JSON.stringify(o.name)} in the initial cluster configuration`,
    );
  }
  const want = urls.map(urlString).sort();
  const have = o.advertisePeerUrls.map(urlString).sort();
  if (want.join(",") !== have.join(",")) {
    throw new RestoreError(
      `--initial-cluster has ${want.map((u) => `${o.name}=${u}`).join(",")} but missing from ` +
        `--initial-advertise-peer-urls=${have.join(",")} ` +
        `(resolved urls: ${JSON.stringify(have.join(","))} != ${JSON.stringify(want.join(","))})`,
    );
  }
}

/** Reads `o.file` (through `readFile`, for tests) and writes the new data directory. */
export async function restoreSnapshot(
  o: RestoreOptions,
  readFile: (path: string) => Promise<Uint8Array> = Deno.readFile,
): Promise<RestoreResult> {
  const progress = o.progress ?? (() => {});
  verifyBootstrap(o);
  const dataDir = o.dataDir || `${o.name}.etcd`;
  if (await exists(dataDir)) throw new RestoreError(`data-dir ${JSON.stringify(dataDir)} exists`);
  if (o.walDir && await exists(o.walDir)) {
    throw new RestoreError(`wal-dir ${JSON.stringify(o.walDir)} exists`);
  }

  progress("reading the snapshot file");
  let file: Uint8Array;
  try {
    file = await readFile(o.file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new RestoreError(`open ${o.file}: no such file or directory`);
    }
    throw err;
  }
  progress("verifying its SHA-256");
  const db = snapshotDatabase(file, o.skipHashCheck);
  let decoded;
  try {
    const reader = new BoltReader(db);
    decoded = stateFromEtcd(reader, (n) => progress(`reading revisions: ${n}`));
  } catch (err) {
    if (err instanceof BoltFormatError) throw new RestoreError(err.boltMessage);
    throw err;
  }

  // The new membership replaces the one in the file, as etcd's restore does.
  const membership = Membership.fromInitialCluster(o.initialCluster, o.token);
  const records = membership.records();
  const self = records.find((r) => r.name === o.name)!;
  const voters = membership.voterIds();
  const clusterId = computeClusterId(voters);
  const index = records.length;
  const term = 1;
  const state = create(StateSnapshotSchema, {
    ...decoded.state,
    members: records,
    removedMembers: [],
  });
  const data = toBinary(StateSnapshotSchema, state);

  progress("writing the snapshot and the WAL");
  const dir = await openDataDir(dataDir, { walDir: o.walDir });
  const snaps = new SnapshotStore(dir.snapDir);
  await snaps.save({ index, term, confState: { voters, learners: [] } }, data);
  const wal = await Wal.create(dir.walDir, {
    clusterId,
    memberId: self.id,
    extra: bootstrapMetadata(records),
  });
  try {
    await wal.saveSnapshotMarker({ term, index });
    await wal.save({ term, vote: 0n, commit: index }, []);
  } finally {
    await wal.close();
  }
  return {
    dataDir: dir.dataDir,
    walDir: dir.walDir,
    snapDir: dir.snapDir,
    memberId: self.id,
    clusterId,
    revision: decoded.revision,
    revisions: decoded.revisions,
    index,
  };
}
