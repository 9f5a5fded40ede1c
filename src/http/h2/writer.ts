/**
 * The sending half of an HTTP/2 connection: frames queued by one run of
 * synchronous work (a Ready's applies, a read's frames) leave in one socket
 * write, gathered into a buffer the
 * connection reuses (a fresh one per write made most of a busy watch
 * stream's memory garbage waiting for collection). One write is in flight
 * at a time; what is queued meanwhile follows it.
 *
 * The writer counts the control frames it holds (acknowledgements, resets,
 * window updates: frames the peer provokes), so the connection can bound
 * them, and gives a closing socket a limited time to take its last frames.
 *
 * @module
 */
import { FRAME_HEADER_SIZE, writeFrameHeader } from "./frames.ts";
import { CLOSE_GRACE_MS } from "./limits.ts";

/** What the writer writes to (a `Deno.Conn` fits). */
export interface WritableConn {
  write(p: Uint8Array): Promise<number>;
  close(): void;
  /** Half-closes after what was written (a lingering close uses it when present). */
  closeWrite?(): void | Promise<void>;
}

/**
 * Largest buffer frames are gathered into for a socket write. A
 * connection's buffer starts as small as its writes and grows to this only
 * if they do: most connections of a member write little, and one of this
 * size per connection was most of what a flood of new connections cost.
 */
const WRITE_BUFFER = 256 * 1024;
/** Smallest gathering buffer. */
const MIN_WRITE_BUFFER = 1024;
/**
 * Frames with payloads up to this size are copied, header and all, into a
 * shared staging buffer instead of being queued as a fresh 9-byte header
 * plus the payload: a unary response is three such frames, and their
 * small arrays were a share of every request's garbage.
 */
const SMALL_FRAME = 512;
/** Size of a staging buffer (a fresh one when full; queued bytes in it are never overwritten). */
const STAGE_SIZE = 16 * 1024;

/** Queues frames and writes them to one socket. */
export class FrameWriter {
  #out: Uint8Array[] = [];
  #outBytes = 0;
  /** Control frames in #out, and in the write in flight. */
  #outControl = 0;
  #flightControl = 0;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  #socketClosed = false;
  readonly #closedSignal = Promise.withResolvers<void>();
  #scheduled = false;
  #writing = false;
  #ending = false;
  /** After the last write, wait for the peer to close (see {@link end}). */
  #lingering = false;
  #buf: Uint8Array | undefined;
  /** Staged small frames: `#stage[#stageStart, #stagePos)` is queued but not yet in `#out`. */
  #stage: Uint8Array | undefined;
  #stageStart = 0;
  #stagePos = 0;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Callers of {@link written} waiting for a flush, and those of them
   * whose frames the write in flight carries.
   */
  #writtenWaiters: (() => void)[] = [];
  #flightWaiters: (() => void)[] = [];
  readonly #flushBound = () => this.#flush();
  readonly #lazyFlushBound = () => {
    this.#lazyTimer = undefined;
    if (!this.#scheduled && !this.#writing && this.#queued()) this.#flush();
  };

