/**
 * The Connect router's universal handlers (gRPC streaming, and the Connect
 * protocol and gRPC-Web over HTTP/2 and HTTP/1.1), with connect-node's
 * compressions. Loading connect-node takes about 45 ms, a quarter of a member's start-up,
 * and the hot gRPC paths never need it, so `handler.ts` imports this module
 * only when a request to one of the router's paths needs it
 * (`connect_paths.ts`).
 *
 * @module
 */
import { type ConnectRouter, createConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";

/** What the connect-based paths need. */
export interface ConnectHandlerOptions {
  routes: (router: ConnectRouter) => void;
  readMaxBytes: number;
  /** Run around every call (the gRPC metrics). */
  interceptors?: Interceptor[];
}

/** The built handlers. */
export interface ConnectHandlers {
  /** Universal handlers by request path. */
  paths: Map<string, UniversalHandler>;
}

/** Builds the router once. */
export function buildConnectHandlers(opts: ConnectHandlerOptions): ConnectHandlers {
  const acceptCompression = [compressionGzip, compressionBrotli];
  const interceptors = opts.interceptors;
  const router = createConnectRouter({
    readMaxBytes: opts.readMaxBytes,
    acceptCompression,
    interceptors,
  });
  opts.routes(router);
  const paths = new Map<string, UniversalHandler>();
  for (const h of router.handlers) paths.set(h.requestPath, h);
  return { paths };
}
