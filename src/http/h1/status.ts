/**
 * The status line's reason phrases and the encoding of a response head
 * (with the Date field every Go net/http response carries).
 *
 * @module
 */

const TEXTS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Request Entity Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The reason phrase of `status` (Go's StatusText; "status code N" for unknown codes, as Go writes). */
export function statusText(status: number): string {
  return TEXTS[status] ?? `status code ${status}`;
}

let dateSecond = -1;
let dateLine = "";

/** `date: <IMF-fixdate>\r\n`, formatted once per second. */
function currentDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateLine;
}

/**
 * The bytes of a response head, `text` (status line and fields, each
 * ending in CRLF) then Date and the empty line, with `body` after it in
 * the same buffer. Field values are byte strings: each character is one
 * byte (latin1), as they were received.
 */
export function encodeHead(text: string, body?: Uint8Array): Uint8Array {
  const all = text + currentDate() + "\r\n";
  const out = new Uint8Array(all.length + (body?.length ?? 0));
  for (let i = 0; i < all.length; i++) out[i] = all.charCodeAt(i);
  if (body) out.set(body, all.length);
  return out;
}
