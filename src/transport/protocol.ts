/**
 * What both ends of the peer protocol agree on: endpoint paths, header
 * names, how ids are written in headers, and the splitter that cuts a byte
 * stream back into length-prefixed frames.
 *
 * - `POST /raft/stream`: a long-lived request from a sender; its body is a
 *   sequence of frames `[length u32 BE][RaftBatch]`. The receiver answers
 *   200 at once (that is how the sender knows the peer is active) and never
 *   sends a body; Raft's responses travel on the receiver's own stream.
 * - `POST /raft/snapshot`: one frame holding the Snap `RaftMessage`
 *   (metadata only), then exactly `x-cairn-snapshot-size` bytes of snapshot
 *   data whose CRC-32C is `x-cairn-snapshot-crc32c`. 204 once the member
 *   took it.
 *
 * Every request carries the sender's id, the receiver's id and the cluster
 * id; a request from another cluster is refused with 412 and
 * `x-cairn-error: cluster ID mismatch`, as etcd refuses it. Only members
 * of the receiver's current configuration are heard: a removed one gets
 * 410 `removed member` (it stops for good on hearing that, as etcd does),
 * an unknown one 404 `error sender not found`, as etcd's stream handler
 * answers them.
 *
 * Sizes a sender states are limits, never allocations: a frame's or a
 * snapshot's buffer grows as its bytes arrive ({@link GrowingBuffer}).
 *
 * @module
 */

/** Path of the message stream. */
export const PATH_STREAM = "/raft/stream";
/** Path of a snapshot transfer. */
export const PATH_SNAPSHOT = "/raft/snapshot";

/** Sender's cluster id (hex). */
export const H_CLUSTER_ID = "x-cairn-cluster-id";
/** Sender's member id (hex). */
export const H_FROM = "x-cairn-from";
/** Receiver's member id as the sender knows it (hex). */
export const H_TO = "x-cairn-to";
/** Byte length of the snapshot data following the message frame. */
export const H_SNAPSHOT_SIZE = "x-cairn-snapshot-size";
/** CRC-32C of the snapshot data, unsigned decimal. */
export const H_SNAPSHOT_CRC = "x-cairn-snapshot-crc32c";
/** On a refusal: why, in etcd's words where etcd has some. */
export const H_ERROR = "x-cairn-error";

/** The refusal text for a request from another cluster (etcd's wording). */
export const ERR_CLUSTER_MISMATCH = "cluster ID mismatch";
/** The refusal text for a request meant for another member. */
export const ERR_MEMBER_MISMATCH = "member ID mismatch";
/** The refusal text (410) for a sender removed from the cluster (etcd's). */
export const ERR_REMOVED_MEMBER = "removed member";
/** The refusal text (404) for a sender that is no member of the cluster (etcd's). */
export const ERR_SENDER_NOT_FOUND = "error sender not found";
/** The refusal text (403) for a TLS connection that presented no verified certificate. */
export const ERR_NO_CERTIFICATE = "a verified peer certificate is required";

/**
 * Most bytes one stream frame may hold whatever --max-request-bytes says.
 * A sender cuts its batches into frames of about FRAME_TARGET_BYTES, so
 * only a single message can make a frame bigger, and a message is at most
 * one client request (or Raft's 1 MiB of entries) plus its framing.
 */
export const MIN_FRAME_LIMIT = 64 * 1024 * 1024;
/** Senders cut what they have queued into frames of about this many bytes. */
export const FRAME_TARGET_BYTES = 4 * 1024 * 1024;
/** Room for a message's own fields, entry framing and the request envelope. */
const MESSAGE_OVERHEAD = 1024 * 1024;

/**
 * Largest stream frame a member accepts: etcd limits a Raft message on a
 * peer stream by a fixed size (512 MiB), cairn by what a sender can
 * legitimately write: one request of `maxRequestBytes` (twice, for a
 * leader started with a larger --max-request-bytes than ours) plus
 * overhead, and never less than {@link MIN_FRAME_LIMIT}.
 */
export function frameLimit(maxRequestBytes: number): number {
  return Math.max(MIN_FRAME_LIMIT, 2 * maxRequestBytes + MESSAGE_OVERHEAD);
}

/** etcd's default backend quota, 2 GiB (--quota-backend-bytes 0). */
const DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;
/** etcd's recommended maximum backend size, 8 GiB (the bound when the quota is disabled). */
const MAX_QUOTA_BYTES = 8 * 1024 ** 3;

/**
 * Largest snapshot a member accepts. etcd bounds a snapshot by the backend
 * it is a copy of; cairn's snapshot encodes the state machine, which the
 * backend quota keeps near --quota-backend-bytes (the leader refuses
 * writes past it), so twice the quota plus 64 MiB leaves room for
 * per-revision encoding overhead, leases and membership. A quota of 0 is
 * etcd's default 2 GiB; a negative (disabled) one counts as 8 GiB.
 */
