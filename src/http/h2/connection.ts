/**
 * A server-side HTTP/2 connection (RFC 9113) over a byte stream: frame
 * parsing, HPACK, SETTINGS, PING, flow control in both directions,
 * stream lifecycle, RST_STREAM and GOAWAY. Every frame produced in one
 * turn of the event loop leaves in one socket write.
 *
 * Why not `node:http2`: on Deno 2.9 it cost most of a member's CPU per
 * unary call (a minimal handler on this server spends about a tenth of it),
 * wrote one syscall per frame, and aborted the whole process on some client
 * GOAWAY sequences. This server implements what gRPC, gRPC-Web and Connect
 * clients use: no server push, no priorities (PRIORITY is read and ignored).
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
import type { HeaderField } from "./hpack.ts";
import { FrameWriter } from "./writer.ts";
import {
  FrameReader,
  type PeerSettings,
  readLoop,
  readSettings,
  readWindowIncrement,
} from "./reader.ts";
import { H2Stream, type StreamHost } from "./stream.ts";
import { IdlePinger, type KeepaliveOptions, PingPolicy } from "./keepalive.ts";

/** The byte stream a connection runs on (a `Deno.Conn` fits). */
export interface ByteConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** Options for {@link H2Connection}. */
export interface H2Options {
  /** Called once a stream's request headers are complete. */
  onStream(stream: H2Stream): void;
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS we announce and enforce (a uint32, as
   * etcd's --max-concurrent-streams). Default: unlimited (2^32-1), which,
   * as in grpc-go, is not announced at all.
   */
  maxConcurrentStreams?: number;
  /** gRPC keepalive (server PINGs and client PING enforcement); off when absent. */
  keepalive?: KeepaliveOptions;
  /** Receive window per stream we announce (bytes). */
  streamWindow?: number;
  /** Receive window of the whole connection (bytes). */
  connectionWindow?: number;
  /** Largest request header block accepted (bytes, before decoding). */
  maxHeaderBlock?: number;
  /** Called with connection-level problems, for logging. */
  onError?(err: Error): void;
}

/**
 * Response bytes a connection may hold beyond what the socket took. The
 * peer's flow-control windows can be many megabytes (Go clients grow them
 * to 16 MiB), so without this a slow reader would make every watch stream
 * copy that much into memory: past it, stream writes wait for the socket.
 */
const OUT_HIGH_WATER = 512 * 1024;
/**
 * Longest a PING ACK waits for a response to travel with. Far below any
 * keepalive timeout (gRPC's shortest is seconds), above a commit round.
 */
const PING_ACK_DELAY_MS = 20;
/** No limit on concurrent streams: grpc-go's default, never announced. */
const UNLIMITED_STREAMS = 0xffffffff;
/** Payload of the keepalive PINGs we send (grpc-go sends zeros too). */
const KEEPALIVE_PING = new Uint8Array(8);

/** One HTTP/2 connection; {@link H2Connection.run} serves it until it closes. */
export class H2Connection implements StreamHost {
  readonly #conn: ByteConn;
  readonly #opts: H2Options;
  readonly #streams = new Map<number, H2Stream>();
  readonly #maxStreams: number;
  readonly #streamWindow: number;
  readonly #connWindow: number;
  readonly #reader: FrameReader;
  /** Highest stream id the peer opened. */
  #lastStreamId = 0;
  /** Peer settings that govern what we send. */
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME;
  #connSendWindow = DEFAULT_WINDOW;
  /** Connection receive bytes not yet returned with WINDOW_UPDATE. */
  #connUnacked = 0;
  /** Per-stream receive bytes consumed but not yet returned. */
  readonly #streamUnacked = new Map<number, number>();
  /** Streams with data waiting for connection window. */
  readonly #blocked = new Set<H2Stream>();
  readonly #writer: FrameWriter;
  /** Streams holding data until the socket drains (see OUT_HIGH_WATER). */
  readonly #waitingForSocket = new Set<H2Stream>();
  #closed = false;
  #peerGoaway = false;
  /** gRPC keepalive: our PINGs to an idle peer, and limits on the peer's. */
  readonly #pinger: IdlePinger | undefined;
  readonly #pingPolicy: PingPolicy | undefined;

