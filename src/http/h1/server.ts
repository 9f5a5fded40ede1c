/**
 * cairn's HTTP/1.1 server: serves the HTTP/1.x requests of one client-port
 * connection directly on the connection the protocol sniffer handed over
 * (cleartext, TLS or a Unix socket), one request at a time, in order:
 * keep-alive, pipelining (requests read ahead wait in the buffer),
 * Content-Length and chunked request bodies, `Expect: 100-continue`, and
 * responses with a Content-Length when their body is known at once, else
 * chunked (HTTP/1.0: until close). Streaming responses are written piece by
 * piece as the handler produces them.
 *
 * Bounds (DESIGN.md rule 6): the request head ({@link MAX_HEAD_BYTES}, 431),
 * the time a head may take once begun ({@link HEAD_TIMEOUT_MS}), idle
 * keep-alive time ({@link IDLE_TIMEOUT_MS}), stalls mid-body
 * (`BODY_STALL_MS`), bytes read ahead (one head's bound), and the unread
 * rest of a body dropped to reuse the connection ({@link MAX_DISCARD_BYTES}).
 * Body sizes are bounded by the handlers, which know their message limits.
 *
 * @module
 */
import { IDLE_TIMEOUT_MS } from "../h2/limits.ts";
import type { StreamConn } from "../net.ts";
import { BodyError, RequestBody } from "./body.ts";
import { ReadBuffer } from "./conn.ts";
import { findHeadEnd, HeadError, MAX_HEAD_BYTES, parseHead, type RequestHead } from "./head.ts";
import { encodeHead, statusText } from "./status.ts";

export { IDLE_TIMEOUT_MS, MAX_HEAD_BYTES };

/** Once a request's first byte arrived, its whole head must arrive within this (slowloris). */
export const HEAD_TIMEOUT_MS = 30_000;

/** A write the client does not take in within this closes the connection (it stopped reading). */
export const WRITE_STALL_MS = 60_000;

/**
 * The most of a body the handler left unread that is read and dropped to
 * keep the connection (Go's net/http drops up to the same 256 KiB); past
 * it the connection is closed instead.
 */
export const MAX_DISCARD_BYTES = 256 * 1024;

/** One request as handlers see it. */
export interface Http1Request {
  readonly method: string;
  /** The request target as sent: `/path?query` (or absolute form, or `*`). */
  readonly target: string;
  /** "1.1" or "1.0". */
  readonly httpVersion: string;
  /** Header fields in order, names lower-cased. */
  readonly fields: ReadonlyArray<[string, string]>;
  /** The first value of a header field (name in lower case). */
  header(name: string): string | undefined;
  /** False when the request has no body (no Content-Length and not chunked, or length 0). */
  readonly hasBody: boolean;
  /**
   * The whole body if it has already arrived and nothing of it was read
   * yet (the usual small request: no await, one copy); else undefined.
   */
  takeBufferedBody(): Uint8Array | undefined;
  /** The body, read on demand. */
  readonly body: AsyncIterable<Uint8Array>;
  /** Aborted when the client goes away or the response cannot be written (made on first use). */
  readonly signal: AbortSignal;
  /**
   * Runs `fn` once when the client goes away or the response cannot be
   * written (at once if that happened already); the returned function
   * unregisters it. Cheaper than listening on {@link signal}.
   */
  whenGone(fn: () => void): () => void;
  /** The connection's remote address ("ip:port", or "unix"). */
  readonly remote: string;
  /** The client's verified TLS certificate (DER), if it showed one. */
  readonly peerCertificate?: Uint8Array;
}

/** Header fields of a response: web `Headers` or name/value pairs. */
export type HeaderFields = Headers | ReadonlyArray<readonly [string, string]>;

/** What a handler answers. */
export interface Http1Response {
  status: number;
  header?: HeaderFields;
  /** Bytes known at once, or pieces as they come; none means an empty body. */
  body?: Uint8Array | AsyncIterable<Uint8Array> | null;
  /** Trailer fields (sent with a chunked body). */
  trailer?: Headers;
}

