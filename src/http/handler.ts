/**
 * The request handlers of the client port: unary gRPC calls of the hot
 * methods go straight to their implementation (`grpc_unary.ts`); every
 * other gRPC, gRPC-Web and Connect request goes to the Connect router;
 * anything else to the hono app. HTTP/2 requests arrive on cairn's own
 * HTTP/2 server, HTTP/1.1 ones on `node:http` (through connect-node's
 * adapter); both reach the same service implementation objects.
 *
 * @module
 */
import { type ConnectRouter, createConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import type { Http1Handler } from "./client_listener.ts";
import { type BidiRoutes, serveBidiGrpc } from "./grpc_bidi.ts";
import { serveUnaryGrpc, type UnaryRoutes } from "./grpc_unary.ts";
import type { H2Stream } from "./h2/stream.ts";
import { serveFetch, serveUniversal } from "./h2/universal.ts";

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

/** Combines the direct gRPC path, the Connect services and the hono app. */
export function createClientHandlers(opts: HandlerOptions): ClientHandlers {
  const acceptCompression = [compressionGzip, compressionBrotli];
  const router = createConnectRouter({ readMaxBytes: opts.readMaxBytes, acceptCompression });
  opts.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const h of router.handlers) paths.set(h.requestPath, h);
  const unaryOpts = { readMaxBytes: opts.readMaxBytes };
  const fetch = opts.app.fetch;

  const honoListener = getRequestListener(fetch);
  const adapter = connectNodeAdapter({
    routes: opts.routes,
    readMaxBytes: opts.readMaxBytes,
    acceptCompression,
    fallback: honoListener as unknown as Parameters<typeof connectNodeAdapter>[0]["fallback"],
  });

  return {
    http2(stream) {
      if (serveUnaryGrpc(opts.unary, unaryOpts, stream)) return;
      if (serveBidiGrpc(opts.bidi, unaryOpts, stream)) return;
      const q = stream.path.indexOf("?");
      const handler = paths.get(q < 0 ? stream.path : stream.path.slice(0, q));
      if (handler) serveUniversal(stream, handler);
      else serveFetch(stream, fetch);
    },
    http1: adapter as unknown as Http1Handler,
  };
}
