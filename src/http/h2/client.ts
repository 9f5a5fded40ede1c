/**
 * The client side of HTTP/2 (RFC 9113) on a byte stream, for the peer port:
 * requests with streamed bodies in both directions, PING, RST_STREAM and
 * GOAWAY. Frame handling, flow control and limits are the ones the server
 * uses ({@link H2Session} in session.ts), and so are HPACK and the
 * gathering writer: a Raft batch queued in one turn leaves in one socket
 * write whatever its size.
 *
 * Written here rather than taken from `node:http2` because Deno's client
 * there cost most of a busy leader's transport time (16 KiB DATA frames
 * each written on their own through several stream layers) and can crash
 * its process when a server sends GOAWAY; no npm package offers an HTTP/2
 * client on raw sockets.
 *
 * ```ts
 * const c = await H2ClientConnection.connect("127.0.0.1", 2380);
 * const s = c.request([[":method", "POST"], [":path", "/raft/stream"]], false);
 * s.listener = { response: (status) => console.log(status) };
 * s.write(bytes);
 * ```
 *
 * @module
 */
import {
  CLIENT_PREFACE,
  ErrorCode,
  Flag,
  frame,
  FrameType,
  frameU32,
  LimitError,
} from "./frames.ts";
import { encodeHeaders, type HeaderField } from "./hpack.ts";
import { type ByteConn, FlowStream, H2Session } from "./session.ts";

/** What a request's owner hears; set the listener right after `request`. */
export interface ClientStreamListener {
  /** The response header block arrived (`:status` parsed out). */
  response?(status: number, fields: HeaderField[]): void;
  /** Response body bytes (the window is returned automatically). */
  data?(chunk: Uint8Array): void;
  /** The response ended (END_STREAM, possibly with trailers). */
  end?(trailers: HeaderField[] | undefined): void;
  /** The stream was reset, refused or its connection lost before it ended. */
  abort?(reason: string): void;
  /** Queued request bytes fell below the high-water mark after `write` said false. */
  drain?(): void;
}

/** Options for {@link H2ClientConnection}. */
export interface H2ClientOptions {
  /** Receive window per stream we announce (bytes). Default 1 MiB. */
  streamWindow?: number;
  /** Receive window of the whole connection (bytes). Default 16 MiB. */
  connectionWindow?: number;
  /** Request bytes a stream may queue before `write` answers false. Default 1 MiB. */
  highWater?: number;
  /** The connection ended (socket closed, protocol error or GOAWAY); called once. */
  onClose?(reason: string): void;
  /** A limit crossed or a connection error, for logging (onClose follows if it ends it). */
  onError?(err: Error): void;
}

/** One request and its response (its flow-control state is the {@link FlowStream} part). */
export class H2ClientStream extends FlowStream {
  /** Owner's callbacks. */
  listener: ClientStreamListener = {};
  /** END_STREAM requested by the owner (sent after the queue). */
  ending = false;
  localEnded = false;
  remoteEnded = false;
  gotHeaders = false;
  done = false;
  wantsDrain = false;

  constructor(
    id: number,
    initialSendWindow: number,
    initialRecvWindow: number,
    private readonly conn: H2ClientConnection,
  ) {
    super(id, initialSendWindow, initialRecvWindow);
  }

  /**
   * Queues request body bytes (referenced, not copied). False when the
   * stream holds more than the high-water mark: wait for `drain`.
   */
  write(data: Uint8Array): boolean {
    return this.conn.writeStream(this, data, false);
  }

  /** Ends the request, after `data` if given. */
  end(data?: Uint8Array): void {
    this.conn.writeStream(this, data ?? EMPTY, true);
  }

  /** Abandons the exchange with RST_STREAM (no further callbacks). */
  reset(code: number = ErrorCode.CANCEL): void {
    this.conn.resetStream(this, code);
  }
}

const EMPTY = new Uint8Array(0);

/** A client HTTP/2 connection. */
export class H2ClientConnection extends H2Session<H2ClientStream> {
  readonly #opts: H2ClientOptions;
  readonly #highWater: number;
  #nextId = 1;
  readonly #pings: Array<{ payload: Uint8Array; resolve: () => void; reject: (e: Error) => void }> =
    [];
  #pingSeq = 0;
  #goaway = false;
  #goawayReason = "server sent GOAWAY";

  /** Wraps an open byte stream; call {@link start} (or use {@link connect}). */
  constructor(conn: ByteConn, opts: H2ClientOptions = {}) {
    super(conn, {
      streamWindow: opts.streamWindow ?? 1 << 20,
      connectionWindow: opts.connectionWindow ?? 16 << 20,
      // Responses are consumed as they arrive, and a Raft batch leaves in
      // one write whatever its size: no backpressure on our own sending.
      holdWhileBlocked: false,
      outHighWater: Infinity,
    });
    this.#opts = opts;
    this.#highWater = opts.highWater ?? 1 << 20;
  }

