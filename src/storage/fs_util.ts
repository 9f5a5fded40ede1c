/**
 * Small file-system helpers with the fsync discipline every storage file
 * needs: a durable rename is write temp -> fsync file -> rename -> fsync dir.
 *
 * @module
 */
import { dirname } from "node:path";
import { type Disk, type DiskFile, REAL_DISK } from "./disk.ts";

/** fsyncs a directory so creations, renames and deletions in it are durable. */
export async function syncDir(dir: string, disk: Disk = REAL_DISK): Promise<void> {
  const d = await disk.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/**
 * Writes all of `data` at the file's current position. A regular file
 * normally takes it in one write(2); the loop only covers short writes.
 */
export function writeAllSync(file: DiskFile, data: Uint8Array): void {
  let done = 0;
  while (done < data.length) {
    done += file.writeSync(done === 0 ? data : data.subarray(done));
  }
}

/** Writes all of `data` at the file's position off the event loop (short writes are continued). */
export async function writeAll(file: DiskFile, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) {
    done += await file.write(done === 0 ? data : data.subarray(done));
  }
}

/**
 * Replaces `path` with `data` atomically and durably: after it resolves the
 * file holds exactly `data` even across a crash, and before, either the old
 * content or nothing.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array,
  mode = 0o600,
  disk: Disk = REAL_DISK,
): Promise<void> {
  const tmp = `${path}.tmp`;
  const f = await disk.open(tmp, { write: true, create: true, truncate: true, mode });
  try {
    writeAllSync(f, data);
    await f.sync();
  } finally {
    f.close();
  }
  await disk.rename(tmp, path);
  await syncDir(dirname(path), disk);
}

/** Removes `path`, ignoring a file that is already gone. */
export async function removeIfExists(path: string, disk: Disk = REAL_DISK): Promise<void> {
  try {
    await disk.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
