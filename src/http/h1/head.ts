/**
 * Parsing of an HTTP/1.x request head (RFC 9112 §2-§6): the request line
 * and the header fields up to the empty line, and what they say about the
 * message body and the connection. Strict where leniency lets two parsers
 * disagree about where a message ends (request smuggling): both
 * Content-Length and Transfer-Encoding, differing Content-Lengths, a
 * transfer coding other than chunked, obsolete line folding and space
 * before a colon are refused. The answers follow Go's net/http, which
 * serves etcd's HTTP/1.1 requests.
 *
 * @module
 */

/** Largest request head (Go's http.DefaultMaxHeaderBytes plus the 4 KiB slack it allows). */
export const MAX_HEAD_BYTES = (1 << 20) + 4096;

/** A parsed request head. */
export interface RequestHead {
  method: string;
  /** The request target as sent (origin form `/path?query`, or absolute form, or `*`). */
  target: string;
  /** Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  /** Header fields in order, names lower-cased, values trimmed. */
  fields: Array<[string, string]>;
  /** The body's length in bytes; -1 for a chunked body. */
  bodyLength: number;
  /** The client asked to keep the connection open after this exchange. */
  keepAlive: boolean;
  /** The client sent `Expect: 100-continue`. */
  expectContinue: boolean;
}

/** A request that cannot be served: the status to answer with before closing. */
export class HeadError extends Error {
  /** `status`: 400, 431, 501, 505 or 417; `message`: the text after the status line's code. */
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * The index just past the empty line ending the head in `buf[from, to)`,
 * or -1 when it has not arrived. Lines may end in CRLF or a bare LF.
 */
export function findHeadEnd(buf: Uint8Array, from: number, to: number): number {
  for (let i = buf.indexOf(0x0a, from); i >= 0 && i < to; i = buf.indexOf(0x0a, i + 1)) {
    if (i + 1 < to && buf[i + 1] === 0x0a) return i + 2;
    if (i + 2 < to && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/** Bytes as a string of the same code units (latin1), as header values are kept. */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(
      null,
      bytes.subarray(i, i + 8192) as unknown as number[],
    );
  }
  return s;
}

/** RFC 9110 tchar: the bytes of a method or a field name. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

const SP = 0x20, HT = 0x09, CR = 0x0d, LF = 0x0a, COLON = 0x3a;

function bad(): HeadError {
  return new HeadError(400, "Bad Request");
}

/** End of the line starting at `from`: its LF's index, or `end`. */
function lineEnd(buf: Uint8Array, from: number, end: number): number {
  const lf = buf.indexOf(LF, from);
  return lf < 0 || lf > end ? end : lf;
}

/**
 * Parses the head in `buf[start, end)` (everything up to and including
 * the empty line), working on the bytes. Throws {@link HeadError} for a
 * request that is not valid HTTP/1.x.
 */
export function parseHead(buf: Uint8Array, start = 0, end = buf.length): RequestHead {
  let at = start;
  // A robust server ignores empty lines before the request line (RFC 9112 §2.2).
  while (at < end && (buf[at] === LF || (buf[at] === CR && buf[at + 1] === LF))) {
    at += buf[at] === CR ? 2 : 1;
  }
  let lf = lineEnd(buf, at, end);
  let stop = lf > at && buf[lf - 1] === CR ? lf - 1 : lf;
  // Request line: method SP target SP version.
  let i = at;
  while (i < stop && TCHAR[buf[i]]) i++;
  if (i === at || i >= stop || buf[i] !== SP) throw bad();
  const method = latin1(buf.subarray(at, i));
  const targetStart = ++i;
  while (i < stop && buf[i] > 0x20 && buf[i] < 0x7f) i++;
  if (i === targetStart || i >= stop || buf[i] !== SP) throw bad();
  const target = latin1(buf.subarray(targetStart, i));
  const version = latin1(buf.subarray(i + 1, stop));
  let minor: 0 | 1;
  if (version === "HTTP/1.1") minor = 1;
  else if (version === "HTTP/1.0") minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new HeadError(505, "HTTP Version Not Supported");
  else throw bad();

  const fields: Array<[string, string]> = [];
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection = "";
  let hosts = 0;
  let expect: string | undefined;
  for (at = lf + 1; at < end; at = lf + 1) {
    lf = lineEnd(buf, at, end);
    stop = lf > at && buf[lf - 1] === CR ? lf - 1 : lf;
    if (stop === at) break; // the empty line
    // Obsolete line folding (a continuation line) is refused, as RFC 9112 §5.2 allows.
    if (buf[at] === SP || buf[at] === HT) throw bad();
    let n = at;
    while (n < stop && TCHAR[buf[n]]) n++;
    if (n === at || n >= stop || buf[n] !== COLON) throw bad();
    let v = n + 1;
    while (v < stop && (buf[v] === SP || buf[v] === HT)) v++;
    let ve = stop;
    while (ve > v && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    // Field values: visible bytes, space, tab and obs-text; no NUL, CR, LF or other controls.
    for (let k = v; k < ve; k++) {
      const b = buf[k];
      if ((b < 0x20 && b !== HT) || b === 0x7f) throw bad();
    }
    const lower = latin1(buf.subarray(at, n)).toLowerCase();
    const value = latin1(buf.subarray(v, ve));
    fields.push([lower, value]);
    switch (lower) {
      case "content-length":
        if (contentLength !== undefined && contentLength !== value) throw bad();
        contentLength = value;
        break;
      case "transfer-encoding":
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
        break;
      case "connection":
        connection += `,${value.toLowerCase()}`;
        break;
      case "host":
        hosts++;
        break;
      case "expect":
        expect = value.toLowerCase();
        break;
    }
  }
  // Go: "missing required Host header", and more than one is as bad.
  if ((minor === 1 && hosts === 0) || hosts > 1) throw bad();

  let bodyLength = 0;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined || minor === 0) throw bad();
    if (transferEncoding.trim().toLowerCase() !== "chunked") {
      throw new HeadError(501, "Not Implemented");
    }
    bodyLength = -1;
  } else if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) throw bad();
    bodyLength = Number(contentLength);
  }
  let keepAlive = minor === 1;
  if (connection !== "") {
    const tokens = connection.split(",").map((t) => t.trim());
    keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  }
  let expectContinue = false;
  if (expect !== undefined) {
    if (expect !== "100-continue") throw new HeadError(417, "Expectation Failed");
    expectContinue = minor === 1 && bodyLength !== 0;
  }
  return { method, target, minor, fields, bodyLength, keepAlive, expectContinue };
}
