/**
 * The request handlers of the client port: unary gRPC calls of the hot
 * methods and gRPC Watch streams go straight to their implementation
 * (`grpc_unary.ts`, `grpc_bidi.ts`); every other gRPC, gRPC-Web and
 * Connect request goes to the Connect router; anything else to the hono
 * app. HTTP/2 requests arrive on cairn's own HTTP/2 server, HTTP/1.1 ones
 * on `node:http` (through connect-node's adapter); all reach the same
 * service implementation objects.
 *
 * The connect-based handlers are loaded lazily (`connect_handlers.ts`):
 * a member serves its first gRPC request without waiting for them.
 *
 * @module
 */
import type { ConnectRouter } from "@connectrpc/connect";
import type { Hono } from "hono";
import type { Http1Handler } from "./client_listener.ts";
import type { ConnectHandlers } from "./connect_handlers.ts";
import { type BidiRoutes, serveBidiGrpc } from "./grpc_bidi.ts";
import { serveUnaryGrpc, type UnaryRoutes } from "./grpc_unary.ts";
import type { H2Stream, StreamListener } from "./h2/stream.ts";
import { serveFetch, serveUniversal } from "./h2/universal.ts";

/** How long after start-up the connect-based handlers are loaded anyway. */
const PRELOAD_DELAY_MS = 1000;

/** Options for {@link createClientHandlers}. */
export interface HandlerOptions {
  routes: (router: ConnectRouter) => void;
  /** The unary methods served on the direct gRPC path. */
  unary: UnaryRoutes;
  /** The bidi-streaming methods served on the direct gRPC path. */
  bidi: BidiRoutes;
  app: Hono;
  /** Largest request message accepted before decoding (etcd: max-request-bytes + gRPC overhead). */
  readMaxBytes: number;
}

/** The two entry points of the client port. */
export interface ClientHandlers {
  /** For each HTTP/2 stream. */
  http2(stream: H2Stream): void;
  /** For HTTP/1.1 requests. */
  http1: Http1Handler;
}

/** Combines the direct gRPC paths, the Connect services and the hono app. */
export function createClientHandlers(opts: HandlerOptions): ClientHandlers {
  const unaryOpts = { readMaxBytes: opts.readMaxBytes };
  const fetch = opts.app.fetch;
  let ready: ConnectHandlers | undefined;
  let loading: Promise<ConnectHandlers> | undefined;
  const load = () =>
    loading ??= import("./connect_handlers.ts").then((m) =>
      ready = m.buildConnectHandlers({
        routes: opts.routes,
        app: opts.app,
        readMaxBytes: opts.readMaxBytes,
      })
    );
  const preload = setTimeout(load, PRELOAD_DELAY_MS);
  Deno.unrefTimer(preload);

  const dispatch = (handlers: ConnectHandlers, stream: H2Stream) => {
    const q = stream.path.indexOf("?");
    const handler = handlers.paths.get(q < 0 ? stream.path : stream.path.slice(0, q));
    if (handler) serveUniversal(stream, handler);
    else serveFetch(stream, fetch);
  };

  return {
    http2(stream) {
      if (serveUnaryGrpc(opts.unary, unaryOpts, stream)) return;
      if (serveBidiGrpc(opts.bidi, unaryOpts, stream)) return;
      if (ready) return dispatch(ready, stream);
      // The request body may arrive while the handlers load: hold it.
      const release = holdRequest(stream);
      load().then((handlers) => {
        if (stream.aborted) return;
        dispatch(handlers, stream);
        release();
      }, () => stream.reset());
    },
    http1(req, res) {
      if (ready) return ready.http1(req, res);
      load().then((handlers) => handlers.http1(req, res), () => res.destroy());
    },
  };
}

/**
 * Buffers a stream's request events until the handler that takes the
 * stream has set its own listener; the returned function replays them.
 */
function holdRequest(stream: H2Stream): () => void {
  const held: Array<(l: StreamListener) => void> = [];
  stream.listener = {
    data: (chunk) => held.push((l) => l.data?.(chunk)),
    end: () => held.push((l) => l.end?.()),
    abort: (reason) => held.push((l) => l.abort?.(reason)),
  };
  return () => {
    for (const replay of held) replay(stream.listener);
  };
}
