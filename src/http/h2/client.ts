/**
 * The client side of HTTP/2 (RFC 9113) on a byte stream, for the peer port:
 * requests with streamed bodies in both directions, flow control in both
 * directions, PING, SETTINGS, RST_STREAM and GOAWAY. It shares frames,
 * HPACK and the gathering writer with the server (connection.ts), so a Raft
 * batch queued in one turn leaves in one socket write whatever its size.
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
  ConnectionError,
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  frame,
  FrameType,
  frameU32,
  goawayFrame,
  MAX_WINDOW,
  Setting,
  settingsFrame,
  unpad,
} from "./frames.ts";
import { encodeHeaders, type HeaderField } from "./hpack.ts";
import { FrameWriter } from "./writer.ts";
import {
  FrameReader,
  type PeerSettings,
  readLoop,
  readSettings,
  readU32,
  readWindowIncrement,
} from "./reader.ts";
import type { ByteConn } from "./connection.ts";

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
}

/** One request and its response. */
export class H2ClientStream {
  /** Owner's callbacks. */
  listener: ClientStreamListener = {};
  /** Bytes we may still send on this stream (the server's window). */
  sendWindow: number;
  /** Request body waiting for window: [bytes, offset]. */
  readonly queue: Array<{ data: Uint8Array; offset: number }> = [];
  queuedBytes = 0;
  /** END_STREAM requested by the owner (sent after the queue). */
  ending = false;
  localEnded = false;
  remoteEnded = false;
  gotHeaders = false;
  done = false;
  wantsDrain = false;
  /** Receive bytes not yet returned with WINDOW_UPDATE. */
  unacked = 0;

  constructor(
    /** The stream id (odd: client-initiated). */
    readonly id: number,
    initialSendWindow: number,
    private readonly conn: H2ClientConnection,
  ) {
    this.sendWindow = initialSendWindow;
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
    this.conn.writeStream(this, data ?? new Uint8Array(0), true);
  }

  /** Abandons the exchange with RST_STREAM (no further callbacks). */
  reset(code: number = ErrorCode.CANCEL): void {
    this.conn.resetStream(this, code);
  }
}

/** A client HTTP/2 connection. */
export class H2ClientConnection {
  readonly #conn: ByteConn;
  readonly #opts: H2ClientOptions;
  readonly #writer: FrameWriter;
  readonly #streams = new Map<number, H2ClientStream>();
  readonly #streamWindow: number;
  readonly #connWindow: number;
  readonly #highWater: number;
  #nextId = 1;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME;
  #connSendWindow = DEFAULT_WINDOW;
  #connUnacked = 0;
  /** Streams with data waiting for connection window. */
  readonly #blocked = new Set<H2ClientStream>();
  readonly #reader: FrameReader;
  readonly #pings: Array<{ payload: Uint8Array; resolve: () => void; reject: (e: Error) => void }> =
    [];
  #pingSeq = 0;
  #closed = false;
  #goaway = false;
  #goawayReason = "server sent GOAWAY";

