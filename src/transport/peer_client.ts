/**
 * Small request/response calls to another member's peer port (etcd's
 * follower-to-leader forwarding of lease keep-alives and time-to-live
 * queries, and a joining member's `GET /members`). One cached HTTP/2
 * connection per peer URL; a broken one is dropped and the next call opens
 * a new one.
 *
 * @module
 */
import { H2ClientConnection } from "../http/h2/client.ts";
import type { Dialer } from "../http/net.ts";
import { createDialer } from "../http/tls/dial.ts";
import { H_ERROR } from "./protocol.ts";

/** A peer's answer. */
export interface PeerReply {
  status: number;
  body: Uint8Array;
  /** `x-cairn-error`, when the peer refused the call. */
  error?: string;
}

/** Host and port of a peer URL, as Deno.connect takes them. */
export function peerAddress(url: URL): { hostname: string; port: number } {
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port),
  };
}

/** Calls member endpoints on peers, reusing one connection per URL. */
export class PeerClient {
  readonly #conns = new Map<string, Promise<H2ClientConnection>>();
  readonly #dial: Dialer;

  /** A client whose connections `dial` opens (default: cleartext or system-trusted TLS). */
  constructor(dial: Dialer = createDialer(undefined)) {
    this.#dial = dial;
  }

  /**
   * Sends `method path` with `body` (none for GET) and any extra `headers`
   * to the peer at `url`; rejects on network failure or when no answer came
   * within `timeoutMs`.
   */
  async call(
    url: string,
    path: string,
    body: Uint8Array | undefined,
    timeoutMs: number,
    method = "POST",
    headers: [string, string][] = [],
  ): Promise<PeerReply> {
    const deadline = performance.now() + timeoutMs;
    const late = () => new Error(`peer ${url} did not answer ${path} within ${timeoutMs} ms`);
    const opening = this.#connection(url);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const conn = await Promise.race([
      opening,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // A connection attempt into a silent network: the next call starts afresh.
          this.#forget(url, opening);
          reject(late());
        }, timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const left = deadline - performance.now();
    return await exchange(conn, url, method, path, body, headers, left, late);
  }

  /** Closes every connection. */
  close(): void {
    for (const p of this.#conns.values()) p.then((c) => c.close(), () => {});
    this.#conns.clear();
  }

  #connection(url: string): Promise<H2ClientConnection> {
    const cached = this.#conns.get(url);
    if (cached) return cached;
    const opening = this.#dial(new URL(url)).then((conn) =>
      H2ClientConnection.over(conn, { onClose: () => this.#forget(url, opening) })
    );
    this.#conns.set(url, opening);
    opening.catch(() => this.#forget(url, opening));
    return opening;
  }

  /** Drops `opening` from the cache (closing it once open) unless it was replaced already. */
  #forget(url: string, opening: Promise<H2ClientConnection>): void {
    if (this.#conns.get(url) !== opening) return;
    this.#conns.delete(url);
    opening.then((c) => c.close("dropped"), () => {});
  }
}

/** One request on `conn`, its whole answer collected. */
function exchange(
  conn: H2ClientConnection,
  url: string,
  method: string,
  path: string,
  body: Uint8Array | undefined,
  headers: [string, string][],
  timeoutMs: number,
  late: () => Error,
): Promise<PeerReply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    if (timeoutMs <= 0) return reject(late());
    const req = conn.request([
      [":method", method],
      [":scheme", "http"],
      [":authority", u.host],
      [":path", path],
      ...headers,
    ], body === undefined);
    let status = 0;
    let error: string | undefined;
    const chunks: Uint8Array[] = [];
    const timer = setTimeout(() => {
      req.reset();
      reject(late());
    }, timeoutMs);
    req.listener = {
      response(s, fields) {
        status = s;
        for (const [n, v] of fields) if (n === H_ERROR) error = v;
      },
      data: (c) => chunks.push(c),
      end: () => {
        clearTimeout(timer);
        resolve({ status, body: concat(chunks), error });
      },
      abort: (why) => {
        clearTimeout(timer);
        reject(new Error(why));
      },
    };
    if (body !== undefined) req.end(body);
  });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