/** Serves one request. */
export type Http1Handler = (req: Http1Request) => Http1Response | Promise<Http1Response>;

/** Options of {@link serveHttp1}. */
export interface Http1Options {
  /** Told when the connection turns idle (waiting for a request) or busy. */
  onIdle?(idle: boolean): void;
}

/** Serves HTTP/1.x requests on `conn`, whose first bytes `first` were already read. */
export async function serveHttp1(
  conn: StreamConn,
  first: Uint8Array,
  handler: Http1Handler,
  opts: Http1Options = {},
): Promise<void> {
  const rb = new ReadBuffer(conn, first);
  try {
    await serveRequests(rb, handler, opts);
  } finally {
    rb.release();
  }
}

async function serveRequests(rb: ReadBuffer, handler: Http1Handler, opts: Http1Options) {
  const conn = rb.conn;
  for (;;) {
    opts.onIdle?.(true);
    let head: RequestHead | undefined;
    try {
      head = await readHead(rb);
    } catch (err) {
      if (err instanceof HeadError) await writeAll(conn, errorResponse(err)).catch(() => {});
      return;
    } finally {
      opts.onIdle?.(false);
    }
    if (head === undefined) return;
    if (!(await serveOne(rb, head, handler))) return;
  }
}

/** The next request head; undefined when the client closed (or timed out) between requests. */
async function readHead(rb: ReadBuffer): Promise<RequestHead | undefined> {
  let scanned = 0;
  let armedIdle: boolean | undefined;
  try {
    for (;;) {
      const from = rb.start + Math.max(0, scanned - 2);
      const end = findHeadEnd(rb.buf, from, rb.end);
      if (end >= 0) {
        const from = rb.start;
        rb.start = end;
        return parseHead(rb.buf, from, end);
      }
      if (rb.buffered > MAX_HEAD_BYTES) {
        throw new HeadError(431, "Request Header Fields Too Large");
      }
      scanned = rb.buffered;
      // Idle until the request's first byte, then the head's own bound.
      const idle = rb.buffered === 0;
      if (armedIdle === undefined || (armedIdle && !idle)) {
        rb.deadline.arm(idle ? IDLE_TIMEOUT_MS : HEAD_TIMEOUT_MS);
        armedIdle = idle;
      }
      if (!(await rb.fill())) return undefined;
    }
  } finally {
    rb.deadline.disarm();
  }
}

/** Serves one request; false when the connection must close afterwards. */
async function serveOne(
  rb: ReadBuffer,
  head: RequestHead,
  handler: Http1Handler,
): Promise<boolean> {
  const conn = rb.conn;
  let continued = false;
  const body = new RequestBody(
    rb,
    head.bodyLength,
    head.expectContinue
      ? () => {
        continued = true;
        void writeAll(conn, CONTINUE).catch(() => {});
      }
      : undefined,
  );
  const req = new Request1(head, body, conn);
  // Read ahead once the body is in: the next request's bytes, or the end
  // of a client that left (which aborts this request).
  let watching = true;
  const watch = () => {
    if (!watching || !body.complete || rb.reading || rb.ended || rb.buffered >= MAX_HEAD_BYTES) {
      return;
    }
    rb.fill().then((more) => {
      if (!more) req.gone();
      else watch();
    });
  };

  let res: Http1Response;
  try {
    const pending = handler(req);
    watch();
    res = await pending;
  } catch {
    res = { status: 500, body: INTERNAL_ERROR };
  }
  let keep = head.keepAlive;
  try {
    keep = await writeResponse(rb, head, res, req, keep, () => watch());
  } catch {
    keep = false;
  } finally {
    watching = false;
  }
  if (req.isGone || body.failed || rb.ended) return false;
  // A client told to wait for 100 Continue that never got it sends no body.
  if (head.expectContinue && !continued && !body.complete) return false;
  if (!keep) return false;
  if (!body.complete && !(await body.discard(MAX_DISCARD_BYTES))) return false;
  return true;
}

/** The client went away (or a write failed): what aborted requests see. */
const GONE = new DOMException("the client went away", "AbortError");
const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
const INTERNAL_ERROR = new TextEncoder().encode("Internal Server Error");
const CRLF = new TextEncoder().encode("\r\n");
const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");