  /** Wraps an open byte stream; call {@link start} (or use {@link connect}). */
  constructor(conn: ByteConn, opts: H2ClientOptions = {}) {
    this.#conn = conn;
    this.#opts = opts;
    this.#streamWindow = opts.streamWindow ?? 1 << 20;
    this.#connWindow = opts.connectionWindow ?? 16 << 20;
    this.#highWater = opts.highWater ?? 1 << 20;
    this.#writer = new FrameWriter(conn, () => this.#drained(), () => this.close("write failed"));
    this.#reader = new FrameReader({
      frame: (type, flags, id, b, start, end) => this.#frame(type, flags, id, b, start, end),
      headers: (id, flags, fields) => this.#headers(id, flags, fields),
      isClosed: () => this.#closed,
    });
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
    return this.#closed || this.#goaway;
  }

  /** Sends the preface and our SETTINGS, then reads until the connection ends. */
  start(): void {
    this.#writer.send(CLIENT_PREFACE);
    this.#writer.send(settingsFrame([
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow],
    ]));
    if (this.#connWindow > DEFAULT_WINDOW) {
      this.#writer.send(frameU32(FrameType.WINDOW_UPDATE, 0, this.#connWindow - DEFAULT_WINDOW));
    }
    this.#readLoop();
  }

  /** Opens a stream with the request header block `fields`; throws once closed. */
  request(fields: Iterable<readonly [string, string]>, endStream: boolean): H2ClientStream {
    if (this.closed) throw new Error("HTTP/2 connection is closed");
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = new H2ClientStream(id, this.#peerInitialWindow, this);
    this.#streams.set(id, stream);
    this.#sendHeaderBlock(id, encodeHeaders(fields), endStream);
    if (endStream) stream.localEnded = true;
    return stream;
  }

  /** Sends a PING; resolves on its ACK, rejects if the connection ends first. */
  ping(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("HTTP/2 connection is closed"));
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setFloat64(0, ++this.#pingSeq);
    return new Promise((resolve, reject) => {
      this.#pings.push({ payload, resolve, reject });
      this.#writer.send(frame(FrameType.PING, 0, 0, payload));
    });
  }

  /**
   * Ends the connection: aborts open streams and closes the socket at once.
   * Frames still queued are dropped: a peer we give up on may be one whose
   * network went silent, and waiting for a write into a full socket would
   * hold the connection open until TCP gives up, many minutes later.
   * `flush` writes what is queued first (a GOAWAY after a protocol error).
   */
  close(reason = "connection closed", flush = false): void {
    if (this.#closed) return;
    this.#closed = true;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#blocked.clear();
    for (const s of streams) this.#abort(s, reason);
    for (const p of this.#pings.splice(0)) p.reject(new Error(reason));
    this.#writer.end();
    if (!flush) {
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }
    this.#opts.onClose?.(reason);
  }

  // --- streams ---

  /** @internal Queues body bytes of `s`; see {@link H2ClientStream.write}. */
  writeStream(s: H2ClientStream, data: Uint8Array, end: boolean): boolean {
    if (s.done || s.localEnded || s.ending) return false;
    if (data.length > 0) {
      s.queue.push({ data, offset: 0 });
      s.queuedBytes += data.length;
    }
    if (end) s.ending = true;
    this.#pump(s);
    const ok = s.queuedBytes + this.#writer.backlog < this.#highWater;
    if (!ok) s.wantsDrain = true;
    return ok;
  }

  /** @internal Resets `s` (see {@link H2ClientStream.reset}). */
  resetStream(s: H2ClientStream, code: number): void {
    if (s.done) return;
    this.#forget(s);
    if (!this.#closed) this.#writer.send(frameU32(FrameType.RST_STREAM, s.id, code));
  }

  /** Frames as much of the stream's queue as the windows allow. */
  #pump(s: H2ClientStream): void {
    if (this.#closed || s.done) return;
    while (s.queue.length > 0) {
      const item = s.queue[0];
      const remaining = item.data.length - item.offset;
      const n = Math.min(remaining, s.sendWindow, this.#connSendWindow, this.#peerMaxFrame);
      if (n <= 0) {
        if (this.#connSendWindow <= 0) this.#blocked.add(s);
        return;
      }
      const last = n === remaining && s.queue.length === 1 && s.ending;
      this.#writer.frame(
        FrameType.DATA,
        last ? Flag.END_STREAM : 0,
        s.id,
        item.data.subarray(item.offset, item.offset + n),
      );
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      s.queuedBytes -= n;
      item.offset += n;
      if (item.offset === item.data.length) s.queue.shift();
      if (last) return this.#localEnd(s);
    }
    if (s.ending && !s.localEnded) {
      this.#writer.frame(FrameType.DATA, Flag.END_STREAM, s.id, new Uint8Array(0));
      this.#localEnd(s);
    }
  }

  #localEnd(s: H2ClientStream): void {
    s.localEnded = true;
    if (s.remoteEnded) this.#forget(s);
  }

  #sendHeaderBlock(id: number, block: Uint8Array, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    let flags = endStream ? Flag.END_STREAM : 0;
    let type: number = FrameType.HEADERS;
    let off = 0;
    do {
      const end = Math.min(off + max, block.length);
      if (end === block.length) flags |= Flag.END_HEADERS;
      this.#writer.frame(type, flags, id, block.subarray(off, end));
      type = FrameType.CONTINUATION;
      flags = 0;
      off = end;
    } while (off < block.length);
  }

  #forget(s: H2ClientStream): void {
    s.done = true;
    this.#streams.delete(s.id);
    this.#blocked.delete(s);
    // After a GOAWAY no stream can open here again: close once the last one ends.
    if (this.#goaway && this.#streams.size === 0) {
      queueMicrotask(() => this.close(this.#goawayReason));
    }
  }

  #abort(s: H2ClientStream, reason: string): void {
    const wasDone = s.done;
    this.#forget(s);
    if (!wasDone) s.listener.abort?.(reason);
  }

  /** A socket write finished: streams that said "wait" may go on. */
  #drained(): void {
    if (this.#closed) return;
    for (const s of this.#streams.values()) {
      if (s.wantsDrain && s.queuedBytes + this.#writer.backlog < this.#highWater) {
        s.wantsDrain = false;
        s.listener.drain?.();
      }
    }
  }

  // --- reading ---

  async #readLoop(): Promise<void> {
    let reason = "connection closed by the server";
    let flush = false;
    try {
      await readLoop(
        this.#conn,
        new Uint8Array(0),
        (buf, len) => this.#reader.parse(buf, 0, len),
        () => this.#closed,
      );
    } catch (err) {
      if (err instanceof ConnectionError) {
        reason = `protocol error: ${err.message}`;
        if (!this.#closed) this.#writer.send(goawayFrame(0, err.code, err.message));
        flush = true;
      } else {
        reason = String(err);
      }
    }
    this.close(reason, flush);
  }

  #frame(type: number, flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, id, b, start, end);
      case FrameType.RST_STREAM: {
        if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
        if (end - start !== 4) {
          throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length");
        }
        const s = this.#streams.get(id);
        const code = readU32(b, start);
        if (s) {
          // NO_ERROR after a complete response: the server needs no more of the request.
          if (code === ErrorCode.NO_ERROR && s.remoteEnded) this.#forget(s);
          else this.#abort(s, `stream reset by the server (code ${code})`);
        }
        return;
      }
      case FrameType.SETTINGS:
        return this.#onSettings(readSettings(flags, id, b, start, end));
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE though disabled");
      case FrameType.PING:
        if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
        if (end - start !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING length");
        if (flags & Flag.ACK) return this.#onPingAck(b.subarray(start, end));
        this.#writer.send(frame(FrameType.PING, Flag.ACK, 0, b.slice(start, end)));
        return;
      case FrameType.GOAWAY: {
        if (end - start < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY");
        const last = readU32(b, start) & 0x7fffffff;
        const code = readU32(b, start + 4);
        this.#goaway = true;
        const why = `server sent GOAWAY (code ${code})`;
        this.#goawayReason = why;
        for (const s of [...this.#streams.values()]) if (s.id > last) this.#abort(s, why);
        if (this.#streams.size === 0) this.close(why);
        return;
      }
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, b, start, end);
      default:
        return; // PRIORITY and unknown types are ignored (RFC 9113 §4.1, §5.3.2)
    }
  }

  #onData(flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    const flowLen = end - start;
    this.#connUnacked += flowLen;
    if (this.#connUnacked >= this.#connWindow / 2) {
      this.#writer.send(frameU32(FrameType.WINDOW_UPDATE, 0, this.#connUnacked));
      this.#connUnacked = 0;
    }
    [start, end] = unpad(flags, b, start, end);
    const s = this.#streams.get(id);
    if (!s || s.remoteEnded) return; // reset by us meanwhile: drop
    if (!s.gotHeaders) {
      this.#abort(s, "DATA before response headers");
      this.#writer.send(frameU32(FrameType.RST_STREAM, id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (!endStream) {
      // Responses are consumed as they arrive: return the window at once.
      s.unacked += flowLen;
      if (s.unacked >= this.#streamWindow / 2) {
        this.#writer.send(frameU32(FrameType.WINDOW_UPDATE, id, s.unacked));
        s.unacked = 0;
      }
    }
    if (end > start) s.listener.data?.(b.slice(start, end));
    if (endStream) this.#remoteEnd(s, undefined);
  }

  #headers(id: number, flags: number, fields: HeaderField[]): void {
    const s = this.#streams.get(id);
    if (!s || s.remoteEnded) return;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (s.gotHeaders) {
      if (!endStream) {
        this.#abort(s, "trailers without END_STREAM");
        this.#writer.send(frameU32(FrameType.RST_STREAM, id, ErrorCode.PROTOCOL_ERROR));
        return;
      }
      return this.#remoteEnd(s, fields);
    }
    let status = 0;
    for (const [n, v] of fields) if (n === ":status") status = Number(v);
    if (status >= 100 && status < 200) return; // informational: the real response follows
    s.gotHeaders = true;
    s.listener.response?.(status, fields);
    if (endStream && !s.done) this.#remoteEnd(s, undefined);
  }

  #remoteEnd(s: H2ClientStream, trailers: HeaderField[] | undefined): void {
    s.remoteEnded = true;
    if (s.localEnded) this.#forget(s);
    s.listener.end?.(trailers);
  }

  #onSettings(settings: PeerSettings | undefined): void {
    if (settings === undefined) return; // our SETTINGS were acknowledged
    if (settings.initialWindow !== undefined) {
      const delta = settings.initialWindow - this.#peerInitialWindow;
      this.#peerInitialWindow = settings.initialWindow;
      for (const s of this.#streams.values()) s.sendWindow += delta;
      if (delta > 0) { for (const s of [...this.#streams.values()]) this.#pump(s); }
    }
    if (settings.maxFrame !== undefined) this.#peerMaxFrame = settings.maxFrame;
    // The server's MAX_CONCURRENT_STREAMS is far above the few streams we open.
    this.#writer.send(frame(FrameType.SETTINGS, Flag.ACK, 0));
  }

  #onWindowUpdate(id: number, b: Uint8Array, start: number, end: number): void {
    const inc = readWindowIncrement(b, start, end);
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "zero WINDOW_UPDATE");
      this.#connSendWindow += inc;
      if (this.#connSendWindow > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow");
      }
      const waiting = [...this.#blocked];
      this.#blocked.clear();
      for (const s of waiting) this.#pump(s);
      return;
    }
    const s = this.#streams.get(id);
    if (!s) return;
    s.sendWindow += inc;
    if (inc === 0 || s.sendWindow > MAX_WINDOW) {
      this.#abort(s, "bad WINDOW_UPDATE from the server");
      this.#writer.send(frameU32(FrameType.RST_STREAM, id, ErrorCode.FLOW_CONTROL_ERROR));
      return;
    }
    this.#pump(s);
  }

  #onPingAck(payload: Uint8Array): void {
    const i = this.#pings.findIndex((p) => p.payload.every((v, j) => v === payload[j]));
    if (i < 0) return;
    // An ACK answers its PING and every one sent before it.
    for (const p of this.#pings.splice(0, i + 1)) p.resolve();
  }
}
