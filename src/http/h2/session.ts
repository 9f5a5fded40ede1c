/**
 * What both ends of cairn's HTTP/2 share (RFC 9113): the frame handling
 * that does not depend on who opened the streams, flow control in both
 * directions, and the limits of limits.ts. The server (connection.ts) and
 * the client (client.ts) are subclasses that add what differs: who opens
 * streams, what a request or response is, how a connection is given up.
 *
 * Flow control, receiving: every DATA frame is checked against the
 * windows we announced (FLOW_CONTROL_ERROR past them). Bytes come back to
 * the peer as window only when the stream's owner consumed them, and (on
 * the server) not while that stream has answers waiting for the peer's
 * window or the socket is not taking what we write: window updates are
 * backpressure, not an echo. So a peer can make us hold, or make our
 * handlers work on without reading the answers, at most a stream window
 * per stream and a connection window per connection.
 *
 * Flow control, sending: each stream's queued body leaves as the peer's
 * windows, its frame size and our socket allow.
 *
 * Nothing here allocates per frame beyond what the frame's meaning needs;
 * the limits are counters checked where they change.
 *
 * @module
 */
import {
  ConnectionError,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  frame,
  FRAME_HEADER_SIZE,
  FrameType,
  frameU32,
  goawayFrame,
  LimitError,
  MAX_WINDOW,
  Setting,
  settingsFrame,
  unpad,
  writeFrameHeader,
} from "./frames.ts";
import type { HeaderField } from "./hpack.ts";
import {
  MAX_CONTINUATION_FRAMES,
  MAX_HEADER_BLOCK,
  MAX_HEADER_LIST_SIZE,
  MAX_QUEUED_CONTROL_FRAMES,
  MAX_RESETS_PER_SECOND,
  SETTINGS_ACK_TIMEOUT_MS,
} from "./limits.ts";
import { FrameReader, readLoop, readSettings, readU32, readWindowIncrement } from "./reader.ts";
import { FrameWriter } from "./writer.ts";

/** The byte stream a session runs on (a `Deno.Conn` fits). */
export interface ByteConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  /** Half-closes: FIN after what was written, reading goes on (when the socket can). */
  closeWrite?(): void | Promise<void>;
}

/** A queued piece of a stream's outgoing body, or the trailers that end it. */
export interface Outgoing {
  data?: Uint8Array;
  /** Sent at `data`'s offset onwards. */
  offset: number;
  trailers?: Uint8Array;
  end: boolean;
  done?: () => void;
}

/** The flow-control state of one stream, kept by its session. */
export class FlowStream {
  /** Bytes we may still send on this stream (the peer's window). */
  sendWindow: number;
  /** Bytes the peer may still send on this stream (our window). */
  recvWindow: number;
  /** Received bytes handed to the stream's owner and not consumed yet. */
  held = 0;
  /** Consumed bytes not yet returned with a stream WINDOW_UPDATE. */
  unacked = 0;
  /** Consumed bytes held back from the peer while the stream's answers pile up. */
  withheld = 0;
  /** Body pieces (and trailers) waiting for window. */
  readonly queue: Outgoing[] = [];
  /** Body bytes in `queue` not yet framed. */
  queuedBytes = 0;

  constructor(
    /** The stream id. */
    readonly id: number,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }
}

/** Settings and limits of a session; see limits.ts for the defaults' reasons. */
export interface SessionOptions {
  /** Receive window per stream we announce (bytes). */
  streamWindow: number;
  /** Receive window of the whole connection (bytes). */
  connectionWindow: number;
  /** Largest decoded header list we accept, announced in SETTINGS. */
  maxHeaderListSize?: number;
  /** Largest encoded header block (bytes). */
  maxHeaderBlock?: number;
  /** How long the peer has to ACK our SETTINGS. */
  settingsAckTimeoutMs?: number;
  /**
   * Whether consumed bytes of a stream whose answers cannot leave (its
   * queue waits for window or for the socket) are held back: the server's
   * backpressure on a peer that asks without reading.
   */
  holdWhileBlocked: boolean;
  /** Unwritten bytes past which streams wait for the socket and no window is returned. */
  outHighWater: number;
  /** Settings announced besides ENABLE_PUSH, INITIAL_WINDOW_SIZE, MAX_HEADER_LIST_SIZE. */
  extraSettings?: ReadonlyArray<readonly [number, number]>;
}

