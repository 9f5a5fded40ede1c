/**
 * The member's data directory, laid out like etcd's:
 *
 * ```
 * <data-dir>/member/version   cairn's data format version ("cairn-data-v1")
 * <data-dir>/member/wal/      WAL segments
 * <data-dir>/member/snap/     snapshot files
 * ```
 *
 * The version file is what lets a future cairn refuse, with a clear error,
 * a directory it cannot read, instead of misreading it; it also keeps cairn
 * from mistaking an etcd data directory (same layout, no version file) for
 * its own.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { syncDir, writeFileAtomic } from "./fs_util.ts";

/** The data format this cairn writes and reads. */
export const DATA_FORMAT_VERSION = "cairn-data-v1";

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
export async function openDataDir(path: string): Promise<DataDir> {
  const dataDir = resolve(path);
  const memberDir = join(dataDir, "member");
  const walDir = join(memberDir, "wal");
  const snapDir = join(memberDir, "snap");
  const versionFile = join(memberDir, "version");

  const found = await readIfExists(versionFile);
  if (found !== undefined) {
    const version = new TextDecoder().decode(found).trim();
    if (version !== DATA_FORMAT_VERSION) {
      const shown = JSON.stringify(version.slice(0, 64));
      throw new DataDirVersionError(
        versionFile,
        `data format ${shown} is not supported by this cairn (it reads "${DATA_FORMAT_VERSION}")`,
      );
    }
  } else if (await hasEntries(memberDir)) {
    throw new DataDirVersionError(
      versionFile,
      `missing, but ${memberDir} holds data: not a cairn data directory (an etcd one?)`,
    );
  }

  const fresh = found === undefined;
  for (const d of [dataDir, memberDir, walDir, snapDir]) {
    await Deno.mkdir(d, { recursive: true, mode: 0o700 });
  }
  if (fresh) {
    await Deno.chmod(memberDir, 0o700); // mkdir's mode is filtered by the umask
    await writeFileAtomic(versionFile, new TextEncoder().encode(`${DATA_FORMAT_VERSION}\n`));
    // Make the new directories themselves durable, bottom up.
    await syncDir(memberDir);
    await syncDir(dataDir);
    await syncDir(dirname(dataDir));
  }

  let exists = false;
  for await (const ent of Deno.readDir(walDir)) {
    if (ent.isFile && ent.name.endsWith(".wal")) exists = true;
  }
  return { exists, dataDir, memberDir, walDir, snapDir, versionFile };
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** True when `dir` exists and contains anything besides empty wal/ and snap/. */
async function hasEntries(dir: string): Promise<boolean> {
  try {
    for await (const ent of Deno.readDir(dir)) {
      if ((ent.name === "wal" || ent.name === "snap") && ent.isDirectory) {
        if (await hasEntries(join(dir, ent.name))) return true;
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
