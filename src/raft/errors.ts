/**
 * Errors raised by the Raft core and its storage, as distinct classes so
 * callers can tell them apart with `instanceof`.
 *
 * @module
 */

/** A proposal could not be accepted (no leader known, leadership transfer, pending change). */
export class ProposalDropped extends Error {
  /** @param reason why it was dropped, for logs. */
  constructor(reason = "raft proposal dropped") {
    super(reason);
    this.name = "ProposalDropped";
  }
}

/** The requested index is older than the storage's first index (compacted away). */
export class ErrCompacted extends Error {
  /** Creates the error with etcd's message. */
  constructor() {
    super("requested index is unavailable due to compaction");
    this.name = "ErrCompacted";
  }
}

/** The requested index is beyond the last index in storage. */
export class ErrUnavailable extends Error {
  /** Creates the error with etcd's message. */
  constructor() {
    super("requested entry at index is unavailable");
    this.name = "ErrUnavailable";
  }
}

/** A snapshot older than the one already held was offered. */
export class ErrSnapOutOfDate extends Error {
  /** Creates the error with etcd's message. */
  constructor() {
    super("requested index is older than the existing snapshot");
    this.name = "ErrSnapOutOfDate";
  }
}

/** The storage has no snapshot to send yet; the leader will retry later. */
export class ErrSnapshotTemporarilyUnavailable extends Error {
  /** Creates the error with etcd's message. */
  constructor() {
    super("snapshot is temporarily unavailable");
    this.name = "ErrSnapshotTemporarilyUnavailable";
  }
}