/** The SETTINGS acknowledgement: the same bytes every time (the writer never changes them). */
const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);
const EMPTY = new Uint8Array(0);

/** One HTTP/2 connection's shared machinery; see the module comment. */
export abstract class H2Session<S extends FlowStream> {
  protected readonly conn: ByteConn;
  protected readonly writer: FrameWriter;
  protected readonly reader: FrameReader;
  /** Open streams by id. */
  protected readonly streams = new Map<number, S>();
  protected isClosed = false;
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE: the send window of each new stream. */
  protected peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME;
  readonly #streamWindow: number;
  readonly #connWindow: number;
  readonly #maxHeaderListSize: number;
  readonly #settingsAckTimeoutMs: number;
  readonly #holdWhileBlocked: boolean;
  readonly #outHighWater: number;
  readonly #extraSettings: ReadonlyArray<readonly [number, number]>;
  #connSendWindow = DEFAULT_WINDOW;
  /** Bytes the peer may still send on the connection. */
  #connRecvWindow: number;
  /** Connection bytes freed and not yet returned with WINDOW_UPDATE. */
  #connUnacked = 0;
  /** Streams with data waiting for connection window. */
  readonly #blocked = new Set<S>();
  /** Streams holding data until the socket drains. */
  readonly #waitingForSocket = new Set<S>();
  /** Streams with consumed bytes held back (see FlowStream.withheld). */
  readonly #withheld = new Set<S>();
  #settingsAcked = false;
  #settingsTimer: ReturnType<typeof setTimeout> | undefined;
  #resetWindowStart = -Infinity;
  #resets = 0;