  /**
   * `onDrained` runs after each socket write (room for data that waited);
   * `onError` when a write fails, after which the socket is closed.
   */
  constructor(
    private readonly conn: WritableConn,
    private readonly onDrained: () => void,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Bytes queued and not yet handed to the socket. */
  get backlog(): number {
    return this.#outBytes;
  }

  /**
   * Settles once the socket is closed: after {@link end}, when what was
   * queued has been written or the grace period ran out.
   */
  get closed(): Promise<void> {
    return this.#closedSignal.promise;
  }

  /** Control frames queued or being written (see {@link control}). */
  get controlBacklog(): number {
    return this.#outControl + this.#flightControl;
  }

  /**
   * Queues a frame. The payload is referenced, not copied: callers hand
   * over buffers they no longer change (encoded messages, constant header
   * blocks), and the flush copies everything once into the socket write.
   */
  frame(type: number, flags: number, id: number, payload: Uint8Array): void {
    const len = payload.length;
    if (len > SMALL_FRAME) return this.#frameLarge(type, flags, id, payload);
    this.#stageFrame(type, flags, id, payload, 0, len);
  }

  /**
   * Queues a frame whose payload is `b[start, end)`, copied: a caller may
   * change or reuse `b` as soon as this returns (a small payload is staged
   * without any array made for it).
   */
  frameAt(
    type: number,
    flags: number,
    id: number,
    b: Uint8Array,
    start: number,
    end: number,
  ): void {
    if (end - start > SMALL_FRAME) return this.#frameLarge(type, flags, id, b.slice(start, end));
    this.#stageFrame(type, flags, id, b, start, end);
  }

  /** Copies a small frame, header and payload `b[start, end)`, into the staging buffer. */
  #stageFrame(type: number, flags: number, id: number, b: Uint8Array, start: number, end: number) {
    if (this.#ending && !this.#writing && !this.#queued()) return;
    const len = end - start;
    const need = FRAME_HEADER_SIZE + len;
    let stage = this.#stage;
    if (stage === undefined || this.#stagePos + need > stage.length) {
      this.#seal();
      this.#stage = stage = new Uint8Array(STAGE_SIZE);
      this.#stageStart = this.#stagePos = 0;
    }
    writeFrameHeader(stage, this.#stagePos, len, type, flags, id);
    const at = this.#stagePos + FRAME_HEADER_SIZE;
    if (start === 0 && end === b.length) {
      if (len > 0) stage.set(b, at);
    } else {
      // A loop, not set(subarray): no view made per frame.
      for (let i = 0; i < len; i++) stage[at + i] = b[start + i];
    }
    this.#stagePos += need;
    this.#outBytes += need;
    this.#schedule();
  }

  #frameLarge(type: number, flags: number, id: number, payload: Uint8Array): void {
    const header = new Uint8Array(FRAME_HEADER_SIZE);
    writeFrameHeader(header, 0, payload.length, type, flags, id);
    this.send(header);
    if (payload.length > 0) this.send(payload);
  }

  /**
   * Resolves once every frame queued so far has been handed to the socket
   * (or dropped with a failed or closed one): from then on the writer holds
   * no reference to their payloads, so a producer may reuse the buffer it
   * queued instead of allocating a fresh one per message (a busy watch
   * stream sends hundreds of MiB a second, and fresh memory costs more
   * than the copy into it).
   */
  written(): Promise<void> {
    if (this.#socketClosed || (!this.#writing && !this.#queued())) return Promise.resolve();
    return new Promise((resolve) => this.#writtenWaiters.push(resolve));
  }

  #settle(waiters: (() => void)[]): void {
    for (let i = 0; i < waiters.length; i++) waiters[i]();
  }

  /** Queues bytes; everything queued before the flush runs goes out in one write. */
  send(bytes: Uint8Array): void {
    if (this.#ending && !this.#writing && !this.#queued()) return;
    this.#seal();
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      // A microtask, not setImmediate: the write is handed to the runtime as
      // soon as the current work ends (a put's reply, a follower's ack), not
      // after every other callback of this loop turn, and no Immediate
      // object is made per flush. Frames queued while a write is in flight
      // still go together in the next one.
      queueMicrotask(this.#flushBound);
    }
  }

  /** Whether any frame waits to be written. */
  #queued(): boolean {
    return this.#out.length > 0 || this.#stagePos > this.#stageStart;
  }

  /** Moves the staged frames into `#out` (as one view), keeping the order of frames. */
  #seal(): void {
    if (this.#stagePos === this.#stageStart) return;
    this.#out.push(this.#stage!.subarray(this.#stageStart, this.#stagePos));
    this.#stageStart = this.#stagePos;
  }

  /** Queues a whole control frame, counted in {@link controlBacklog}. */
  control(bytes: Uint8Array): void {
    if (this.#ending && !this.#writing && !this.#queued()) return;
    this.#outControl++;
    this.send(bytes);
  }

  /**
   * Queues a control frame that may wait up to `maxDelayMs` for company:
   * it leaves with the next write, or on its own once that long has passed.
   * For answers nobody waits on urgently (a PING ACK), so they do not cost
   * a socket write, and the peer a wake-up, of their own.
   */
  controlLazy(bytes: Uint8Array, maxDelayMs: number): void {
    if (this.#ending) return this.control(bytes);
    this.#outControl++;
    this.#seal();
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (!this.#scheduled && !this.#writing && this.#lazyTimer === undefined) {
      this.#lazyTimer = setTimeout(this.#lazyFlushBound, maxDelayMs);
    }
  }

  /**
   * Drops every frame queued and not yet being written (whole frames: a
   * write takes all of the queue at once). For a connection that ends
   * because its peer does not read: its GOAWAY should not wait behind them.
   */
  discardQueued(): void {
    this.#out = [];
    this.#stageStart = this.#stagePos;
    this.#outBytes = 0;
    this.#outControl = 0;
    const dropped = this.#writtenWaiters;
    this.#writtenWaiters = [];
    this.#settle(dropped);
  }

  /**
   * Writes what is queued, then closes the socket; after `graceMs` the
   * socket is closed even if the peer has not taken everything.
   *
   * With `linger` the socket stays open after the last write until
   * {@link destroy} (the owner saw the peer close) or the grace period:
   * closing a socket with unread input makes the kernel reset the
   * connection and drop what it had not yet delivered, so a peer that
   * was not reading (the ones sent away for it) would never see the GOAWAY
   * it was sent. The owner keeps reading, and discards, meanwhile.
   */
  end(linger = false, graceMs = CLOSE_GRACE_MS): void {
    if (this.#ending) return;
    this.#ending = true;
    this.#lingering = linger;
    if (!this.#writing && !this.#queued() && !linger) return this.#closeSocket();
    this.#graceTimer = setTimeout(() => this.#closeSocket(), graceMs);
    if (this.#queued()) this.#flush();
    else if (!this.#writing) this.#halfClose();
  }

  /** Closes the socket now, whatever is queued (the peer is gone). */
  destroy(): void {
    this.#ending = true;
    this.discardQueued();
    this.#closeSocket();
  }

  #closeSocket(): void {
    clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    clearTimeout(this.#graceTimer);
    this.#graceTimer = undefined;
    if (this.#socketClosed) return;
    this.#socketClosed = true;
    const dropped = this.#writtenWaiters;
    this.#writtenWaiters = [];
    this.#settle(dropped);
    try {
      this.conn.close();
    } catch { /* already closed */ }
    this.#closedSignal.resolve();
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#queued()) {
        this.#seal();
        const parts = this.#out;
        const bytes = this.#outBytes;
        this.#out = [];
        this.#outBytes = 0;
        this.#flightControl = this.#outControl;
        this.#outControl = 0;
        // Frames of every waiter so far are in `parts` or were written before.
        this.#flightWaiters = this.#writtenWaiters;
        this.#writtenWaiters = [];
        await this.#writeParts(parts, bytes);
        this.#flightControl = 0;
        const done = this.#flightWaiters;
        this.#flightWaiters = [];
        this.#settle(done);
        if (!this.#ending) this.onDrained();
      }
    } catch (err) {
      this.discardQueued();
      this.#flightControl = 0;
      this.#writing = false;
      this.#settle(this.#flightWaiters);
      this.#flightWaiters = [];
      this.#ending = true;
      this.onError(err as Error);
      this.#closeSocket();
      return;
    }
    this.#writing = false;
    // Nothing left queued: whoever asked during the last write is written too.
    const late = this.#writtenWaiters;
    this.#writtenWaiters = [];
    this.#settle(late);
    if (!this.#ending) return;
    if (this.#lingering) this.#halfClose();
    else this.#closeSocket();
  }

  /** Lingering: FIN after the last frame, so the peer sees the end once it has read them. */
  #halfClose(): void {
    try {
      Promise.resolve(this.conn.closeWrite?.()).catch(() => {});
    } catch { /* closed meanwhile */ }
  }

  /** Writes `parts` in as few syscalls as possible. */
  async #writeParts(parts: Uint8Array[], bytes: number): Promise<void> {
    if (parts.length === 1) return await this.#writeAll(parts[0]);
    const want = Math.min(bytes, WRITE_BUFFER);
    if (this.#buf === undefined || this.#buf.length < want) {
      const size = Math.max(want, 2 * (this.#buf?.length ?? 0), MIN_WRITE_BUFFER);
      this.#buf = new Uint8Array(Math.min(size, WRITE_BUFFER));
    }
    const buf = this.#buf;
    let fill = 0;
    // An indexed loop: an iterator would be one more object kept across awaits.
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (fill + p.length > buf.length && fill > 0) {
        await this.#writeAll(buf.subarray(0, fill));
        fill = 0;
      }
      if (p.length > buf.length) {
        await this.#writeAll(p);
        continue;
      }
      buf.set(p, fill);
      fill += p.length;
    }
    if (fill > 0) await this.#writeAll(buf.subarray(0, fill));
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await this.conn.write(bytes.subarray(written));
  }
}
