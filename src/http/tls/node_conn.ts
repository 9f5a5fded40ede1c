/**
 * A `node:net`/`node:tls` socket seen as a {@link StreamConn}: pull-style
 * `read` over the socket's `data` events, with backpressure (the socket is
 * paused while more than {@link READ_HIGH_WATER} bytes wait for a reader),
 * and `write` that resolves once the socket took the bytes.
 *
 * `node:tls` is the one TLS stack in Deno that can ask for and verify client
 * certificates, so mutual TLS listeners and the dialer that must skip
 * verification (`--peer-auto-tls`) run on it.
 *
 * @module
 */
import type { Socket } from "node:net";
import type { StreamConn } from "../net.ts";

/** Received bytes held for the reader before the socket is paused. */
const READ_HIGH_WATER = 1 << 20;

/** Adapts one node socket; create it as soon as the socket is connected. */
export class NodeStreamConn implements StreamConn {
  readonly peerCertificate?: Uint8Array;
  readonly #socket: Socket;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #waiting: (() => void) | undefined;

  /** Wraps `socket`; `peerCertificate` is the verified remote certificate, if any. */
  constructor(socket: Socket, peerCertificate?: Uint8Array) {
    this.#socket = socket;
    this.peerCertificate = peerCertificate;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#buffered > READ_HIGH_WATER) socket.pause();
      this.#wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
    socket.on("error", (err: Error) => {
      this.#error ??= err;
      this.#wake();
    });
  }

  /** Remote "ip:port", or "unix" (read when asked: a dialled socket learns it on connect). */
  get remote(): string {
    const s = this.#socket;
    return s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : "unix";
  }

  #wake(): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.();
  }

  /** Copies buffered bytes into `p`; waits for some; null at the end of the stream. */
  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#waiting = resolve));
    }
    let n = 0;
    while (n < p.length && this.#chunks.length > 0) {
      const c = this.#chunks[0];
      const take = Math.min(c.length, p.length - n);
      p.set(c.subarray(0, take), n);
      n += take;
      if (take === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#buffered -= n;
    if (this.#buffered <= READ_HIGH_WATER && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  /**
   * Writes all of `p`. The bytes are copied first: callers reuse their
   * buffer as soon as the promise resolves, and a node socket may still be
   * holding the one it was given.
   */
  write(p: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#socket.destroyed) return Promise.reject(new Error("socket closed"));
    const copy = p.slice();
    return new Promise((resolve, reject) => {
      this.#socket.write(copy, (err?: Error | null) => {
        if (err) reject(err);
        else resolve(copy.length);
      });
    });
  }

  /** Destroys the socket (idempotent). */
  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#wake();
  }

  /** Ends the writing side after what was written; reading goes on (HTTP/2's lingering close). */
  closeWrite(): void {
    this.#socket.end();
  }

  /** TCP_NODELAY (ignored by Unix sockets). */
  setNoDelay(on: boolean): void {
    this.#socket.setNoDelay(on);
  }
}