  constructor(conn: ByteConn, opts: SessionOptions) {
    this.conn = conn;
    this.#streamWindow = opts.streamWindow;
    this.#connWindow = Math.max(opts.connectionWindow, DEFAULT_WINDOW);
    this.#connRecvWindow = this.#connWindow;
    this.#maxHeaderListSize = opts.maxHeaderListSize ?? MAX_HEADER_LIST_SIZE;
    this.#settingsAckTimeoutMs = opts.settingsAckTimeoutMs ?? SETTINGS_ACK_TIMEOUT_MS;
    this.#holdWhileBlocked = opts.holdWhileBlocked;
    this.#outHighWater = opts.outHighWater;
    this.#extraSettings = opts.extraSettings ?? [];
    this.writer = new FrameWriter(conn, () => this.#drained(), (err) => this.writeFailed(err));
    this.reader = new FrameReader({
      frame: (type, flags, id, b, start, end) => this.#frame(type, flags, id, b, start, end),
      headers: (id, flags, fields) => this.onHeaders(id, flags, fields),
      isClosed: () => this.isClosed,
    }, {
      maxHeaderBlock: opts.maxHeaderBlock ?? MAX_HEADER_BLOCK,
      maxHeaderListSize: this.#maxHeaderListSize,
      maxContinuations: MAX_CONTINUATION_FRAMES,
    });
  }

  // --- what the two ends do differently ---

  /** A complete header block; `fields` undefined when over the header list limit. */
  protected abstract onHeaders(id: number, flags: number, fields: HeaderField[] | undefined): void;
  /** DATA for an open stream, already counted against the windows (`held` includes it). */
  protected abstract onData(s: S, b: Uint8Array, start: number, end: number, last: boolean): void;
  /** DATA for a stream we do not know: throw if that is a protocol error. */
  protected abstract onUnknownData(id: number): void;
  /** The peer reset an open stream. */
  protected abstract onPeerReset(s: S, code: number): void;
  /** The peer sent GOAWAY. */
  protected abstract onGoaway(lastStreamId: number, code: number): void;
  /** A PING (not an ACK) arrived; its payload is b[start, start + 8). */
  protected abstract onPing(b: Uint8Array, start: number): void;
  /** A PING ACK arrived; its payload is b[start, start + 8). */
  protected abstract onPingAck(b: Uint8Array, start: number): void;
  /** Ends an open stream with RST_STREAM `code` (a stream error we found). */
  protected abstract streamError(s: S, code: number, why: string): void;
  /** True while the peer may still send on `s`. */
  protected abstract receiving(s: S): boolean;
  /** Everything queued on `s` went out. */
  protected abstract onQueueDrained(s: S): void;
  /** The highest stream id of the peer's we processed (for our GOAWAY). */
  protected abstract lastPeerStreamId(): number;
  /** Gives the connection up after our GOAWAY was queued. */
  protected abstract closeAfterGoaway(reason: string): void;
  /** A connection error or a limit crossed, for the log. */
  protected abstract report(err: Error): void;
  /** A socket write failed. */
  protected abstract writeFailed(err: Error): void;
  /** A HEADERS, CONTINUATION or DATA frame of a stream is being sent. */
  protected wroteStreamFrame(): void {}
  /** A socket write finished and the session did its own catching up. */
  protected onDrained(): void {}

  // --- starting and reading ---

  /** Sends our SETTINGS and connection window, and starts waiting for the ACK. */
  protected sendPreamble(): void {
    const settings: Array<readonly [number, number]> = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, this.#maxHeaderListSize],
      ...this.#extraSettings,
    ];
    this.writer.send(settingsFrame(settings));
    if (this.#connWindow > DEFAULT_WINDOW) {
      this.writer.send(frameU32(FrameType.WINDOW_UPDATE, 0, this.#connWindow - DEFAULT_WINDOW));
    }
    this.#settingsTimer = setTimeout(() => {
      this.fail(
        new LimitError(
          ErrorCode.SETTINGS_TIMEOUT,
          `SETTINGS not acknowledged within ${this.#settingsAckTimeoutMs} ms`,
        ),
      );
    }, this.#settingsAckTimeoutMs);
  }

  /**
   * Reads frames until the connection ends. `preface` is checked first
   * (the server's view of a client); `initial` holds bytes already read.
   * Connection errors end the connection with GOAWAY; other errors are
   * returned for the caller to report.
   */
  protected async readFrames(
    initial: Uint8Array,
    preface: Uint8Array | undefined,
    onRead?: () => void,
  ): Promise<unknown> {
    let awaitPreface = preface !== undefined;
    let firstFrameChecked = preface === undefined;
    try {
      // Reading goes on after the session closed, discarding, until the
      // socket closes: see FrameWriter.end (linger).
      await readLoop(this.conn, initial, (buf, len) => {
        if (this.isClosed) return len;
        onRead?.();
        let off = 0;
        if (awaitPreface) {
          const p = preface!;
          if (len < p.length) return 0;
          for (let i = 0; i < p.length; i++) {
            if (buf[i] !== p[i]) {
              throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "bad connection preface");
            }
          }
          awaitPreface = false;
          off = p.length;
        }
        if (!firstFrameChecked && len - off >= FRAME_HEADER_SIZE) {
          // The preface goes on with a SETTINGS frame (RFC 9113 §3.4).
          if (buf[off + 3] !== FrameType.SETTINGS) {
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "preface without SETTINGS");
          }
          firstFrameChecked = true;
        }
        return this.reader.parse(buf, off, len);
      }, () => false);
    } catch (err) {
      if (err instanceof ConnectionError) {
        this.fail(err);
        return await this.readFrames(EMPTY, undefined);
      }
      if (!this.isClosed) return err;
    }
    return undefined;
  }

  /**
   * Ends the connection for `err`: a log line, GOAWAY with its code, then
   * the close. `discard` drops what was queued first, for a peer that does
   * not read: its backlog would only hold the GOAWAY back.
   */
  protected fail(err: ConnectionError, discard = false): void {
    if (this.isClosed) return;
    this.report(err);
    if (discard) this.writer.discardQueued();
    this.writer.send(goawayFrame(this.lastPeerStreamId(), err.code, err.message));
    this.closeAfterGoaway(err.message);
  }

  /** Common part of closing: stops timers and forgets waiting streams. */
  protected markClosed(): void {
    this.isClosed = true;
    clearTimeout(this.#settingsTimer);
    this.#blocked.clear();
    this.#waitingForSocket.clear();
    this.#withheld.clear();
  }

  /** The receive window a stream opened now starts with. */
  protected initialRecvWindow(): number {
    // Until the peer ACKs our SETTINGS it may assume the default window.
    return this.#settingsAcked ? this.#streamWindow : Math.max(this.#streamWindow, DEFAULT_WINDOW);
  }

  /**
   * Counts a stream reset the peer sent or provoked; past
   * MAX_RESETS_PER_SECOND in one second the connection ends (rapid reset).
   * Throws, so call it only while frames are being handled.
   */
  protected countReset(): void {
    const now = performance.now();
    if (now - this.#resetWindowStart >= 1000) {
      this.#resetWindowStart = now;
      this.#resets = 0;
    }
    if (++this.#resets > MAX_RESETS_PER_SECOND) {
      throw new LimitError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `more than ${MAX_RESETS_PER_SECOND} stream resets in a second`,
      );
    }
  }

  /** Queues a control frame; too many unwritten ends the connection (the peer is not reading). */
  protected control(bytes: Uint8Array): void {
    this.writer.control(bytes);
    if (this.writer.controlBacklog > MAX_QUEUED_CONTROL_FRAMES) this.#tooManyControlFrames();
  }

  /** Like {@link control}, but may wait up to `maxDelayMs` for other frames to travel with. */
  protected controlLazy(bytes: Uint8Array, maxDelayMs: number): void {
    this.writer.controlLazy(bytes, maxDelayMs);
    if (this.writer.controlBacklog > MAX_QUEUED_CONTROL_FRAMES) this.#tooManyControlFrames();
  }

  #tooManyControlFrames(): void {
    this.fail(
      new LimitError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `more than ${MAX_QUEUED_CONTROL_FRAMES} control frames queued: the peer is not reading`,
      ),
      true,
    );
  }

  /** A PING ACK carrying the 8 bytes at b[start]. */
  protected pingAck(b: Uint8Array, start: number): Uint8Array {
    const ack = new Uint8Array(FRAME_HEADER_SIZE + 8);
    writeFrameHeader(ack, 0, 8, FrameType.PING, Flag.ACK, 0);
    for (let i = 0; i < 8; i++) ack[FRAME_HEADER_SIZE + i] = b[start + i];
    return ack;
  }

  #frame(type: number, flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, id, b, start, end);
      case FrameType.PRIORITY:
        if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
        return; // priorities are not used (RFC 9113 §5.3.2)
      case FrameType.RST_STREAM:
        return this.#onReset(id, b, start, end);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, id, b, start, end);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE though push is off");
      case FrameType.PING:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
        if (end - start !== 8) {
          throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING length");
        }
        if (flags & Flag.ACK) this.onPingAck(b, start);
        else this.onPing(b, start);
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
        if (end - start < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY");
        return this.onGoaway(readU32(b, start) & 0x7fffffff, readU32(b, start + 4));
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, b, start, end);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  #onData(flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    const flowLen = end - start;
    if (flowLen > this.#connRecvWindow) {
      throw new LimitError(
        ErrorCode.FLOW_CONTROL_ERROR,
        `DATA of ${flowLen} bytes beyond the connection window (${this.#connRecvWindow})`,
      );
    }
    this.#connRecvWindow -= flowLen;
    if (flags & Flag.PADDED) [start, end] = unpad(flags, b, start, end);
    const s = this.streams.get(id);
    if (s === undefined) {
      this.onUnknownData(id);
      return this.#returnConnection(flowLen);
    }
    if (flowLen > s.recvWindow) {
      throw new LimitError(
        ErrorCode.FLOW_CONTROL_ERROR,
        `DATA of ${flowLen} bytes beyond the window of stream ${id} (${s.recvWindow})`,
      );
    }
    s.recvWindow -= flowLen;
    s.held += flowLen;
    // Padding counts against the windows but is never delivered.
    const padding = flowLen - (end - start);
    if (padding > 0) this.consume(s, padding);
    this.onData(s, b, start, end, (flags & Flag.END_STREAM) !== 0);
  }

  #onReset(id: number, b: Uint8Array, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (end - start !== 4) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length");
    }
    this.countReset();
    const s = this.streams.get(id);
    if (s !== undefined) this.onPeerReset(s, readU32(b, start));
  }

  #onSettings(flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    const settings = readSettings(flags, id, b, start, end);
    if (settings === undefined) return this.#settingsAck();
    if (settings.initialWindow !== undefined) {
      const delta = settings.initialWindow - this.peerInitialWindow;
      this.peerInitialWindow = settings.initialWindow;
      if (delta !== 0) {
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) {
            throw new ConnectionError(
              ErrorCode.FLOW_CONTROL_ERROR,
              `INITIAL_WINDOW_SIZE takes the window of stream ${s.id} past 2^31-1`,
            );
          }
        }
        if (delta > 0) { for (const s of [...this.streams.values()]) this.pump(s); }
      }
    }
    if (settings.maxFrame !== undefined) this.#peerMaxFrame = settings.maxFrame;
    this.control(SETTINGS_ACK);
  }

  #settingsAck(): void {
    if (this.#settingsAcked) return;
    this.#settingsAcked = true;
    clearTimeout(this.#settingsTimer);
    this.#settingsTimer = undefined;
    // Our INITIAL_WINDOW_SIZE applies from now on; streams opened before
    // were allowed the default window.
    const cut = DEFAULT_WINDOW - this.#streamWindow;
    if (cut > 0) { for (const s of this.streams.values()) s.recvWindow -= cut; }
  }

  #onWindowUpdate(id: number, b: Uint8Array, start: number, end: number): void {
    const inc = readWindowIncrement(b, start, end);
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "zero WINDOW_UPDATE");
      this.#connSendWindow += inc;
      if (this.#connSendWindow > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      if (this.#blocked.size > 0) {
        const waiting = [...this.#blocked];
        this.#blocked.clear();
        for (const s of waiting) this.pump(s);
      }
      return;
    }
    const s = this.streams.get(id);
    if (s === undefined) return;
    if (inc === 0) {
      this.countReset();
      return this.streamError(s, ErrorCode.PROTOCOL_ERROR, "zero WINDOW_UPDATE");
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      this.countReset();
      return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow");
    }
    this.pump(s);
  }

  // --- receive windows ---

  /**
   * The owner of `s` consumed `n` received bytes: they go back to the peer
   * as window, unless the stream's answers pile up or the socket is full
   * (then they wait in `withheld` until that clears).
   */
  consume(s: S, n: number): void {
    if (n > s.held) n = s.held;
    if (n <= 0) return;
    s.held -= n;
    if (this.#backpressured(s)) {
      s.withheld += n;
      this.#withheld.add(s);
      return;
    }
    this.#credit(s, n);
  }

  /**
   * True while `s` has answers that cannot leave: what remains queued after
   * a pump waits for the peer's window or for the socket. A peer reading
   * its answers never sees this for long; one that does not read stops
   * getting window, as Go's server stops reading a stream whose handler
   * is blocked sending.
   */
  #backpressured(s: S): boolean {
    return this.#holdWhileBlocked &&
      (s.queue.length > 0 || this.writer.backlog >= this.#outHighWater);
  }

  /** Whether `s`'s answers cannot leave now (the server holds its input back meanwhile). */
  protected answersBlocked(s: S): boolean {
    return this.#backpressured(s);
  }

  #credit(s: S, n: number): void {
    if (this.receiving(s)) {
      s.unacked += n;
      if (s.unacked >= this.#streamWindow / 2) {
        this.control(frameU32(FrameType.WINDOW_UPDATE, s.id, s.unacked));
        s.recvWindow += s.unacked;
        s.unacked = 0;
      }
    }
    this.#returnConnection(n);
  }

  #returnConnection(n: number): void {
    this.#connUnacked += n;
    if (this.#connUnacked >= this.#connWindow / 2 && !this.isClosed) {
      this.control(frameU32(FrameType.WINDOW_UPDATE, 0, this.#connUnacked));
      this.#connRecvWindow += this.#connUnacked;
      this.#connUnacked = 0;
    }
  }

  #release(s: S): void {
    if (s.withheld === 0 || this.#backpressured(s)) return;
    const n = s.withheld;
    s.withheld = 0;
    this.#withheld.delete(s);
    this.#credit(s, n);
  }

  /**
   * Removes `s` from the session. What it held of the connection window
   * goes back to the peer: nothing more arrives for it.
   */
  protected dropStream(s: S): boolean {
    if (!this.streams.delete(s.id)) return false;
    this.#blocked.delete(s);
    this.#waitingForSocket.delete(s);
    const freed = s.held + s.withheld;
    s.held = 0;
    s.withheld = 0;
    s.unacked = 0;
    if (freed > 0) {
      this.#withheld.delete(s);
      this.#returnConnection(freed);
    }
    return true;
  }

  // --- sending ---

  /** Sends a header block on stream `id`, continued over CONTINUATION frames when long. */
  protected sendHeaderBlock(id: number, block: Uint8Array, endStream: boolean): void {
    if (this.isClosed) return;
    const max = this.#peerMaxFrame;
    let flags = endStream ? Flag.END_STREAM : 0;
    this.wroteStreamFrame();
    if (block.length <= max) {
      this.writer.frame(FrameType.HEADERS, flags | Flag.END_HEADERS, id, block);
      return;
    }
    let type: number = FrameType.HEADERS;
    for (let off = 0; off < block.length; off += max) {
      if (off + max >= block.length) flags |= Flag.END_HEADERS;
      this.writer.frame(type, flags, id, block.subarray(off, Math.min(off + max, block.length)));
      type = FrameType.CONTINUATION;
      flags = 0;
    }
  }

  /** Frames as much of `s`'s queue as the windows and the socket allow. */
  pump(s: S): void {
    if (this.isClosed) return;
    const drained = this.#pumpQueue(s);
    if (s.withheld > 0) this.#release(s);
    if (drained) this.onQueueDrained(s);
  }

  #pumpQueue(s: S): boolean {
    const q = s.queue;
    while (q.length > 0) {
      const item = q[0];
      if (item.trailers) {
        this.sendHeaderBlock(s.id, item.trailers, true);
        q.shift();
        continue;
      }
      const data = item.data!;
      const remaining = data.length - item.offset;
      if (remaining === 0) {
        if (item.end) this.#dataFrame(Flag.END_STREAM, s.id, EMPTY);
        q.shift();
        item.done?.();
        continue;
      }
      if (this.writer.backlog >= this.#outHighWater) {
        this.#waitingForSocket.add(s);
        return false;
      }
      const n = Math.min(remaining, s.sendWindow, this.#connSendWindow, this.#peerMaxFrame);
      if (n <= 0) {
        if (this.#connSendWindow <= 0) this.#blocked.add(s);
        return false;
      }
      const last = n === remaining;
      this.#dataFrame(
        last && item.end ? Flag.END_STREAM : 0,
        s.id,
        // The whole piece in one frame (a unary response): no view to make.
        n === data.length ? data : data.subarray(item.offset, item.offset + n),
      );
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      s.queuedBytes -= n;
      item.offset += n;
      if (last) {
        q.shift();
        item.done?.();
      }
    }
    return true;
  }

  /**
   * Frames all of `data` on `s` at once, as {@link pump} would frame it
   * once queued, when nothing of `s` waits before it and the windows, the
   * frame size and the socket take it whole (a unary response's message);
   * false, having sent nothing, otherwise. Saves the queue entry (and the
   * queue's first backing store) a response would make and drop at once.
   * Call {@link pump} after it either way, as after queueing.
   */
  sendNow(s: S, data: Uint8Array, end: boolean): boolean {
    return this.#sendNow(s, data, 0, data.length, end, false);
  }

  /**
   * {@link sendNow} of `b[start, end)`, copied when sent: `b` may be
   * reused once this returns, whatever it returns.
   */
  sendNowAt(s: S, b: Uint8Array, start: number, end: number, last: boolean): boolean {
    return this.#sendNow(s, b, start, end, last, true);
  }

  #sendNow(
    s: S,
    data: Uint8Array,
    start: number,
    stop: number,
    end: boolean,
    copy: boolean,
  ): boolean {
    const n = stop - start;
    if (
      this.isClosed || n === 0 || s.queue.length > 0 || n > s.sendWindow ||
      n > this.#connSendWindow || n > this.#peerMaxFrame ||
      this.writer.backlog >= this.#outHighWater
    ) {
      return false;
    }
    if (copy) {
      this.wroteStreamFrame();
      this.writer.frameAt(FrameType.DATA, end ? Flag.END_STREAM : 0, s.id, data, start, stop);
    } else this.#dataFrame(end ? Flag.END_STREAM : 0, s.id, data);
    s.sendWindow -= n;
    this.#connSendWindow -= n;
    return true;
  }

  #dataFrame(flags: number, id: number, payload: Uint8Array): void {
    this.wroteStreamFrame();
    this.writer.frame(FrameType.DATA, flags, id, payload);
  }

  /** A socket write finished: streams that waited for it may go on. */
  #drained(): void {
    if (this.isClosed) return;
    if (this.#waitingForSocket.size > 0) {
      const waiting = [...this.#waitingForSocket];
      this.#waitingForSocket.clear();
      for (const s of waiting) this.pump(s);
    }
    if (this.#withheld.size > 0 && this.writer.backlog < this.#outHighWater) {
      for (const s of [...this.#withheld]) this.#release(s);
    }
    this.onDrained();
  }
}
