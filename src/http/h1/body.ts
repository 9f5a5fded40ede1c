/**
 * Request bodies of HTTP/1.x: a fixed Content-Length, or the chunked
 * transfer coding (RFC 9112 §7.1; chunk extensions are skipped, trailer
 * fields read and dropped). Bytes are taken from the connection's
 * {@link ReadBuffer} only as the handler asks for them, so a client
 * streaming requests is read at the pace they are served. Every wait for
 * the client is bounded.
 *
 * @module
 */
import type { ReadBuffer } from "./conn.ts";
import { MAX_HEAD_BYTES } from "./head.ts";

/**
 * How long a body read waits for the client's next bytes before the
 * connection is closed (a client that stalls mid-body holds a handler).
 */
export const BODY_STALL_MS = 60_000;

/** Longest chunk-size line (size, extensions, CRLF). */
const MAX_CHUNK_LINE = 4096;

/** The body is not valid (bad chunk framing, trailers too long) or the client left mid-body. */
export class BodyError extends Error {}

type ChunkState = "size" | "data" | "crlf" | "trailers" | "done";

/** One request's body, read on demand. */
export class RequestBody implements AsyncIterable<Uint8Array> {
  readonly #rb: ReadBuffer;
  /** Bytes of the body (length mode) or of the current chunk (chunked) not yet taken. */
  #left: number;
  readonly #chunked: boolean;
  #state: ChunkState;
  #trailerBytes = 0;
  #beforeRead: (() => void) | undefined;
  /** Set once reading failed: the connection cannot be reused. */
  failed = false;

  /**
   * `length`: the Content-Length, or -1 for chunked. `beforeRead` runs
   * once, before the first wait for the client (100 Continue).
   */
  constructor(rb: ReadBuffer, length: number, beforeRead?: () => void) {
    this.#rb = rb;
    this.#chunked = length < 0;
    this.#left = length < 0 ? 0 : length;
    this.#state = length < 0 ? "size" : length === 0 ? "done" : "data";
    this.#beforeRead = beforeRead;
  }

  /** True when every byte of the body has been read. */
  get complete(): boolean {
    return this.#state === "done";
  }

  /**
   * The whole body when it is a Content-Length body that has already
   * arrived in full (the common small request), without waiting; else
   * undefined.
   */
  takeBuffered(): Uint8Array | undefined {
    if (this.#chunked || this.#state !== "data" || this.#rb.buffered < this.#left) return undefined;
    const out = this.#rb.take(this.#left);
    this.#left = 0;
    this.#state = "done";
    return out;
  }

  /** The next piece of the body; null at its end. Throws {@link BodyError}. */
  async read(): Promise<Uint8Array | null> {
    const rb = this.#rb;
    for (;;) {
      switch (this.#state) {
        case "done":
          return null;
        case "data": {
          if (rb.buffered === 0) await this.#more();
          const n = Math.min(rb.buffered, this.#left);
          const piece = rb.take(n);
          this.#left -= n;
          if (this.#left === 0) this.#state = this.#chunked ? "crlf" : "done";
          return piece;
        }
        case "size": {
          const line = await this.#line();
          const semi = line.indexOf(";");
          const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw this.#fail("bad chunk size");
          this.#left = parseInt(hex, 16);
          this.#state = this.#left === 0 ? "trailers" : "data";
          continue;
        }
        case "crlf": {
          const line = await this.#line();
          if (line !== "") throw this.#fail("chunk data longer than its size");
          this.#state = "size";
          continue;
        }
        case "trailers": {
          const line = await this.#line();
          if (line === "") this.#state = "done";
          else if ((this.#trailerBytes += line.length) > MAX_HEAD_BYTES) {
            throw this.#fail("trailer fields too long");
          }
          continue;
        }
      }
    }
  }

  /** Reads the rest of the body and drops it, up to `max` bytes; false when more is left or it failed. */
  async discard(max: number): Promise<boolean> {
    let dropped = 0;
    try {
      while (!this.complete) {
        if (this.#state === "data" && !this.#chunked && this.#left > max - dropped) return false;
        const piece = await this.read();
        if (piece === null) break;
        dropped += piece.length;
        if (dropped > max) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const piece = await this.read();
      if (piece === null) return;
      yield piece;
    }
  }

  /** One line of chunk framing, without its line end. */
  async #line(): Promise<string> {
    const rb = this.#rb;
    for (;;) {
      const nl = rb.buf.subarray(rb.start, rb.end).indexOf(0x0a);
      if (nl >= 0) {
        let end = rb.start + nl;
        if (end > rb.start && rb.buf[end - 1] === 0x0d) end--;
        let line = "";
        for (let i = rb.start; i < end; i++) line += String.fromCharCode(rb.buf[i]);
        rb.start += nl + 1;
        return line;
      }
      if (rb.buffered > MAX_CHUNK_LINE) throw this.#fail("chunk line too long");
      await this.#more();
    }
  }

  /** Waits for more bytes from the client, at most {@link BODY_STALL_MS}. */
  async #more(): Promise<void> {
    const before = this.#beforeRead;
    if (before) {
      this.#beforeRead = undefined;
      before();
    }
    const rb = this.#rb;
    rb.deadline.arm(BODY_STALL_MS);
    try {
      if (!(await rb.fill())) throw this.#fail("client closed the connection mid-body");
    } finally {
      rb.deadline.disarm();
    }
  }

  #fail(why: string): BodyError {
    this.failed = true;
    this.#state = "done";
    return new BodyError(why);
  }
}