/** {@link Http1Request} over a parsed head. */
class Request1 implements Http1Request {
  readonly method: string;
  readonly target: string;
  readonly httpVersion: string;
  readonly fields: ReadonlyArray<[string, string]>;
  readonly hasBody: boolean;
  readonly remote: string;
  readonly peerCertificate?: Uint8Array;
  readonly #body: RequestBody;
  #started = false;
  #aborter: AbortController | undefined;
  #gone = false;
  #onGone: Array<() => void> | undefined;

  constructor(head: RequestHead, body: RequestBody, conn: StreamConn) {
    this.method = head.method;
    this.target = head.target;
    this.httpVersion = head.minor === 1 ? "1.1" : "1.0";
    this.fields = head.fields;
    this.hasBody = head.bodyLength !== 0;
    this.#body = body;
    this.remote = conn.remote;
    this.peerCertificate = conn.peerCertificate;
  }

  header(name: string): string | undefined {
    for (const [n, v] of this.fields) if (n === name) return v;
    return undefined;
  }

  get signal(): AbortSignal {
    if (!this.#aborter) {
      this.#aborter = new AbortController();
      if (this.#gone) this.#aborter.abort(GONE);
    }
    return this.#aborter.signal;
  }

  /** True once the client went away (or a write failed). */
  get isGone(): boolean {
    return this.#gone;
  }

  whenGone(fn: () => void): () => void {
    if (this.#gone) {
      fn();
      return () => {};
    }
    (this.#onGone ??= []).push(fn);
    return () => {
      const list = this.#onGone;
      const i = list ? list.indexOf(fn) : -1;
      if (i >= 0) list!.splice(i, 1);
    };
  }

  /** The client went away: abort the signal, tell the listeners (once). */
  gone(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#aborter?.abort(GONE);
    const list = this.#onGone;
    this.#onGone = undefined;
    if (list) { for (const fn of list) fn(); }
  }

  takeBufferedBody(): Uint8Array | undefined {
    if (this.#started) return undefined;
    if (!this.hasBody) return new Uint8Array(0);
    const all = this.#body.takeBuffered();
    if (all) this.#started = true;
    return all;
  }

  get body(): AsyncIterable<Uint8Array> {
    this.#started = true;
    return this.#body;
  }
}

/** Statuses whose responses never have a body. */
function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * Writes `res`; resolves whether the connection may serve another request.
 * `onHeadSent` runs once the head is out (the read-ahead may start).
 */
async function writeResponse(
  rb: ReadBuffer,
  head: RequestHead,
  res: Http1Response,
  req: Request1,
  keepAlive: boolean,
  onHeadSent: () => void,
): Promise<boolean> {
  const noBody = head.method === "HEAD" || bodyless(res.status);
  const out = (bytes: Uint8Array) => boundedWrite(rb, bytes);
  // HTTP/1.0 keeps the connection only when asked and the length is known.
  let close = !keepAlive;
  const body = res.body;
  let bytes: Uint8Array | undefined;
  let pieces: AsyncIterator<Uint8Array> | undefined;
  if (body == null) bytes = EMPTY;
  else if (body instanceof Uint8Array) bytes = body;
  else pieces = body[Symbol.asyncIterator]();

  let first: Uint8Array | undefined;
  let next: Promise<IteratorResult<Uint8Array>> | undefined;
  if (pieces && !noBody) {
    // A body that ends at once (a static one) gets a Content-Length.
    const r = await pieces.next();
    if (r.done) bytes = EMPTY;
    else {
      first = r.value;
      next = pieces.next();
      const quick = await settledNow(next);
      if (quick !== PENDING && quick.done) {
        bytes = first;
        first = undefined;
        next = undefined;
      }
    }
  }
  if (pieces && noBody) {
    pieces.return?.().catch(() => {});
    pieces = undefined;
  }

  const chunked = bytes === undefined && !noBody && head.minor === 1;
  if (bytes === undefined && !noBody && !chunked) close = true;
  let text = `HTTP/1.${head.minor} ${res.status} ${statusText(res.status)}\r\n`;
  forEachField(res.header, (name, value) => {
    if (name === "connection" || name === "transfer-encoding" || name === "keep-alive") return;
    // The length is the body's own; only a HEAD answer without one passes the handler's on.
    if (name === "content-length" && (bytes !== undefined || !noBody)) return;
    text += `${name}: ${value}\r\n`;
  });
  if (!bodyless(res.status)) {
    if (bytes !== undefined) text += `content-length: ${bytes.length}\r\n`;
    else if (chunked) text += "transfer-encoding: chunked\r\n";
  }
  if (close) text += "connection: close\r\n";
  else if (head.minor === 0) text += "connection: keep-alive\r\n";

  try {
    if (bytes !== undefined || noBody) {
      // Head and body in one write.
      await out(encodeHead(text, noBody ? undefined : bytes));
      onHeadSent();
      return !close;
    }
    // Streaming: each piece goes out as it comes.
    await out(encodeHead(text, frame(first!, chunked)));
    onHeadSent();
    for (;;) {
      const r = await next!;
      if (r.done) break;
      if (r.value.length > 0) await out(frame(r.value, chunked));
      next = pieces!.next();
    }
    if (chunked) await out(trailerBlock(res.trailer));
    return !close;
  } catch (err) {
    req.gone();
    pieces?.return?.().catch(() => {});
    throw err;
  }
}

const EMPTY = new Uint8Array(0);
const PENDING = Symbol("pending");

/**
 * Microtask turns a body's end gets to show up. The end of a static body
 * (a Response made from bytes or a string, a Connect unary answer) comes
 * within two; a streaming body's next piece waits on I/O or timers.
 */
const QUICK_TURNS = 8;

/**
 * `p`'s result if it settles within a few microtask turns (a static
 * body's end does), else PENDING; a rejection counts as pending (it is
 * met later). No timer: under load a zero-delay timer takes milliseconds.
 */
async function settledNow<T>(p: Promise<T>): Promise<T | typeof PENDING> {
  let result: { v: T } | undefined;
  p.then((v) => result = { v }, () => {});
  for (let i = 0; i < QUICK_TURNS && result === undefined; i++) await null;
  return result === undefined ? PENDING : result.v;
}

function forEachField(h: HeaderFields | undefined, fn: (name: string, value: string) => void) {
  if (h === undefined) return;
  if (h instanceof Headers) h.forEach((value, name) => fn(name, value));
  else for (const [name, value] of h) fn(name.toLowerCase(), value);
}

function frame(piece: Uint8Array, chunked: boolean): Uint8Array {
  if (!chunked) return piece;
  const size = new TextEncoder().encode(`${piece.length.toString(16)}\r\n`);
  const out = new Uint8Array(size.length + piece.length + 2);
  out.set(size);
  out.set(piece, size.length);
  out.set(CRLF, size.length + piece.length);
  return out;
}

function trailerBlock(trailer: Headers | undefined): Uint8Array {
  if (trailer === undefined) return LAST_CHUNK;
  let text = "0\r\n";
  trailer.forEach((value, name) => text += `${name}: ${value}\r\n`);
  return new TextEncoder().encode(text + "\r\n");
}

/** Go's answer to a request it cannot parse: the status line as body, then close. */
function errorResponse(err: HeadError): Uint8Array {
  const text = `${err.status} ${err.message}`;
  return new TextEncoder().encode(
    `HTTP/1.1 ${text}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `connection: close\r\ncontent-length: ${text.length}\r\n\r\n${text}`,
  );
}

/** Writes all of `bytes`, closing the connection if the client takes longer than {@link WRITE_STALL_MS}. */
async function boundedWrite(rb: ReadBuffer, bytes: Uint8Array): Promise<void> {
  rb.writeDeadline.arm(WRITE_STALL_MS);
  try {
    await writeAll(rb.conn, bytes);
  } finally {
    rb.writeDeadline.disarm();
  }
}

async function writeAll(conn: StreamConn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

export { BodyError };