  /** Opens a TCP connection (no delay) and starts HTTP/2 on it; rejects when refused. */
  static async connect(
    hostname: string,
    port: number,
    opts: H2ClientOptions = {},
  ): Promise<H2ClientConnection> {
    return H2ClientConnection.over(await Deno.connect({ hostname, port }), opts);
  }

  /** Starts HTTP/2 on a connection already open (TCP, Unix or TLS), with no delay. */
  static over(
    conn: ByteConn & { setNoDelay(on: boolean): void },
    opts: H2ClientOptions = {},
  ): H2ClientConnection {
    conn.setNoDelay(true);
    const c = new H2ClientConnection(conn, opts);
    c.start();
    return c;
  }

  /** True once the connection ended or the server sent GOAWAY: no new requests. */
  get closed(): boolean {
    return this.isClosed || this.#goaway;
  }

  /** Sends the preface and our SETTINGS, then reads until the connection ends. */
  start(): void {
    this.writer.send(CLIENT_PREFACE);
    this.sendPreamble();
    this.#readLoop();
  }

  /** Opens a stream with the request header block `fields`; throws once closed. */
  request(fields: Iterable<readonly [string, string]>, endStream: boolean): H2ClientStream {
    if (this.closed) throw new Error("HTTP/2 connection is closed");
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = new H2ClientStream(id, this.peerInitialWindow, this.initialRecvWindow(), this);
    this.streams.set(id, stream);
    this.sendHeaderBlock(id, encodeHeaders(fields), endStream);
    if (endStream) stream.localEnded = true;
    return stream;
  }

