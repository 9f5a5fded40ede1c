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

// RFC 9110 tchar: the characters of a method or a field name.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible characters, space, tab and obs-text; no NUL, CR, LF or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Parses the head `text` (everything up to and including the empty line).
 * Throws {@link HeadError} for a request that is not valid HTTP/1.x.
 */
export function parseHead(text: string): RequestHead {
  const lines = text.split("\n");
  let at = 0;
  // A robust server ignores empty lines before the request line (RFC 9112 §2.2).
  while (at < lines.length && (lines[at] === "" || lines[at] === "\r")) at++;
  const requestLine = stripCr(lines[at++] ?? "");
  const sp1 = requestLine.indexOf(" ");
  const sp2 = requestLine.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(" ", sp2 + 1) >= 0) {
    throw new HeadError(400, "Bad Request");
  }
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!TOKEN.test(method) || target === "" || !/^[\x21-\x7e]+$/.test(target)) {
    throw new HeadError(400, "Bad Request");
  }
  let minor: 0 | 1;
  if (version === "HTTP/1.1") minor = 1;
  else if (version === "HTTP/1.0") minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new HeadError(505, "HTTP Version Not Supported");
  else throw new HeadError(400, "Bad Request");

  const fields: Array<[string, string]> = [];
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection = "";
  let hosts = 0;
  let expect: string | undefined;
  for (; at < lines.length; at++) {
    const line = stripCr(lines[at]);
    if (line === "") break;
    const first = line.charCodeAt(0);
    // Obsolete line folding (a continuation line) is refused, as RFC 9112 §5.2 allows.
    if (first === 0x20 || first === 0x09) throw new HeadError(400, "Bad Request");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HeadError(400, "Bad Request");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HeadError(400, "Bad Request");
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (!FIELD_VALUE.test(value)) throw new HeadError(400, "Bad Request");
    const lower = name.toLowerCase();
    fields.push([lower, value]);
    switch (lower) {
      case "content-length":
        if (contentLength !== undefined && contentLength !== value) {
          throw new HeadError(400, "Bad Request");
        }
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
  if ((minor === 1 && hosts === 0) || hosts > 1) throw new HeadError(400, "Bad Request");

  let bodyLength = 0;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw new HeadError(400, "Bad Request");
    if (minor === 0) throw new HeadError(400, "Bad Request");
    if (transferEncoding.trim().toLowerCase() !== "chunked") {
      throw new HeadError(501, "Not Implemented");
    }
    bodyLength = -1;
  } else if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) throw new HeadError(400, "Bad Request");
    bodyLength = Number(contentLength);
  }
  const tokens = connection.split(",").map((t) => t.trim());
  const keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  let expectContinue = false;
  if (expect !== undefined) {
    if (expect !== "100-continue") throw new HeadError(417, "Expectation Failed");
    expectContinue = minor === 1 && bodyLength !== 0;
  }
  return { method, target, minor, fields, bodyLength, keepAlive, expectContinue };
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