export function snapshotLimit(quotaBackendBytes: number): number {
  const quota = quotaBackendBytes > 0
    ? quotaBackendBytes
    : quotaBackendBytes < 0
    ? MAX_QUOTA_BYTES
    : DEFAULT_QUOTA_BYTES;
  return 2 * quota + 64 * 1024 * 1024;
}

/** An id as written in headers: unsigned 64-bit lowercase hex, as etcd prints ids. */
export function formatId(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}

/** Parses a header id; undefined when absent or malformed. */
export function parseId(v: string | string[] | undefined): bigint | undefined {
  if (typeof v !== "string" || !/^[0-9a-f]{1,16}$/i.test(v)) return undefined;
  return BigInt("0x" + v);
}

/** Thrown by {@link FrameSplitter} on a frame longer than allowed. */
export class FrameTooLarge extends Error {
  /** `size` was announced, `max` is the limit. */
  constructor(readonly size: number, readonly max: number) {
    super(`frame of ${size} bytes exceeds the limit of ${max}`);
    this.name = "FrameTooLarge";
  }
}

/** Bodies up to this size get their buffer at once; larger ones grow as bytes arrive. */
const EAGER_BYTES = 1024 * 1024;

/**
 * Collects a body whose length a remote party stated. Memory follows the
 * bytes that really arrived, not the stated length: up to EAGER_BYTES the
 * buffer is made at once; beyond that the chunks are kept as they come, and
 * only once half of the body is here is the one buffer of its exact size
 * made (so a liar costs at most three times what it really sent). The
 * body ends as one fresh buffer of exactly `size` bytes.
 */
export class GrowingBuffer {
  #whole: Uint8Array | undefined;
  #chunks: Uint8Array[] = [];
  #fill = 0;

  /** `size` is the stated length; pushing more than that throws. */
  constructor(readonly size: number) {
    if (size <= EAGER_BYTES) this.#whole = new Uint8Array(size);
  }

  /** Bytes received so far. */
  get length(): number {
    return this.#fill;
  }

  /** True once `size` bytes arrived. */
  get full(): boolean {
    return this.#fill === this.size;
  }

  /** Appends `chunk` (kept by reference until the exact buffer exists: hand over fresh ones). */
  push(chunk: Uint8Array): void {
    if (this.#fill + chunk.length > this.size) {
      throw new RangeError(`body longer than the ${this.size} bytes announced`);
    }
    if (this.#whole === undefined) {
      this.#chunks.push(chunk);
      this.#fill += chunk.length;
      if (2 * this.#fill < this.size) return;
      const whole = new Uint8Array(this.size);
      let off = 0;
      for (const c of this.#chunks) {
        whole.set(c, off);
        off += c.length;
      }
      this.#chunks = [];
      this.#whole = whole;
      return;
    }
    this.#whole.set(chunk, this.#fill);
    this.#fill += chunk.length;
  }

  /** The complete body; only once {@link full}. */
  take(): Uint8Array {
    if (!this.full || this.#whole === undefined) {
      throw new RangeError(`body incomplete: ${this.#fill} of ${this.size} bytes`);
    }
    return this.#whole;
  }
}

/**
 * Cuts a stream of chunks into frames `[length u32 BE][body]`. Each body is
 * delivered in a fresh buffer of exactly its size: decoded entries are views
 * of it (see codec.ts), so a retained entry keeps only its own batch alive,
 * never a shared socket chunk. A frame's buffer grows as its bytes arrive.
 */
export class FrameSplitter {
  #head = new Uint8Array(4);
  #headFill = 0;
  #body: GrowingBuffer | undefined;

  /** `onFrame` receives each complete body; `max` bounds a body's announced size. */
  constructor(readonly onFrame: (body: Uint8Array) => void, readonly max: number) {}

  /**
   * Feeds the next chunk (a fresh buffer the splitter may keep); throws
   * FrameTooLarge, or whatever `onFrame` throws (the stream is then unusable).
   */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#body === undefined) {
        const n = Math.min(4 - this.#headFill, chunk.length - i);
        this.#head.set(chunk.subarray(i, i + n), this.#headFill);
        this.#headFill += n;
        i += n;
        if (this.#headFill < 4) return;
        const h = this.#head;
        const size = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
        if (size > this.max) throw new FrameTooLarge(size, this.max);
        this.#headFill = 0;
        if (size === 0) {
          this.onFrame(new Uint8Array(0));
          continue;
        }
        this.#body = new GrowingBuffer(size);
      }
      const body = this.#body;
      const n = Math.min(body.size - body.length, chunk.length - i);
      body.push(chunk.subarray(i, i + n));
      i += n;
      if (body.full) {
        this.#body = undefined;
        this.onFrame(body.take());
      }
    }
  }

  /** Bytes of the frame in progress held so far (header excluded). */
  get pending(): number {
    return this.#body?.length ?? 0;
  }

  /** True when no partial frame is pending (a clean end of stream). */
  get idle(): boolean {
    return this.#body === undefined && this.#headFill === 0;
  }
}
