/**
 * Checks a restart can leave to the machine's other core: the CRCs of the
 * WAL segments before those it replays, and of the snapshot body it
 * decodes meanwhile (~0.35 s and ~0.4 s of one core each with 1,000,000
 * keys, measured 2026-12-06). One worker (check_worker.ts) runs while any
 * check is pending and is ended when none is, so an idle member keeps no
 * second isolate.
 *
 * @module
 */
import type { SegmentName } from "./wal_scan.ts";
import { WalCorruptError } from "./record.ts";

/** A check for the worker. */
export type CheckJob =
  | { id: number; kind: "wal"; dir: string; names: SegmentName[]; from: number }
  | { id: number; kind: "snapshot"; path: string };

/**
 * The worker's answer: `wal` set when a WAL record is bad (to rebuild its
 * error); `lost` when the worker itself failed (it could not start, say a
 * build that left its module out), so nothing was checked.
 */
export type CheckReply =
  | { id: number; ok: true }
  | {
    id: number;
    ok: false;
    message: string;
    wal?: { path: string; offset: number };
    lost?: boolean;
  };

/** Where the worker's module is (a test points it at one that cannot load). */
export const checkWorker = { url: new URL("./check_worker.ts", import.meta.url).href };

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, (reply: CheckReply) => void>();

function run(job: CheckJob): Promise<CheckReply> {
  if (worker === undefined) {
    const w = new Worker(checkWorker.url, { type: "module" });
    w.onmessage = (e: MessageEvent<CheckReply>) => settle(e.data);
    w.onerror = (e) => {
      // Nothing it held was checked: each caller checks on its own thread.
      e.preventDefault();
      for (const id of [...pending.keys()]) {
        settle({ id, ok: false, message: e.message, lost: true });
      }
    };
    worker = w;
  }
  const reply = new Promise<CheckReply>((resolve) => pending.set(job.id, resolve));
  worker.postMessage(job);
  return reply;
}

function settle(reply: CheckReply): void {
  const resolve = pending.get(reply.id);
  if (resolve === undefined) return;
  pending.delete(reply.id);
  if (pending.size === 0) {
    worker?.terminate();
    worker = undefined;
  }
  resolve(reply);
}

/**
 * Checks WAL segments `names[0..from]` of `dir` as an open reading them
 * would (wal_scan.ts); rejects with the {@link WalCorruptError} it would
 * have thrown. `here` does the same check on this thread, used if the
 * worker fails.
 */
export async function checkSegmentsOffThread(
  dir: string,
  names: SegmentName[],
  from: number,
  here: () => Promise<void>,
): Promise<void> {
  const r = await run({ id: nextId++, kind: "wal", dir, names, from });
  if (r.ok) return;
  if (r.lost) return await here();
  if (r.wal) {
    // Rebuilt with the same path and offset (the message already says both).
    const err = new WalCorruptError(r.wal.path, r.wal.offset, "");
    err.message = r.message;
    throw err;
  }
  throw new Error(r.message);
}

/**
 * Verifies the snapshot file at `path` (snapshot.ts's checkSnapshotFile);
 * rejects with its error. `here` does the same on this thread, used if the
 * worker fails.
 */
export async function checkSnapshotOffThread(
  path: string,
  here: () => Promise<void>,
): Promise<void> {
  const r = await run({ id: nextId++, kind: "snapshot", path });
  if (r.ok) return;
  if (r.lost) return await here();
  throw new Error(r.message);
}
