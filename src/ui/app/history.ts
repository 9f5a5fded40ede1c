/**
 * Key history: every revision of one key still in the store, read from the
 * member's history with cairn's server-streaming Watch from the oldest
 * revision kept (the compaction revision, learned from the watch's
 * cancellation when revision 1 is gone).
 *
 * A watch never says "you have caught up", so the read ends at the key's
 * latest revision when the key exists (that event is certain to come), and
 * for a deleted key after the stream has been quiet for `quietMs`.
 *
 * @module
 */
import type { CairnClients } from "./api.ts";

/** One revision of the key. */
export interface Revision {
  revision: bigint;
  type: "put" | "delete";
  /** The key's version after this revision (0 for a delete). */
  version: bigint;
  value: Uint8Array;
  lease: bigint;
}

/** What {@link loadHistory} found. */
export interface History {
  /** Oldest first, the latest `max` at most. */
  revisions: Revision[];
  /** Older revisions were compacted away before this revision (0: none were). */
  compactRevision: bigint;
  /** More revisions existed than `max`: the oldest were dropped. */
  truncated: boolean;
}

/** Options of {@link loadHistory}. */
export interface HistoryOptions {
  /** Revisions kept at most (default 500). */
  max?: number;
  /** A deleted key's history ends after this much silence (default 700 ms). */
  quietMs?: number;
  /** Gives up after this long (default 20 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Reads the history of `key`. */
export async function loadHistory(
  clients: Pick<CairnClients, "kv" | "streams">,
  key: Uint8Array,
  opts: HistoryOptions = {},
): Promise<History> {
  const max = opts.max ?? 500;
  const quietMs = opts.quietMs ?? 700;
  const current = await clients.kv.range({ key }, { signal: opts.signal });
  const last = current.kvs[0]?.modRevision;
  const out: History = { revisions: [], compactRevision: 0n, truncated: false };
  let start = 1n;
  for (let attempt = 0; attempt < 5; attempt++) {
    const ctl = new AbortController();
    const stop = () => ctl.abort();
    opts.signal?.addEventListener("abort", stop, { once: true });
    const deadline = setTimeout(stop, opts.timeoutMs ?? 20_000);
    let quiet: ReturnType<typeof setTimeout> | undefined;
    let done = false;
    let restartAt: bigint | undefined;
    try {
      for await (
        const resp of clients.streams.watch({ key, startRevision: start }, { signal: ctl.signal })
      ) {
        if (resp.canceled) {
          if (resp.compactRevision > 0n) restartAt = resp.compactRevision;
          else throw new Error(resp.cancelReason || "the watch was canceled");
          break;
        }
        for (const ev of resp.events) {
          const kv = ev.kv;
          if (!kv) continue;
          out.revisions.push({
            revision: kv.modRevision,
            type: ev.type === 0 ? "put" : "delete",
            version: kv.version,
            value: kv.value,
            lease: kv.lease,
          });
          if (out.revisions.length > max) {
            out.revisions.shift();
            out.truncated = true;
          }
          if (last !== undefined && kv.modRevision >= last) done = true;
        }
        if (done) break;
        if (last === undefined) {
          clearTimeout(quiet);
          quiet = setTimeout(() => {
            done = true;
            ctl.abort();
          }, quietMs);
        }
      }
    } catch (err) {
      if (!done) throw err;
    } finally {
      clearTimeout(quiet);
      clearTimeout(deadline);
      opts.signal?.removeEventListener("abort", stop);
      ctl.abort();
    }
    if (restartAt === undefined) {
      if (!done) throw new Error("the history read timed out");
      return out;
    }
    out.compactRevision = restartAt;
    out.revisions = [];
    out.truncated = false;
    start = restartAt;
  }
  throw new Error("the history kept being compacted while it was read");
}
