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

/**
 * A safety property of Raft or of the member's log no longer holds: an
 * entry conflicting with a committed one, a commit index beyond the log, a
 * gap in the log, a committed entry that cannot be decoded. The member's
 * state can no longer be trusted, so whoever catches this must stop the
 * member at once (etcd panics) instead of carrying on half-stepped. Never
 * caught to log and continue.
 */
export class InvariantViolation extends Error {
  /** @param invariant what was violated, with the values involved (it names the invariant in logs). */
  constructor(readonly invariant: string) {
    super(invariant);
    this.name = "InvariantViolation";
  }
}

/**
 * A message Raft cannot take from a peer (a local-only type, an empty
 * proposal): bad input, refused without changing any state. The member
 * drops it and lives.
 */
export class InvalidMessage extends Error {
  /** @param reason why the message was refused. */
  constructor(reason: string) {
    super(reason);
    this.name = "InvalidMessage";
  }
}
