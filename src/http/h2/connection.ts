/**
 * A server-side HTTP/2 connection (RFC 9113) over a byte stream: the
 * server's half of {@link H2Session} (which holds the frame handling, flow
 * control and limits both ends share): streams opened by the client, the
 * stream lifecycle, RST_STREAM and GOAWAY, gRPC keepalive, the idle
 * timeout. Every frame produced in one turn of the event loop leaves in one
 * socket write.
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
  ErrorCode,
  Flag,
  frame,
  FrameType,
  frameU32,
  goawayFrame,
  LimitError,
  Setting,
} from "./frames.ts";
import { encodeHeaders, type HeaderField } from "./hpack.ts";
import { CONNECTION_WINDOW, IDLE_TIMEOUT_MS, OUT_HIGH_WATER, STREAM_WINDOW } from "./limits.ts";
import { type ByteConn, H2Session } from "./session.ts";
import { H2Stream, type StreamHost } from "./stream.ts";
import { IdlePinger, type KeepaliveOptions, PingPolicy } from "./keepalive.ts";

export type { ByteConn } from "./session.ts";

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
  /** Receive window per stream we announce (bytes); limits.ts by default. */
  streamWindow?: number;
  /** Receive window of the whole connection (bytes); limits.ts by default. */
  connectionWindow?: number;
  /** Largest request header block accepted (bytes, before decoding); limits.ts by default. */
  maxHeaderBlock?: number;
  /** Largest decoded request header list (announced); limits.ts by default. */
  maxHeaderListSize?: number;
  /** How long the client has to ACK our SETTINGS; limits.ts by default. */
  settingsAckTimeoutMs?: number;
  /** No open stream for this long closes the connection; limits.ts by default. */
  idleTimeoutMs?: number;
  /**
   * Called with connection-level problems, for logging. A {@link LimitError}
   * means a bound was crossed (with `streamId` when only that stream was
   * refused).
   */
  onError?(err: Error): void;
}

/**
 * Longest a PING ACK waits for a response to travel with. Far below any
 * keepalive timeout (gRPC's shortest is seconds), above a commit round.
 */
const PING_ACK_DELAY_MS = 20;
/** No limit on concurrent streams: grpc-go's default, never announced. */
const UNLIMITED_STREAMS = 0xffffffff;
/** Payload of the keepalive PINGs we send (grpc-go sends zeros too). */
const KEEPALIVE_PING = new Uint8Array(8);
/** The answer to a request whose header list is over the limit (as Go's server gives). */
const STATUS_431 = encodeHeaders([[":status", "431"]]);

/** One HTTP/2 connection; {@link H2Connection.run} serves it until it closes. */
export class H2Connection extends H2Session<H2Stream> implements StreamHost {
  readonly #opts: H2Options;
  readonly #maxStreams: number;
  readonly #idleTimeoutMs: number;
  /** Highest stream id the peer opened. */
  #lastStreamId = 0;
  #peerGoaway = false;
  /** When the last stream ended (the connection is idle from then on). */
  #idleSince = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Streams whose request input is held back until their answers can leave. */
  readonly #paused = new Set<H2Stream>();
  #reportedTooLarge = false;
  /** gRPC keepalive: our PINGs to an idle peer, and limits on the peer's. */
  readonly #pinger: IdlePinger | undefined;
  readonly #pingPolicy: PingPolicy | undefined;

