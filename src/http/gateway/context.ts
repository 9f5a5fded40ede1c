/**
 * The handler context of a gateway call: what connect's
 * `createHandlerContext` builds, made for one call at a time on the JSON
 * hot path. connect's builds three `Headers` copies, a deadline signal and
 * a linked abort controller per call; here the request metadata is the
 * one `Headers` the gateway made, the response header and trailer are made
 * only if an implementation touches them, and one controller carries
 * deadline, hang-up and the end of the call.
 *
 * @module
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { type ContextValues, createContextValues, type HandlerContext } from "@connectrpc/connect";

/** A gateway call's context, ended with {@link abort}. */
export class GatewayContext implements HandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  readonly signal: AbortSignal;
  readonly values: ContextValues = createContextValues();
  readonly #controller = new AbortController();
  #deadline: number | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly url: string,
    readonly requestHeader: Headers,
  ) {
    this.signal = this.#controller.signal;
  }

  /** Milliseconds left before the deadline (Grpc-Timeout), undefined without one. */
  readonly timeoutMs = (): number | undefined =>
    this.#deadline === undefined ? undefined : this.#deadline - Date.now();

  /** The headers an implementation may set (made on first use). */
  get responseHeader(): Headers {
    return this.#responseHeader ??= new Headers();
  }

  /** The trailers an implementation may set (made on first use). */
  get responseTrailer(): Headers {
    return this.#responseTrailer ??= new Headers();
  }

  /** Records the deadline `ms` from now (for {@link timeoutMs}); the caller arms its timer. */
  setDeadline(ms: number): void {
    this.#deadline = Date.now() + ms;
  }

  /** Ends the call: `signal` aborts with `reason` (first reason wins). */
  abort(reason?: unknown): void {
    this.#controller.abort(reason);
  }
}
