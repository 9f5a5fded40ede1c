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
 * (`BODY_STALL_MS`), writes the client does not take in
 * ({@link WRITE_STALL_MS}), bytes read ahead (one head's bound), and the
 * unread rest of a body dropped to reuse the connection
 * ({@link MAX_DISCARD_BYTES}). The request object is `request.ts`, the
 * writing of answers `response.ts`.
 * Body sizes are bounded by the handlers, which know their message limits.
 *
 * @module
 */
import { IDLE_TIMEOUT_MS } from "../h2/limits.ts";
import type { StreamConn } from "../net.ts";
import { BodyError, RequestBody } from "./body.ts";
import { ReadBuffer } from "./conn.ts";
import { findHeadEnd, HeadError, MAX_HEAD_BYTES, parseHead, type RequestHead } from "./head.ts";
import { Request1 } from "./request.ts";
import { WRITE_STALL_MS, writeAll, writeResponse } from "./response.ts";
import type { Http1Handler, Http1Response } from "./types.ts";

export type { HeaderFields, Http1Handler, Http1Request, Http1Response } from "./types.ts";
export { IDLE_TIMEOUT_MS, MAX_HEAD_BYTES, WRITE_STALL_MS };

/** Once a request's first byte arrived, its whole head must arrive within this (slowloris). */
export const HEAD_TIMEOUT_MS = 30_000;

/**
 * The most of a body the handler left unread that is read and dropped to
 * keep the connection (Go's net/http drops up to the same 256 KiB); past
 * it the connection is closed instead.
 */
export const MAX_DISCARD_BYTES = 256 * 1024;

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
    keep = await writeResponse(rb, head, res, () => req.gone(), keep, () => watch());
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

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
const INTERNAL_ERROR = new TextEncoder().encode("Internal Server Error");

/** Go's answer to a request it cannot parse: the status line as body, then close. */
function errorResponse(err: HeadError): Uint8Array {
  const text = `${err.status} ${err.message}`;
  return new TextEncoder().encode(
    `HTTP/1.1 ${text}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `connection: close\r\ncontent-length: ${text.length}\r\n\r\n${text}`,
  );
}

export { BodyError };