  /** Sends a PING; resolves on its ACK, rejects if the connection ends first. */
  ping(): Promise<void> {
    if (this.isClosed) return Promise.reject(new Error("HTTP/2 connection is closed"));
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setFloat64(0, ++this.#pingSeq);
    return new Promise((resolve, reject) => {
      this.#pings.push({ payload, resolve, reject });
      this.writer.send(frame(FrameType.PING, 0, 0, payload));
    });
  }

  /**
   * Ends the connection: aborts open streams and closes the socket at once.
   * Frames still queued are dropped: a peer we give up on may be one whose
   * network went silent, and waiting for a write into a full socket would
   * hold the connection open until TCP gives up, many minutes later.
   * `flush` writes what is queued first (a GOAWAY after a protocol error),
   * for a bounded time.
   */
  close(reason = "connection closed", flush = false): void {
    if (this.isClosed) return;
    this.markClosed();
    const streams = [...this.streams.values()];
    for (const s of streams) this.#abort(s, reason);
    this.streams.clear();
    for (const p of this.#pings.splice(0)) p.reject(new Error(reason));
    // A flushed close lingers until the server closes (see FrameWriter.end).
    if (flush) this.writer.end(true);
    else this.writer.destroy();
    this.#opts.onClose?.(reason);
  }

  // --- streams ---

  /** @internal Queues body bytes of `s`; see {@link H2ClientStream.write}. */
  writeStream(s: H2ClientStream, data: Uint8Array, end: boolean): boolean {
    if (s.done || s.localEnded || s.ending) return false;
    if (data.length > 0 || end) {
      s.queue.push({ data, offset: 0, end });
      s.queuedBytes += data.length;
    }
    if (end) s.ending = true;
    this.pump(s);
    const ok = s.queuedBytes + this.writer.backlog < this.#highWater;
    if (!ok) s.wantsDrain = true;
    return ok;
  }

  /** @internal Resets `s` (see {@link H2ClientStream.reset}). */
  resetStream(s: H2ClientStream, code: number): void {
    if (s.done) return;
    this.#forget(s);
    if (!this.isClosed) this.control(frameU32(FrameType.RST_STREAM, s.id, code));
  }

  #forget(s: H2ClientStream): void {
    s.done = true;
    this.dropStream(s);
    // After a GOAWAY no stream can open here again: close once the last one ends.
    if (this.#goaway && this.streams.size === 0) {
      queueMicrotask(() => this.close(this.#goawayReason));
    }
  }

  #abort(s: H2ClientStream, reason: string): void {
    const wasDone = s.done;
    this.#forget(s);
    if (!wasDone) s.listener.abort?.(reason);
  }

  async #readLoop(): Promise<void> {
    const err = await this.readFrames(EMPTY, undefined);
    if (this.isClosed) this.writer.destroy(); // lingering after our GOAWAY: the server left
    else this.close(err === undefined ? "connection closed by the server" : String(err));
  }

  // --- H2Session: the client's side of frame handling ---

  /** @inheritdoc */
  protected override onDrained(): void {
    for (const s of this.streams.values()) {
      if (s.wantsDrain && s.queuedBytes + this.writer.backlog < this.#highWater) {
        s.wantsDrain = false;
        s.listener.drain?.();
      }
    }
  }

  /** @inheritdoc */
  protected onQueueDrained(s: H2ClientStream): void {
    if (!s.ending || s.localEnded) return;
    s.localEnded = true;
    if (s.remoteEnded) this.#forget(s);
  }

  /** @inheritdoc */
  protected onPeerReset(s: H2ClientStream, code: number): void {
    // NO_ERROR after a complete response: the server needs no more of the request.
    if (code === ErrorCode.NO_ERROR && s.remoteEnded) this.#forget(s);
    else this.#abort(s, `stream reset by the server (code ${code})`);
  }

  /** @inheritdoc */
  protected onPing(b: Uint8Array, start: number): void {
    this.control(this.pingAck(b, start));
  }

  /** @inheritdoc */
  protected onPingAck(b: Uint8Array, start: number): void {
    const i = this.#pings.findIndex((p) => p.payload.every((v, j) => v === b[start + j]));
    if (i < 0) return;
    // An ACK answers its PING and every one sent before it.
    for (const p of this.#pings.splice(0, i + 1)) p.resolve();
  }

  /** @inheritdoc */
  protected onGoaway(last: number, code: number): void {
    this.#goaway = true;
    const why = `server sent GOAWAY (code ${code})`;
    this.#goawayReason = why;
    for (const s of [...this.streams.values()]) if (s.id > last) this.#abort(s, why);
    if (this.streams.size === 0) this.close(why);
  }

  /** @inheritdoc */
  protected onUnknownData(): void {
    // A stream we reset meanwhile: the data is dropped.
  }

  /** @inheritdoc */
  protected onData(
    s: H2ClientStream,
    b: Uint8Array,
    start: number,
    end: number,
    last: boolean,
  ): void {
    if (s.remoteEnded) return this.consume(s, end - start);
    if (!s.gotHeaders) {
      this.#abort(s, "DATA before response headers");
      this.control(frameU32(FrameType.RST_STREAM, s.id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    if (last) s.remoteEnded = true;
    // Responses are consumed as they arrive: the window goes back at once.
    this.consume(s, end - start);
    if (end > start) s.listener.data?.(b.slice(start, end));
    if (last) this.#remoteEnd(s, undefined);
  }

  /** @inheritdoc */
  protected onHeaders(id: number, flags: number, fields: HeaderField[] | undefined): void {
    const s = this.streams.get(id);
    if (!s || s.remoteEnded) return;
    if (fields === undefined) {
      const why = `response headers of stream ${id} larger than the header list limit`;
      this.report(new LimitError(ErrorCode.ENHANCE_YOUR_CALM, why, id));
      return this.streamError(s, ErrorCode.ENHANCE_YOUR_CALM, why);
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (s.gotHeaders) {
      if (!endStream) {
        return this.streamError(s, ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM");
      }
      s.remoteEnded = true;
      return this.#remoteEnd(s, fields);
    }
    let status = 0;
    for (const [n, v] of fields) if (n === ":status") status = Number(v);
    if (status >= 100 && status < 200) return; // informational: the real response follows
    s.gotHeaders = true;
    s.listener.response?.(status, fields);
    if (endStream && !s.done) {
      s.remoteEnded = true;
      this.#remoteEnd(s, undefined);
    }
  }

  /** The response ended (`remoteEnded` already set). */
  #remoteEnd(s: H2ClientStream, trailers: HeaderField[] | undefined): void {
    if (s.localEnded) this.#forget(s);
    s.listener.end?.(trailers);
  }

  /** @inheritdoc */
  protected streamError(s: H2ClientStream, code: number, why: string): void {
    this.#abort(s, why);
    this.control(frameU32(FrameType.RST_STREAM, s.id, code));
  }

  /** @inheritdoc */
  protected receiving(s: H2ClientStream): boolean {
    return !s.remoteEnded;
  }

  /** @inheritdoc */
  protected lastPeerStreamId(): number {
    return 0;
  }

  /** @inheritdoc */
  protected closeAfterGoaway(reason: string): void {
    this.close(`protocol error: ${reason}`, true);
  }

  /** @inheritdoc */
  protected report(err: Error): void {
    this.#opts.onError?.(err);
  }

  /** @inheritdoc */
  protected writeFailed(): void {
    this.close("write failed");
  }
}
