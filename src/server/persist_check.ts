/**
 * The last check before entries reach the WAL: what a Ready asks to
 * persist must continue the persisted log (a gap would be replayed as a
 * missing entry after a restart) and must never replace an entry at or
 * below the commit index (committed entries are forever). The Raft core
 * already guarantees both; this keeps a bug or a forged message that got
 * past it from ever reaching the disk, where it would outlive the process.
 *
 * @module
 */
import { InvariantViolation } from "../raft/errors.ts";
import type { Entry } from "../raft/types.ts";

/** What is persisted already: last entry index and the commit index. */
export interface PersistedLog {
  lastIndex(): number;
  hardState(): { commit: number };
}

/** Throws InvariantViolation unless `entries` may be appended to `log` as they are. */
export function checkPersistable(entries: readonly Entry[], log: PersistedLog): void {
  if (entries.length === 0) return;
  const first = entries[0].index;
  const last = log.lastIndex();
  if (first > last + 1) {
    throw new InvariantViolation(
      `wal: entries to persist start at ${first}, leaving a gap after entry ${last}`,
    );
  }
  const commit = log.hardState().commit;
  if (first <= commit) {
    throw new InvariantViolation(
      `wal: entry ${first} would replace a committed entry [committed(${commit})]`,
    );
  }
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].index !== first + i || entries[i].term < entries[i - 1].term) {
      throw new InvariantViolation(
        `wal: entry ${entries[i].index} (term ${entries[i].term}) cannot follow ` +
          `${entries[i - 1].index} (term ${entries[i - 1].term})`,
      );
    }
  }
}
