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
 * `x-cairn-error: cluster ID mismatch`, as etcd refuses it.
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

/**
 * Cuts a stream of chunks into frames `[length u32 BE][body]`. Each body is
 * delivered in a fresh buffer of exactly its size: decoded entries are views
 * of it (see codec.ts), so a retained entry keeps only its own batch alive,
 * never a shared socket chunk.
 */
export class FrameSplitter {
  #head = new Uint8Array(4);
  #headFill = 0;
  #body: Uint8Array | undefined;
  #bodyFill = 0;

  /** `onFrame` receives each complete body; `max` bounds a body's announced size. */
  constructor(readonly onFrame: (body: Uint8Array) => void, readonly max: number) {}

  /** Feeds the next chunk; throws FrameTooLarge (the stream is then unusable). */
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
        this.#body = new Uint8Array(size);
        this.#bodyFill = 0;
      }
      const body = this.#body;
      const n = Math.min(body.length - this.#bodyFill, chunk.length - i);
      body.set(chunk.subarray(i, i + n), this.#bodyFill);
      this.#bodyFill += n;
      i += n;
      if (this.#bodyFill === body.length) {
        this.#body = undefined;
        this.onFrame(body);
      }
    }
  }

  /** True when no partial frame is pending (a clean end of stream). */
  get idle(): boolean {
    return this.#body === undefined && this.#headFill === 0;
  }
}
