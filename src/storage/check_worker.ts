/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * A worker that checks files a restart reads but does not need to hold
 * (see off_thread_check.ts): the WAL segments before those replayed, and a
 * snapshot file's body checksum. It reads the files itself and answers
 * with what is wrong, if anything; nothing is kept.
 *
 * @module
 */
import { REAL_DISK } from "./disk.ts";
import type { CheckJob, CheckReply } from "./off_thread_check.ts";
import { WalCorruptError } from "./record.ts";
import { checkSnapshotFile } from "./snapshot.ts";
import { scanSegments } from "./wal_scan.ts";

self.onmessage = async (e: MessageEvent<CheckJob>) => {
  const job = e.data;
  let reply: CheckReply;
  try {
    if (job.kind === "wal") {
      await scanSegments(REAL_DISK, job.dir, job.names, 0, job.from + 1, false);
    } else {
      await checkSnapshotFile(REAL_DISK, job.path);
    }
    reply = { id: job.id, ok: true };
  } catch (err) {
    reply = err instanceof WalCorruptError
      ? { id: job.id, ok: false, message: err.message, wal: { path: err.path, offset: err.offset } }
      : { id: job.id, ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  self.postMessage(reply);
};
