/**
 * Small request/response calls to another member's peer port (etcd's
 * follower-to-leader forwarding of lease keep-alives and time-to-live
 * queries). One cached HTTP/2 session per peer URL; a broken session is
 * dropped and the next call opens a new one.
 *
 * @module
 */
import * as http2 from "node:http2";

/** A peer's answer. */
export interface PeerReply {
  status: number;
  body: Uint8Array;
  /** `x-cairn-error`, when the peer refused the call. */
  error?: string;
}

/** Calls member endpoints on peers, reusing one session per URL. */
export class PeerClient {
  readonly #sessions = new Map<string, http2.ClientHttp2Session>();

  /** POSTs `body` to `path` on the peer at `url`; rejects on network failure or timeout. */
  call(url: string, path: string, body: Uint8Array, timeoutMs: number): Promise<PeerReply> {
    const session = this.#session(url);
    return new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": path });
      const timer = setTimeout(() => {
        req.close(http2.constants.NGHTTP2_CANCEL);
        reject(new Error(`peer ${url} did not answer ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      let status = 0;
      let error: string | undefined;
      const chunks: Uint8Array[] = [];
      req.on("response", (h) => {
        status = Number(h[":status"]);
        const e = h["x-cairn-error"];
        if (typeof e === "string") error = e;
      });
      req.on("data", (c: Uint8Array) => chunks.push(c));
      req.on("end", () => {
        clearTimeout(timer);
        resolve({ status, body: Buffer.concat(chunks), error });
      });
      req.on("error", (err) => {
        clearTimeout(timer);
        this.#drop(url, session);
        reject(err);
      });
      req.end(body);
    });
  }

  /** Closes every session. */
  close(): void {
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
  }

  #session(url: string): http2.ClientHttp2Session {
    const cached = this.#sessions.get(url);
    if (cached && !cached.closed && !cached.destroyed) return cached;
    const session = http2.connect(url);
    // Failures surface through the calls; the session is then replaced.
    session.on("error", () => this.#drop(url, session));
    session.on("goaway", () => this.#drop(url, session));
    session.on("close", () => this.#drop(url, session));
    this.#sessions.set(url, session);
    return session;
  }

  #drop(url: string, session: http2.ClientHttp2Session): void {
    if (this.#sessions.get(url) === session) this.#sessions.delete(url);
    // Deno's node:http2 can abort when a session is destroyed inside its own
    // event handler: let the current handler return first.
    setTimeout(() => {
      if (!session.destroyed) session.destroy();
    }, 0);
  }
}