  constructor(conn: ByteConn, opts: H2Options) {
    this.#conn = conn;
    this.#opts = opts;
    this.#writer = new FrameWriter(conn, () => this.#drained(), (err) => {
      if (!this.#closed) opts.onError?.(err);
      this.close("write failed");
    });
    this.#maxStreams = opts.maxConcurrentStreams ?? UNLIMITED_STREAMS;
    const m = this.#maxStreams;
    if (!Number.isInteger(m) || m < 0 || m > UNLIMITED_STREAMS) {
      throw new RangeError(`maxConcurrentStreams ${m} is not a uint32`);
    }
    const ka = opts.keepalive;
    if (ka) {
      this.#pingPolicy = new PingPolicy(ka.minTimeMs, ka.permitWithoutStream);
      this.#pinger = new IdlePinger(ka, {
        sendPing: () => this.#send(frame(FrameType.PING, 0, 0, KEEPALIVE_PING)),
        close: (reason) => {
          opts.onError?.(new Error(reason));
          this.close(reason);
        },
      });
    }
    this.#streamWindow = opts.streamWindow ?? 1 << 20;
    this.#connWindow = opts.connectionWindow ?? 16 << 20;
    this.#reader = new FrameReader({
      frame: (type, flags, id, b, start, end) => this.#frame(type, flags, id, b, start, end),
      headers: (id, flags, fields) => this.#headers(id, flags, fields),
      isClosed: () => this.#closed,
    }, opts.maxHeaderBlock ?? 1 << 20);
  }

  /** Number of streams in progress. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /**
   * Serves the connection until the peer closes it or it fails. `initial`
   * holds bytes already read from the socket (the sniffed preface).
   */
  async run(initial: Uint8Array = new Uint8Array(0)): Promise<void> {
    const settings: Array<[number, number]> = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow],
    ];
    if (this.#maxStreams !== UNLIMITED_STREAMS) {
      settings.push([Setting.MAX_CONCURRENT_STREAMS, this.#maxStreams]);
    }
    this.#send(settingsFrame(settings));
    if (this.#connWindow > DEFAULT_WINDOW) {
      this.#send(frameU32(FrameType.WINDOW_UPDATE, 0, this.#connWindow - DEFAULT_WINDOW));
    }
    let prefaceSeen = false;
    this.#pinger?.start();
    try {
      await readLoop(this.#conn, initial, (buf, len) => {
        this.#pinger?.read();
        let off = 0;
        if (!prefaceSeen) {
          if (len < CLIENT_PREFACE.length) return 0;
          for (let i = 0; i < CLIENT_PREFACE.length; i++) {
            if (buf[i] !== CLIENT_PREFACE[i]) {
              throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "bad connection preface");
            }
          }
          prefaceSeen = true;
          off = CLIENT_PREFACE.length;
        }
        return this.#reader.parse(buf, off, len);
      }, () => this.#closed);
    } catch (err) {
      if (err instanceof ConnectionError) {
        this.#opts.onError?.(err);
        this.#goaway(err.code, err.message);
      } else if (!this.#closed) {
        this.#opts.onError?.(err as Error);
      }
    }
    this.close("connection closed");
  }

  /** Ends the connection: aborts open streams, sends what is pending, closes the socket. */
  close(reason = "connection closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pinger?.stop();
    for (const s of this.#streams.values()) s.abort(reason);
    this.#streams.clear();
    this.#blocked.clear();
    this.#waitingForSocket.clear();
    this.#writer.end();
  }

  /**
   * Closes the connection because the listener shuts down. No GOAWAY is
   * sent first, although RFC 9113 suggests one: Deno's node:http2 client
   * (used by Deno programs and by our tests) crashes its whole process on a
   * server GOAWAY about a third of the time (found when the protocol tests
   * segfaulted on member shutdown). Clients see the connection end, which
   * every gRPC client handles by reconnecting, and every stream still open
   * here is aborted anyway.
   */
  shutdown(): void {
    this.close("server shutting down");
  }

  #goaway(code: number, debug: string): void {
    if (this.#closed) return;
    this.#send(goawayFrame(this.#lastStreamId, code, debug));
    this.close(debug);
  }

  // --- reading ---

  #frame(type: number, flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, id, b, start, end);
      case FrameType.PRIORITY:
        if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
        return;
      case FrameType.RST_STREAM:
        return this.#onReset(id, end - start);
      case FrameType.SETTINGS:
        return this.#onSettings(readSettings(flags, id, b, start, end));
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FrameType.PING:
        if (id !== 0 || end - start !== 8) {
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "malformed PING");
        }
        if (!(flags & Flag.ACK)) {
          const ack = frame(FrameType.PING, Flag.ACK, 0, b.slice(start, end));
          // gRPC clients PING after every burst of DATA they receive (to
          // size their windows from the round trip), just before sending
          // their next calls. On a connection of unary calls the answer
          // rides along with the next response instead of costing a write
          // of its own (half of all socket writes under load). Where a
          // client streams (a Watch), it goes at once: a late answer
          // inflates the client's bandwidth estimate, it opens its windows
          // wider, and event delivery crowds out everything else (puts/s
          // beside 1,000 watchers halved).
          if (this.#hasOpenRequest()) this.#send(ack);
          else this.#writer.sendLazy(ack, PING_ACK_DELAY_MS);
          this.#enforcePingPolicy();
        }
        return;
      case FrameType.GOAWAY:
        this.#peerGoaway = true;
        if (this.#streams.size === 0) this.close("peer sent GOAWAY");
        return;
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, b, start, end);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** A client PING arrived: one too many (keepalive.ts) sends the client away. */
  #enforcePingPolicy(): void {
    if (!this.#pingPolicy?.ping(performance.now(), this.#streams.size)) return;
    this.#opts.onError?.(new Error("got too many pings from the client"));
    this.#goaway(ErrorCode.ENHANCE_YOUR_CALM, "too_many_pings");
  }

  /** Whether a stream's request side is still open (a client-streaming or bidi call). */
  #hasOpenRequest(): boolean {
    for (const s of this.#streams.values()) if (!s.remoteEnded) return true;
    return false;
  }

  #onData(flags: number, id: number, b: Uint8Array, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    const flowLen = end - start;
    this.#connUnacked += flowLen;
    if (this.#connUnacked >= this.#connWindow / 2) {
      this.#send(frameU32(FrameType.WINDOW_UPDATE, 0, this.#connUnacked));
      this.#connUnacked = 0;
    }
    [start, end] = unpad(flags, b, start, end);
    const stream = this.#streams.get(id);
    if (!stream) {
      if (id > this.#lastStreamId) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      }
      return; // a stream we already closed or reset: drop it
    }
    if (stream.remoteEnded) {
      this.reset(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    // Padding counts against the window but is never delivered.
    const padding = flowLen - (end - start);
    if (padding > 0) this.consumed(stream, padding);
    stream.receive(b.slice(start, end), (flags & Flag.END_STREAM) !== 0);
  }

  #headers(id: number, flags: number, fields: HeaderField[]): void {
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.#streams.get(id);
    if (existing) {
      // Trailers: they must end the request.
      if (!endStream || existing.remoteEnded) {
        this.reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      existing.endRemote();
      return;
    }
    if (id <= this.#lastStreamId) {
      // A stream we already closed (or reset): nothing to do but say so.
      this.#send(frameU32(FrameType.RST_STREAM, id, ErrorCode.STREAM_CLOSED));
      return;
    }
    if (id % 2 === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "even stream id");
    this.#lastStreamId = id;
    if (this.#peerGoaway || this.#closed) return;
    if (this.#streams.size >= this.#maxStreams) {
      this.#send(frameU32(FrameType.RST_STREAM, id, ErrorCode.REFUSED_STREAM));
      return;
    }
    const stream = new H2Stream(id, fields, this.#peerInitialWindow, this, endStream);
    if (!stream.method || !stream.path) {
      this.#send(frameU32(FrameType.RST_STREAM, id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    this.#streams.set(id, stream);
    this.#opts.onStream(stream);
    if (endStream) stream.endRemote();
  }

  #onReset(id: number, length: number): void {
    if (id === 0 || length !== 4) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "malformed RST_STREAM");
    }
    const stream = this.#streams.get(id);
    if (!stream) return;
    this.#forget(stream);
    stream.abort("stream reset by the client");
  }

  #onSettings(settings: PeerSettings | undefined): void {
    if (settings === undefined) return; // our SETTINGS were acknowledged
    if (settings.initialWindow !== undefined) {
      const delta = settings.initialWindow - this.#peerInitialWindow;
      this.#peerInitialWindow = settings.initialWindow;
      for (const s of this.#streams.values()) s.sendWindow += delta;
      if (delta > 0) { for (const s of this.#streams.values()) this.pump(s); }
    }
    if (settings.maxFrame !== undefined) this.#peerMaxFrame = settings.maxFrame;
    this.#send(frame(FrameType.SETTINGS, Flag.ACK, 0));
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
      for (const s of waiting) this.pump(s);
      return;
    }
    const stream = this.#streams.get(id);
    if (!stream) return;
    if (inc === 0) {
      this.reset(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += inc;
    if (stream.sendWindow > MAX_WINDOW) {
      this.reset(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    this.pump(stream);
  }

  // --- StreamHost: writing on behalf of streams ---

  /** @inheritdoc */
  sendHeaders(stream: H2Stream, block: Uint8Array, endStream: boolean): void {
    if (this.#closed) return;
    const max = this.#peerMaxFrame;
    let flags = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      this.#sendFrame(FrameType.HEADERS, flags | Flag.END_HEADERS, stream.id, block);
      return;
    }
    let type: number = FrameType.HEADERS;
    for (let off = 0; off < block.length; off += max) {
      const last = off + max >= block.length;
      if (last) flags |= Flag.END_HEADERS;
      this.#sendFrame(
        type,
        flags,
        stream.id,
        block.subarray(off, Math.min(off + max, block.length)),
      );
      type = FrameType.CONTINUATION;
      flags = 0;
    }
  }

  /** @inheritdoc */
  pump(stream: H2Stream): void {
    if (this.#closed) return;
    const q = stream.queue;
    while (q.length > 0) {
      const item = q[0];
      if (item.trailers) {
        this.sendHeaders(stream, item.trailers, true);
        q.shift();
        continue;
      }
      const data = item.data!;
      const remaining = data.length - item.offset;
      if (remaining === 0) {
        if (item.end) {
          this.#sendFrame(FrameType.DATA, Flag.END_STREAM, stream.id, data.subarray(0, 0));
        }
        q.shift();
        item.done?.();
        continue;
      }
      if (this.#writer.backlog >= OUT_HIGH_WATER) {
        this.#waitingForSocket.add(stream);
        return;
      }
      const n = Math.min(remaining, stream.sendWindow, this.#connSendWindow, this.#peerMaxFrame);
      if (n <= 0) {
        if (this.#connSendWindow <= 0) this.#blocked.add(stream);
        return;
      }
      const last = n === remaining;
      this.#sendFrame(
        FrameType.DATA,
        last && item.end ? Flag.END_STREAM : 0,
        stream.id,
        data.subarray(item.offset, item.offset + n),
      );
      stream.sendWindow -= n;
      this.#connSendWindow -= n;
      item.offset += n;
      if (last) {
        q.shift();
        item.done?.();
      }
    }
    if (stream.localEnded && !stream.aborted && this.#streams.has(stream.id)) {
      stream.finishedSending();
    }
  }

  /** @inheritdoc */
  reset(stream: H2Stream, code: number): void {
    if (!this.#streams.has(stream.id)) return;
    this.#forget(stream);
    this.#send(frameU32(FrameType.RST_STREAM, stream.id, code));
    if (code !== ErrorCode.NO_ERROR) stream.abort("stream reset by the server");
  }

  /** @inheritdoc */
  consumed(stream: H2Stream, bytes: number): void {
    if (!this.#streams.has(stream.id) || stream.remoteEnded) return;
    const total = (this.#streamUnacked.get(stream.id) ?? 0) + bytes;
    if (total >= this.#streamWindow / 2) {
      this.#streamUnacked.delete(stream.id);
      this.#send(frameU32(FrameType.WINDOW_UPDATE, stream.id, total));
    } else {
      this.#streamUnacked.set(stream.id, total);
    }
  }

  /** @inheritdoc */
  closed(stream: H2Stream): void {
    this.#forget(stream);
  }

  #forget(stream: H2Stream): void {
    if (!this.#streams.delete(stream.id)) return;
    this.#streamUnacked.delete(stream.id);
    this.#blocked.delete(stream);
    this.#waitingForSocket.delete(stream);
    if (this.#peerGoaway && this.#streams.size === 0) this.close("peer sent GOAWAY");
  }

  /** Sends HEADERS, CONTINUATION or DATA (what forgives a client's PINGs, see keepalive.ts). */
  #sendFrame(type: number, flags: number, id: number, payload: Uint8Array): void {
    this.#pingPolicy?.wrote();
    this.#writer.frame(type, flags, id, payload);
  }

  #send(bytes: Uint8Array): void {
    this.#writer.send(bytes);
  }

  /** A socket write finished: streams that waited for it may go on. */
  #drained(): void {
    if (this.#waitingForSocket.size === 0 || this.#closed) return;
    const waiting = [...this.#waitingForSocket];
    this.#waitingForSocket.clear();
    for (const s of waiting) this.pump(s);
  }
}
