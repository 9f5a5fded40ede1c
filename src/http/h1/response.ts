/**
 * Writing one HTTP/1.x answer: a body known at once (or ending within a
 * few microtask turns) goes out with its Content-Length in the same write
 * as the head; a streaming one goes out chunked (HTTP/1.0: until close),
 * each piece as it comes, then the trailers. Every write is bounded in
 * time ({@link WRITE_STALL_MS}).
 *
 * @module
 */
import type { StreamConn } from "../net.ts";
import type { ReadBuffer } from "./conn.ts";
import type { RequestHead } from "./head.ts";
import { encodeHead, statusText } from "./status.ts";
import type { HeaderFields, Http1Response } from "./types.ts";

/** A write the client does not take in within this closes the connection (it stopped reading). */
export const WRITE_STALL_MS = 60_000;

const CRLF = new TextEncoder().encode("\r\n");
const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");

/** Statuses whose responses never have a body. */
function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * Writes `res`; resolves whether the connection may serve another request.
 * `onHeadSent` runs once the head is out (the read-ahead may start).
 */
export async function writeResponse(
  rb: ReadBuffer,
  head: RequestHead,
  res: Http1Response,
  onFail: () => void,
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
    onFail();
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

/** Writes all of `bytes`, closing the connection if the client takes longer than {@link WRITE_STALL_MS}. */
async function boundedWrite(rb: ReadBuffer, bytes: Uint8Array): Promise<void> {
  rb.writeDeadline.arm(WRITE_STALL_MS);
  try {
    await writeAll(rb.conn, bytes);
  } finally {
    rb.writeDeadline.disarm();
  }
}

export async function writeAll(conn: StreamConn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}
