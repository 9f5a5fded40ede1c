/**
 * The read side of one HTTP/1.x connection: a growable buffer filled from
 * the socket by at most one read at a time, so the request head parser,
 * the body readers and the read-ahead that notices a client leaving all
 * share it without losing or reordering bytes.
 *
 * @module
 */
import type { StreamConn } from "../net.ts";
import { type Deadline, type DeadlineSweep, sharedSweep } from "./deadlines.ts";

/** Bytes asked for per socket read. */
const READ_SIZE = 64 * 1024;
/** The buffer every connection starts with (and returns to once emptied after growing). */
const INITIAL_SIZE = 8 * 1024;
/** A read is not started into less free space than this: the buffer is compacted or grown first. */
const MIN_READ_SPACE = 4 * 1024;

/** A socket with the unconsumed bytes read from it. */
export class ReadBuffer {
  /** The bytes; the unconsumed ones are `buf[start, end)`. */
  buf = new Uint8Array(INITIAL_SIZE);
  start = 0;
  end = 0;
  /** The socket ended (or failed): no more bytes will come. */
  ended = false;
  #pending: Promise<boolean> | undefined;
  /** Closes the connection when a wait for the client's bytes takes too long (see {@link release}). */
  readonly deadline: Deadline;
  /** The same for a write the client does not take in (it stopped reading). */
  readonly writeDeadline: Deadline;
  readonly #sweep: DeadlineSweep;

  constructor(readonly conn: StreamConn, first: Uint8Array, sweep: DeadlineSweep = sharedSweep) {
    this.#sweep = sweep;
    this.deadline = sweep.add(() => conn.close());
    this.writeDeadline = sweep.add(() => conn.close());
    if (first.length > this.buf.length) this.buf = new Uint8Array(first.length + READ_SIZE);
    this.buf.set(first);
    this.end = first.length;
  }

  /** The connection is done with: its deadline is no longer watched. */
  release(): void {
    this.#sweep.delete(this.deadline);
    this.#sweep.delete(this.writeDeadline);
  }

  /** Unconsumed bytes. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** True while a socket read is in progress. */
  get reading(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Reads more bytes from the socket into the buffer (joining the read in
   * progress if there is one); false once the socket has ended or failed.
   */
  fill(): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    return this.#pending ??= this.#read();
  }

  /** Takes `n` unconsumed bytes as a copy of their own (the buffer is reused). */
  take(n: number): Uint8Array {
    const out = this.buf.slice(this.start, this.start + n);
    this.start += n;
    return out;
  }

  async #read(): Promise<boolean> {
    try {
      this.#makeRoom();
      const n = await this.conn.read(this.buf.subarray(this.end));
      if (n === null) {
        this.ended = true;
        return false;
      }
      this.end += n;
      return true;
    } catch {
      this.ended = true;
      return false;
    } finally {
      this.#pending = undefined;
    }
  }

  /**
   * Only here does the buffer move or grow: no read is in progress, and
   * consumers never keep views into it (they take copies).
   */
  #makeRoom(): void {
    const len = this.end - this.start;
    if (len === 0) {
      this.start = this.end = 0;
      if (this.buf.length > READ_SIZE * 2) this.buf = new Uint8Array(INITIAL_SIZE);
      return;
    }
    if (this.buf.length - this.end >= MIN_READ_SPACE) return;
    if (this.start > 0 && this.buf.length - len >= MIN_READ_SPACE) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, len + READ_SIZE));
      grown.set(this.buf.subarray(this.start, this.end));
      this.buf = grown;
    }
    this.start = 0;
    this.end = len;
  }
}
