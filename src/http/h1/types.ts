/**
 * The interface between cairn's HTTP/1.1 server and its handlers: the
 * request a handler gets and the answer it gives.
 *
 * @module
 */

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
