/**
 * One HTTP/1.x request as the server hands it to a handler: the parsed
 * head, the body read on demand, and the client going away (an abort
 * signal made only if asked for, or plain callbacks).
 *
 * @module
 */
import type { StreamConn } from "../net.ts";
import type { RequestBody } from "./body.ts";
import type { RequestHead } from "./head.ts";
import type { Http1Request } from "./types.ts";

/** The client went away (or a write failed): what aborted requests see. */
const GONE = new DOMException("the client went away", "AbortError");

/** {@link Http1Request} over a parsed head. */
export class Request1 implements Http1Request {
  readonly method: string;
  readonly target: string;
  readonly httpVersion: string;
  readonly fields: ReadonlyArray<[string, string]>;
  readonly hasBody: boolean;
  readonly remote: string;
  readonly peerCertificate?: Uint8Array;
  readonly #body: RequestBody;
  #started = false;
  #aborter: AbortController | undefined;
  #gone = false;
  #onGone: Array<() => void> | undefined;

  constructor(head: RequestHead, body: RequestBody, conn: StreamConn) {
    this.method = head.method;
    this.target = head.target;
    this.httpVersion = head.minor === 1 ? "1.1" : "1.0";
    this.fields = head.fields;
    this.hasBody = head.bodyLength !== 0;
    this.#body = body;
    this.remote = conn.remote;
    this.peerCertificate = conn.peerCertificate;
  }

  header(name: string): string | undefined {
    for (const [n, v] of this.fields) if (n === name) return v;
    return undefined;
  }

  get signal(): AbortSignal {
    if (!this.#aborter) {
      this.#aborter = new AbortController();
      if (this.#gone) this.#aborter.abort(GONE);
    }
    return this.#aborter.signal;
  }

  /** True once the client went away (or a write failed). */
  get isGone(): boolean {
    return this.#gone;
  }

  whenGone(fn: () => void): () => void {
    if (this.#gone) {
      fn();
      return () => {};
    }
    (this.#onGone ??= []).push(fn);
    return () => {
      const list = this.#onGone;
      const i = list ? list.indexOf(fn) : -1;
      if (i >= 0) list!.splice(i, 1);
    };
  }

  /** The client went away: abort the signal, tell the listeners (once). */
  gone(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#aborter?.abort(GONE);
    const list = this.#onGone;
    this.#onGone = undefined;
    if (list) { for (const fn of list) fn(); }
  }

  takeBufferedBody(): Uint8Array | undefined {
    if (this.#started) return undefined;
    if (!this.hasBody) return new Uint8Array(0);
    const all = this.#body.takeBuffered();
    if (all) this.#started = true;
    return all;
  }

  get body(): AsyncIterable<Uint8Array> {
    this.#started = true;
    return this.#body;
  }
}