  constructor(conn: ByteConn, opts: H2Options) {
    const maxStreams = opts.maxConcurrentStreams ?? UNLIMITED_STREAMS;
    if (!Number.isInteger(maxStreams) || maxStreams < 0 || maxStreams > UNLIMITED_STREAMS) {
      throw new RangeError(`maxConcurrentStreams ${maxStreams} is not a uint32`);
    }
    super(conn, {
      streamWindow: opts.streamWindow ?? STREAM_WINDOW,
      connectionWindow: opts.connectionWindow ?? CONNECTION_WINDOW,
      maxHeaderBlock: opts.maxHeaderBlock,
      maxHeaderListSize: opts.maxHeaderListSize,
      settingsAckTimeoutMs: opts.settingsAckTimeoutMs,
      holdWhileBlocked: true,
      outHighWater: OUT_HIGH_WATER,
      extraSettings: maxStreams === UNLIMITED_STREAMS
        ? []
        : [[Setting.MAX_CONCURRENT_STREAMS, maxStreams]],
    });
    this.#opts = opts;
    this.#maxStreams = maxStreams;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const ka = opts.keepalive;
    if (ka) {
      this.#pingPolicy = new PingPolicy(ka.minTimeMs, ka.permitWithoutStream);
      this.#pinger = new IdlePinger(ka, {
        sendPing: () => this.writer.send(frame(FrameType.PING, 0, 0, KEEPALIVE_PING)),
        close: (reason) => {
          opts.onError?.(new Error(reason));
          this.close(reason);
        },
      });
    }
  }

  /** Number of streams in progress. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * Serves the connection until the peer closes it or it fails, and its
   * last frames (a GOAWAY) were written or given up on (limits.ts
   * CLOSE_GRACE_MS): a caller closing the socket after this cuts nothing
   * off. `initial` holds bytes already read from the socket (the sniffed
   * preface).
   */
  async run(initial: Uint8Array = new Uint8Array(0)): Promise<void> {
    this.sendPreamble();
    this.#pinger?.start();
    this.#idleSince = performance.now();
    this.#armIdle(this.#idleTimeoutMs);
    const pinger = this.#pinger;
    const err = await this.readFrames(initial, CLIENT_PREFACE, pinger && (() => pinger.read()));
    if (err !== undefined) this.#opts.onError?.(err as Error);
    // The peer closed (or the socket failed): nothing to linger for.
    if (this.isClosed) this.writer.destroy();
    else this.#close("connection closed", false);
    await this.writer.closed;
  }

  /**
   * Ends the connection: aborts open streams, sends what is pending, and
   * closes the socket once the peer closed its side or CLOSE_GRACE_MS
   * passed (so a GOAWAY reaches even a peer that was not reading).
   */
  close(reason = "connection closed"): void {
    this.#close(reason, true);
  }

  #close(reason: string, linger: boolean): void {
    if (this.isClosed) return;
    this.markClosed();
    this.#pinger?.stop();
    clearTimeout(this.#idleTimer);
    for (const s of this.streams.values()) s.abort(reason);
    this.streams.clear();
    this.writer.end(linger);
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

  /**
   * Sends GOAWAY with `code` and closes: for a connection the listener
   * gives up (idle, or making room under the connection cap).
   */
  goAway(code: number, debug: string): void {
    if (this.isClosed) return;
    this.writer.send(goawayFrame(this.#lastStreamId, code, debug));
    this.close(debug);
  }

  #armIdle(ms: number): void {
    this.#idleTimer = setTimeout(() => this.#checkIdle(), ms);
  }

  #checkIdle(): void {
    if (this.isClosed) return;
    if (this.streams.size > 0) return this.#armIdle(this.#idleTimeoutMs);
    const idleFor = performance.now() - this.#idleSince;
    if (idleFor < this.#idleTimeoutMs) return this.#armIdle(this.#idleTimeoutMs - idleFor);
    this.goAway(ErrorCode.NO_ERROR, "idle timeout");
  }

  // --- H2Session: the server's side of frame handling ---

  /** @inheritdoc */
  protected onPing(b: Uint8Array, start: number): void {
    const ack = this.pingAck(b, start);
    // gRPC clients PING after every burst of DATA they receive (to size
    // their windows from the round trip), just before sending their next
    // calls. On a connection of unary calls the answer rides along with
    // the next response instead of costing a write of its own (half of all
    // socket writes under load). Where a client streams (a Watch), it goes
    // at once: a late answer inflates the client's bandwidth estimate, it
    // opens its windows wider, and event delivery crowds out everything
    // else (puts/s beside 1,000 watchers halved).
    if (this.#hasOpenRequest()) this.control(ack);
    else this.controlLazy(ack, PING_ACK_DELAY_MS);
    this.#enforcePingPolicy();
  }

  /** @inheritdoc */
  protected onPingAck(): void {
    // Any bytes read count as an answer to the keepalive (IdlePinger.read).
  }

  /** A client PING arrived: one too many (keepalive.ts) sends the client away. */
  #enforcePingPolicy(): void {
    if (!this.#pingPolicy?.ping(performance.now(), this.streams.size)) return;
    this.fail(new LimitError(ErrorCode.ENHANCE_YOUR_CALM, "too_many_pings"));
  }

  /** Whether a stream's request side is still open (a client-streaming or bidi call). */
  #hasOpenRequest(): boolean {
    for (const s of this.streams.values()) if (!s.remoteEnded) return true;
    return false;
  }

  /** @inheritdoc */
  protected onGoaway(): void {
    this.#peerGoaway = true;
    if (this.streams.size === 0) this.close("peer sent GOAWAY");
  }

  /** @inheritdoc */
  protected onUnknownData(id: number): void {
    if (id > this.#lastStreamId) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
    }
    // A stream we already closed or reset: the data is dropped.
  }

  /** @inheritdoc */
  protected onData(s: H2Stream, b: Uint8Array, start: number, end: number, last: boolean): void {
    if (s.endSeen) {
      this.countReset();
      this.reset(s, ErrorCode.STREAM_CLOSED);
      return;
    }
    s.receiveAt(b, start, end, last, this.answersBlocked(s));
    if (s.inputPaused) this.#paused.add(s);
  }

  /** Delivers input held back on `s` once its answers can leave (see H2Stream.receive). */
  #resume(s: H2Stream): void {
    s.resumeInput(() => this.answersBlocked(s));
    if (!s.inputPaused) this.#paused.delete(s);
  }

  /** @inheritdoc */
  protected override onDrained(): void {
    if (this.#paused.size === 0) return;
    for (const s of [...this.#paused]) if (!this.answersBlocked(s)) this.#resume(s);
  }

  /** @inheritdoc */
  protected onHeaders(id: number, flags: number, fields: HeaderField[] | undefined): void {
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.streams.get(id);
    if (existing) {
      if (fields === undefined) {
        this.#tooLarge(id, "request trailers");
        this.reset(existing, ErrorCode.ENHANCE_YOUR_CALM);
        return;
      }
      // Trailers: they must end the request.
      if (!endStream || existing.endSeen) {
        this.countReset();
        this.reset(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      existing.receive(EMPTY, true, this.answersBlocked(existing));
      if (existing.inputPaused) this.#paused.add(existing);
      return;
    }
    if (id <= this.#lastStreamId) {
      // A stream we already closed (or reset): nothing to do but say so.
      this.countReset();
      this.control(frameU32(FrameType.RST_STREAM, id, ErrorCode.STREAM_CLOSED));
      return;
    }
    if (id % 2 === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "even stream id");
    this.#lastStreamId = id;
    if (this.#peerGoaway || this.isClosed) return;
    if (fields === undefined) {
      // Refused before anything was built from it: a 431, as Go's server answers.
      this.#tooLarge(id, "request headers");
      this.sendHeaderBlock(id, STATUS_431, true);
      if (!endStream) this.control(frameU32(FrameType.RST_STREAM, id, ErrorCode.NO_ERROR));
      return;
    }
    if (this.streams.size >= this.#maxStreams) {
      this.countReset();
      this.control(frameU32(FrameType.RST_STREAM, id, ErrorCode.REFUSED_STREAM));
      return;
    }
    const stream = new H2Stream(
      id,
      fields,
      this.peerInitialWindow,
      this.initialRecvWindow(),
      this,
      endStream,
    );
    if (!stream.method || !stream.path) {
      this.countReset();
      this.control(frameU32(FrameType.RST_STREAM, id, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    this.streams.set(id, stream);
    this.#opts.onStream(stream);
    if (endStream) stream.endRemote();
  }

  /**
   * A header list over the limit: counted as a reset, and logged for the
   * first stream only (a flood of them ends at the reset limit, with a
   * line of its own).
   */
  #tooLarge(id: number, what: string): void {
    this.countReset();
    if (this.#reportedTooLarge) return;
    this.#reportedTooLarge = true;
    this.report(
      new LimitError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `${what} of stream ${id} larger than the header list limit`,
        id,
      ),
    );
  }

  /** @inheritdoc */
  protected onPeerReset(s: H2Stream): void {
    this.#forget(s);
    s.abort("stream reset by the client");
  }

  /** @inheritdoc */
  protected streamError(s: H2Stream, code: number): void {
    this.reset(s, code);
  }

  /** @inheritdoc */
  protected receiving(s: H2Stream): boolean {
    return !s.endSeen;
  }

  /** @inheritdoc */
  protected onQueueDrained(s: H2Stream): void {
    if (s.inputPaused && !this.answersBlocked(s)) this.#resume(s);
    if (s.localEnded && s.queue.length === 0 && !s.aborted && this.streams.has(s.id)) {
      s.finishedSending();
    }
  }

  /** @inheritdoc */
  protected lastPeerStreamId(): number {
    return this.#lastStreamId;
  }

  /** @inheritdoc */
  protected closeAfterGoaway(reason: string): void {
    this.close(reason);
  }

  /** @inheritdoc */
  protected report(err: Error): void {
    this.#opts.onError?.(err);
  }

  /** @inheritdoc */
  protected writeFailed(err: Error): void {
    if (!this.isClosed) this.#opts.onError?.(err);
    this.close("write failed");
  }

  /** Headers or data going out forgive a client's PINGs (see keepalive.ts). */
  protected override wroteStreamFrame(): void {
    this.#pingPolicy?.wrote();
  }

  // --- StreamHost: writing on behalf of streams ---

  /** @inheritdoc */
  sendHeaders(stream: H2Stream, block: Uint8Array, endStream: boolean): void {
    this.sendHeaderBlock(stream.id, block, endStream);
  }

  /** @inheritdoc */
  reset(stream: H2Stream, code: number): void {
    if (!this.streams.has(stream.id)) return;
    this.#forget(stream);
    this.control(frameU32(FrameType.RST_STREAM, stream.id, code));
    if (code !== ErrorCode.NO_ERROR) stream.abort("stream reset by the server");
  }

  /** @inheritdoc */
  written(): Promise<void> {
    return this.writer.written();
  }

  /** @inheritdoc */
  consumed(stream: H2Stream, bytes: number): void {
    this.consume(stream, bytes);
  }

  /** @inheritdoc */
  closed(stream: H2Stream): void {
    this.#forget(stream);
  }

  #forget(stream: H2Stream): void {
    if (!this.dropStream(stream)) return;
    this.#paused.delete(stream);
    if (this.streams.size > 0) return;
    this.#idleSince = performance.now();
    if (this.#peerGoaway) this.close("peer sent GOAWAY");
  }
}

const EMPTY = new Uint8Array(0);
