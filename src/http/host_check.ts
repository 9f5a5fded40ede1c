/**
 * `--host-whitelist`: etcd's defence against DNS rebinding
 * (CVE-2018-5702). On a connection without TLS, an HTTP request whose Host
 * names a host that is not in the list is refused with 421 Misdirected
 * Request and a plain-text explanation; an empty list or "*" allows every
 * host. gRPC over HTTP/2 never goes through this check in etcd (its own
 * server takes those connections), and neither does it here.
 *
 * @module
 */

/** The status etcd answers an unlisted Host with. */
export const MISDIRECTED_REQUEST = 421;

/** Which Host names HTTP requests on a cleartext client port may use. */
export class HostWhitelist {
  readonly #all: boolean;
  readonly #hosts: ReadonlySet<string>;

  /** `hosts` as given to --host-whitelist (already split at commas). */
  constructor(hosts: readonly string[]) {
    this.#hosts = new Set(hosts);
    this.#all = this.#hosts.size === 0 || this.#hosts.has("*");
  }

  /** True when every host is allowed (no check needed). */
  get allowsAll(): boolean {
    return this.#all;
  }

  /** True when a request with this Host header (or HTTP/2 `:authority`) may be served. */
  allows(hostHeader: string | undefined): boolean {
    return this.#all || this.#hosts.has(hostnameOf(hostHeader ?? ""));
  }
}

/**
 * The host part of a Host header as etcd sees it (Go's
 * `net.SplitHostPort`, falling back to the whole value when that fails):
 * `example.com:2379` gives `example.com`, `[::1]:2379` gives `::1`, while
 * `example.com` and `[::1]` (no port) stay as they are.
 */
export function hostnameOf(hostport: string): string {
  return splitHost(hostport) ?? hostport;
}

/** Go's net.SplitHostPort, host part only; undefined where Go returns an error. */
function splitHost(hostport: string): string | undefined {
  const colon = hostport.lastIndexOf(":");
  if (colon < 0) return undefined; // missing port
  let host: string;
  let from = 0;
  let after = 0;
  if (hostport[0] === "[") {
    const end = hostport.indexOf("]");
    if (end < 0) return undefined; // missing ']'
    if (end + 1 !== colon) return undefined; // missing port, or too many colons
    host = hostport.slice(1, end);
    from = 1;
    after = end + 1;
  } else {
    host = hostport.slice(0, colon);
    if (host.includes(":")) return undefined; // too many colons
  }
  if (hostport.indexOf("[", from) >= 0) return undefined;
  if (hostport.indexOf("]", after) >= 0) return undefined;
  return host;
}

/** The body etcd sends with a 421 (Go's `http.Error` adds the final newline). */
export function misdirectedBody(host: string): string {
  return `
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.
  - e.g. etcd --host-whitelist ${goQuote(host)}

This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).

`;
}

/** The headers of that response (Go's `http.Error`). */
export const MISDIRECTED_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["content-type", "text/plain; charset=utf-8"],
  ["x-content-type-options", "nosniff"],
];

const GO_ESCAPES: Record<string, string> = {
  "\x07": "\\a",
  "\b": "\\b",
  "\f": "\\f",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
  "\v": "\\v",
  '"': '\\"',
  "\\": "\\\\",
};

/** Go's `%q` of a string: printable characters as they are, the rest escaped. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (GO_ESCAPES[ch]) out += GO_ESCAPES[ch];
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code >= 0x80 && code < 0xa0) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return out + '"';
}
