/**
 * One HTTP/2 request/response exchange on the server (client and peer ports): the
 * request's header fields and body as they arrive, and the response sent
 * back under the connection's flow control.
 *
 * @module
 */
import { ErrorCode } from "./frames.ts";
import type { HeaderField } from "./hpack.ts";
import { FlowStream } from "./session.ts";

export type { Outgoing } from "./session.ts";

/** What a stream needs from its connection. */
export interface StreamHost {
  /** Sends a header block (HEADERS, CONTINUATION when needed). */
  sendHeaders(stream: H2Stream, block: Uint8Array, endStream: boolean): void;
  /** Frames as much queued data of `stream` as the windows allow. */
  pump(stream: H2Stream): void;
  /**
   * Frames `data` at once when nothing of `stream` is queued and the
   * windows take it whole; false (nothing sent) means queue it.
   */
  sendNow(stream: H2Stream, data: Uint8Array, end: boolean): boolean;
  /** {@link sendNow} of `b[start, end)`, copied: `b` may be reused once it returns. */
  sendNowAt(stream: H2Stream, b: Uint8Array, start: number, end: number, last: boolean): boolean;
  /** Sends RST_STREAM and forgets the stream. */
  reset(stream: H2Stream, code: number): void;
  /** `bytes` of the request body were consumed: the peer may send as many more. */
  consumed(stream: H2Stream, bytes: number): void;
  /** The stream finished in both directions. */
  closed(stream: H2Stream): void;
  /** Resolves once everything queued on the connection so far was handed to the socket. */
  written(): Promise<void>;
}

/** The request side's listeners: set them synchronously when the stream is handed over. */
export interface StreamListener {
  data?(chunk: Uint8Array): void;
  /**
   * Body bytes as `b[start, end)`, a view of the connection's read buffer
   * that is only valid during the call (the listener copies what it keeps).
   * When present it is preferred to `data`: a listener that assembles a
   * message copies each DATA frame once instead of twice. Input held back
   * while answers are blocked still arrives through `data`.
   */
  dataAt?(b: Uint8Array, start: number, end: number): void;
  end?(): void;
  /** The peer reset the stream or the connection ended before the exchange finished. */
  abort?(reason: string): void;
}

const EMPTY = new Uint8Array(0);

/** The listener of a stream nobody listens to yet (shared: one object fewer per stream). */
const NO_LISTENER: StreamListener = Object.freeze({});

/** A server-side HTTP/2 stream (its flow-control state is the {@link FlowStream} part). */
export class H2Stream extends FlowStream {
  /** Request header fields in wire order. */
  readonly fields: HeaderField[];
  /** The request's `:path`. */
  readonly path: string;
  /** The request's `:method`. */
  readonly method: string;
  /** Listener for request body, end and abort. */
  listener: StreamListener = NO_LISTENER;
  #remoteEnded = false;
  #endSeen = false;
  /** Request input held back (see receive), END_STREAM among it. */
  #pausedIn: Uint8Array[] | undefined;
  #pausedEnd = false;
  #resuming = false;
  #localEnded = false;
  #headersSent = false;
  #aborted = false;
  #controller: AbortController | undefined;

