/**
 * The member's data directory, laid out like etcd's:
 *
 * ```
 * <data-dir>/member/version   cairn's data format version ("cairn-data-v1")
 * <data-dir>/member/wal/      WAL segments (unless --wal-dir names another directory)
 * <data-dir>/member/snap/     snapshot files
 * ```
 *
 * With `--wal-dir` the segments live in that dedicated directory instead (as
 * etcd's DedicatedWALDir, typically on a faster disk) and `member/wal` is
 * not created. etcd simply uses whichever WAL directory it is given and
 * bootstraps a new member when that one is empty; its data survives such a
 * mix-up only because it also lives in the bbolt file. cairn's state is the
 * snapshot files plus the WAL, so starting anew beside them would pair old
 * snapshots with a new log: a data directory whose member data is visibly
 * elsewhere is refused instead (see {@link WalDirMismatchError}).
 *
 * The version file is what lets a future cairn refuse, with a clear error,
 * a directory it cannot read, instead of misreading it; it also keeps cairn
 * from mistaking an etcd data directory (same layout, no version file) for
 * its own.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { type Disk, REAL_DISK } from "./disk.ts";
import { syncDir, writeFileAtomic } from "./fs_util.ts";

/** The data format this cairn writes and reads. */
export const DATA_FORMAT_VERSION = "cairn-data-v1";

/** What writeFileAtomic leaves of `member/version` when a crash cuts it short. */
const VERSION_TMP = "version.tmp";

/** Paths of an opened data directory. */
export interface DataDir {
  /** True when the member already has a WAL (restart), false for a new member. */
  exists: boolean;
  dataDir: string;
  memberDir: string;
  walDir: string;
  snapDir: string;
  versionFile: string;
}

/**
 * The configured WAL directory holds no WAL although the data directory
 * shows the member has one elsewhere: snapshot files exist, or `member/wal`
 * holds segments while `--wal-dir` points somewhere else.
 */
export class WalDirMismatchError extends Error {
  /** `walDir` is the (empty) WAL directory in use. */
  constructor(readonly walDir: string, message: string) {
    super(message);
    this.name = "WalDirMismatchError";
  }
}

/** Where the WAL lives, when not in `<data-dir>/member/wal`. */
export interface DataDirOptions {
  /** `--wal-dir`: a dedicated WAL directory; "" or absent for the default. */
  walDir?: string;
  /** The file system (default: the real one; the member simulation passes its own). */
  disk?: Disk;
}

/** The data directory is in a format this cairn cannot use. */
export class DataDirVersionError extends Error {
  /** Names the offending file and what it found there. */
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "DataDirVersionError";
  }
}

/**
 * Opens the data directory at `path`, checking its format version, or
 * creates it (directories mode 0700, version file written durably) when
 * it holds no member data yet.
 */
export async function openDataDir(path: string, opts: DataDirOptions = {}): Promise<DataDir> {
  const dataDir = resolve(path);
  const memberDir = join(dataDir, "member");
  const defaultWalDir = join(memberDir, "wal");
  const walDir = opts.walDir ? resolve(opts.walDir) : defaultWalDir;
  const snapDir = join(memberDir, "snap");
  const versionFile = join(memberDir, "version");
  const disk = opts.disk ?? REAL_DISK;

  const found = await readIfExists(versionFile, disk);
  if (found !== undefined) {
    const version = new TextDecoder().decode(found).trim();
    if (version !== DATA_FORMAT_VERSION) {
      const shown = JSON.stringify(version.slice(0, 64));
      throw new DataDirVersionError(
        versionFile,
        `data format ${shown} is not supported by this cairn (it reads "${DATA_FORMAT_VERSION}")`,
      );
    }
  } else if (await hasEntries(memberDir, disk)) {
    throw new DataDirVersionError(
      versionFile,
      `missing, but ${memberDir} holds data: not a cairn data directory (an etcd one?)`,
    );
  }

  // Checked before anything is created, so a refused start leaves no trace.
  const exists = await hasSuffix(walDir, ".wal", disk);
  if (!exists) await checkNoWalElsewhere(walDir, defaultWalDir, snapDir, disk);

  const fresh = found === undefined;
  const walIsNew = !(await isDir(walDir, disk));
  for (const d of [dataDir, memberDir, walDir, snapDir]) {
    await disk.mkdir(d, { recursive: true, mode: 0o700 });
  }
  if (fresh) {
    await disk.chmod(memberDir, 0o700); // mkdir's mode is filtered by the umask
    const version = new TextEncoder().encode(`${DATA_FORMAT_VERSION}\n`);
    await writeFileAtomic(versionFile, version, 0o600, disk);
    // Make the new directories themselves durable, bottom up.
    await syncDir(memberDir, disk);
    await syncDir(dataDir, disk);
    await syncDir(dirname(dataDir), disk);
  }
  if (walIsNew && walDir !== defaultWalDir) {
    await disk.chmod(walDir, 0o700);
    await syncDir(dirname(walDir), disk); // the new directory's own entry
  }

  return { exists, dataDir, memberDir, walDir, snapDir, versionFile };
}

/**
 * Refuses to start a new log beside member data whose WAL is elsewhere:
 * snapshot files without a WAL, or a WAL in `member/wal` while `--wal-dir`
 * points to an empty directory.
 */
async function checkNoWalElsewhere(
  walDir: string,
  defaultWalDir: string,
  snapDir: string,
  disk: Disk,
): Promise<void> {
  if (walDir !== defaultWalDir && await hasSuffix(defaultWalDir, ".wal", disk)) {
    throw new WalDirMismatchError(
      walDir,
      `--wal-dir ${walDir} holds no WAL but ${defaultWalDir} does: ` +
        "start without --wal-dir, or move the WAL segments into the --wal-dir",
    );
  }
  if (await hasSuffix(snapDir, ".snap", disk)) {
    throw new WalDirMismatchError(
      walDir,
      `${snapDir} holds snapshots but the WAL directory ${walDir} holds no WAL: ` +
        "start with the --wal-dir this member was created with",
    );
  }
}

async function isDir(path: string, disk: Disk): Promise<boolean> {
  try {
    return (await disk.stat(path)).isDirectory;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** True when `dir` exists and has a file whose name ends with `suffix`. */
async function hasSuffix(dir: string, suffix: string, disk: Disk): Promise<boolean> {
  try {
    for await (const ent of disk.readDir(dir)) {
      if (ent.isFile && ent.name.endsWith(suffix)) return true;
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  return false;
}

async function readIfExists(path: string, disk: Disk): Promise<Uint8Array | undefined> {
  try {
    return await disk.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/**
 * True when `dir` exists and contains anything besides empty wal/ and snap/
 * and the temp file of a version write a crash interrupted (a member that
 * died while creating its data directory must still start).
 */
async function hasEntries(dir: string, disk: Disk): Promise<boolean> {
  try {
    for await (const ent of disk.readDir(dir)) {
      if ((ent.name === "wal" || ent.name === "snap") && ent.isDirectory) {
        if (await hasEntries(join(dir, ent.name), disk)) return true;
      } else if (ent.name === VERSION_TMP && ent.isFile) {
        continue;
      } else {
        return true;
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  return false;
}