  constructor(
    id: number,
    fields: HeaderField[],
    initialSendWindow: number,
    initialRecvWindow: number,
    private readonly host: StreamHost,
    /** The request's HEADERS carried END_STREAM (endRemote follows the handler's setup). */
    private readonly bodyless = false,
  ) {
    super(id, initialSendWindow, initialRecvWindow);
    this.fields = fields;
    let path = "";
    let method = "";
    // Indexed loops here and in header(): destructuring for-of made an
    // iterator per call, and header() runs several times per request.
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i];
      if (f[0] === ":path") path = f[1];
      else if (f[0] === ":method") method = f[1];
    }
    this.path = path;
    this.method = method;
  }

  /** First value of request header `name` (lowercase), if present. */
  header(name: string): string | undefined {
    const fields = this.fields;
    for (let i = 0; i < fields.length; i++) if (fields[i][0] === name) return fields[i][1];
    return undefined;
  }

  /** True once the request body has ended. */
  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  /** True once the response has ended (or the stream was reset). */
  get localEnded(): boolean {
    return this.#localEnded;
  }

  /** True when the response headers went out. */
  get headersSent(): boolean {
    return this.#headersSent;
  }

  /** True when the stream was reset or its connection lost. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Aborted when the stream is reset or its connection lost. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#aborted) this.#controller.abort();
    return this.#controller.signal;
  }

  /** Sends the response header block; `endStream` makes it the whole response. */
  respond(block: Uint8Array, endStream = false): void {
    if (this.#localEnded || this.#headersSent) return;
    this.#headersSent = true;
    if (endStream) this.#localEnded = true;
    this.host.sendHeaders(this, block, endStream);
    if (endStream) this.#finishLocal();
  }

  /**
   * Queues response body bytes; resolves once they were handed to the
   * connection (so a producer awaiting it follows the peer's window).
   */
  write(data: Uint8Array, end = false): Promise<void> {
    if (this.#localEnded) return Promise.resolve();
    if (end) this.#localEnded = true;
    this.queuedBytes += data.length;
    const p = new Promise<void>((done) => this.queue.push({ data, offset: 0, end, done }));
    this.host.pump(this);
    return p;
  }

  /**
   * Resolves once the body bytes framed so far were handed to the socket
   * (or dropped with the connection): a producer may then reuse the
   * buffers it wrote, whose {@link write} promises have settled.
   */
  written(): Promise<void> {
    return this.host.written();
  }

  /** Queues body bytes without waiting (small, final responses). */
  writeNow(data: Uint8Array, end = false): void {
    if (this.#localEnded) return;
    if (end) this.#localEnded = true;
    // Framed at once when nothing waits and the windows allow (a unary
    // reply, nearly always): no queue entry made and dropped.
    if (!this.host.sendNow(this, data, end)) {
      this.queuedBytes += data.length;
      this.queue.push({ data, offset: 0, end });
    }
    this.host.pump(this);
  }

  /**
   * {@link writeNow} of `b[start, end)`, copied (framed at once, or queued
   * as a copy): `b` may be reused as soon as this returns.
   */
  writeNowAt(b: Uint8Array, start: number, end: number): void {
    if (this.#localEnded) return;
    if (!this.host.sendNowAt(this, b, start, end, false)) {
      this.queuedBytes += end - start;
      this.queue.push({ data: b.slice(start, end), offset: 0, end: false });
    }
    this.host.pump(this);
  }

  /** Ends the response with a trailer block (after any queued data). */
  sendTrailers(block: Uint8Array): void {
    if (this.#localEnded) return;
    this.#localEnded = true;
    // With nothing queued before them the trailers go at once, as the
    // pump would send them.
    if (this.queue.length === 0) this.host.sendHeaders(this, block, true);
    else this.queue.push({ trailers: block, offset: 0, end: true });
    this.host.pump(this);
  }

  /** Ends the response with an empty DATA frame carrying END_STREAM. */
  end(): void {
    this.writeNow(new Uint8Array(0), true);
  }

  /** Abandons the exchange with RST_STREAM. */
  reset(code: number = ErrorCode.CANCEL): void {
    if (this.#aborted) return;
    this.#localEnded = true;
    this.host.reset(this, code);
  }

  /**
   * Tells the connection `bytes` of request body were consumed: the client
   * may send that many more (flow control). Body not consumed holds the
   * client back, which is how a slow handler limits what it is sent.
   */
  consumed(bytes: number): void {
    if (bytes > 0) this.host.consumed(this, bytes);
  }

  /** True once END_STREAM arrived from the peer, delivered or still held back. */
  get endSeen(): boolean {
    return this.#endSeen;
  }

  /** True while request input is held back (see {@link receive}). */
  get inputPaused(): boolean {
    return this.#pausedIn !== undefined;
  }

  /**
   * Connection side: body bytes (and END_STREAM) arrived. With `pause`, or
   * while earlier input waits, they wait too: the connection holds a
   * request's input back while its answers cannot leave, so a client that
   * does not read cannot make the handler work on (a Watch stream fed
   * creates would otherwise build watchers without end). Held input still
   * counts against the flow-control windows.
   */
  receive(chunk: Uint8Array, end: boolean, pause = false): void {
    if (this.#endSeen || this.#remoteEnded) return;
    if (end) this.#endSeen = true;
    if (pause || this.#pausedIn) {
      const held = this.#pausedIn ??= [];
      if (chunk.length > 0) held.push(chunk);
      if (end) this.#pausedEnd = true;
      return;
    }
    if (chunk.length > 0) this.listener.data?.(chunk);
    if (end) this.endRemote();
  }

  /**
   * Connection side: body bytes `b[start, end)` (a view of the read buffer)
   * and END_STREAM arrived, as {@link receive}; handed over without a copy
   * when the listener takes views and nothing is held back.
   */
  receiveAt(b: Uint8Array, start: number, end: number, last: boolean, pause: boolean): void {
    const listener = this.listener;
    if (
      listener.dataAt === undefined || pause || this.#pausedIn || this.#endSeen ||
      this.#remoteEnded
    ) {
      return this.receive(end > start ? b.slice(start, end) : EMPTY, last, pause);
    }
    if (last) this.#endSeen = true;
    if (end > start) listener.dataAt(b, start, end);
    if (last) this.endRemote();
  }

  /** Connection side: delivers held input for as long as `blocked()` stays false. */
  resumeInput(blocked: () => boolean): void {
    const held = this.#pausedIn;
    if (held === undefined || this.#resuming) return;
    this.#resuming = true;
    try {
      while (held.length > 0) {
        if (blocked() || this.#aborted) return;
        this.listener.data?.(held.shift()!);
      }
      this.#pausedIn = undefined;
      if (this.#pausedEnd && !this.#aborted) this.endRemote();
    } finally {
      this.#resuming = false;
    }
  }

  /** Connection side: the request ended. */
  endRemote(): void {
    if (this.#remoteEnded) return;
    this.#remoteEnded = true;
    this.#endSeen = true;
    this.listener.end?.();
    if (this.#localEnded && this.queue.length === 0) this.host.closed(this);
  }

  /** Connection side: the peer reset the stream or the connection is gone. */
  abort(reason: string): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#localEnded = true;
    this.#remoteEnded = true;
    this.#endSeen = true;
    this.#pausedIn = undefined;
    for (const o of this.queue) o.done?.();
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.#controller?.abort();
    this.listener.abort?.(reason);
  }

  /** Connection side: everything queued has gone out and the response ended. */
  finishedSending(): void {
    this.#finishLocal();
  }

  #finishLocal(): void {
    if (this.#remoteEnded || this.bodyless) {
      this.host.closed(this);
    } else {
      // The response is complete before the request: tell the peer to stop
      // sending (gRPC servers do the same), as RFC 9113 §8.1 allows.
      this.host.reset(this, ErrorCode.NO_ERROR);
    }
  }
}
