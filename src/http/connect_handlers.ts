/**
 * The handlers built on connect-node: the Connect router's universal
 * handlers (gRPC streaming, Connect, gRPC-Web over HTTP/2) and the
 * `node:http` adapter for HTTP/1.1 (with the hono app as its fallback).
 * Loading connect-node takes about 45 ms, a quarter of a member's start-up,
 * and the hot gRPC paths never need it, so `handler.ts` imports this module
 * only when a request needs it (or a moment after start-up).
 *
 * @module
 */
import { type ConnectRouter, createConnectRouter, type Interceptor } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, connectNodeAdapter } from "@connectrpc/connect-node";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import type { Http1Handler } from "./client_listener.ts";

/** What the connect-based paths need. */
export interface ConnectHandlerOptions {
  routes: (router: ConnectRouter) => void;
  app: Hono;
  readMaxBytes: number;
  /** Run around every call (the gRPC metrics). */
  interceptors?: Interceptor[];
}

/** The built handlers. */
export interface ConnectHandlers {
  /** Universal handlers by request path. */
  paths: Map<string, UniversalHandler>;
  /** The HTTP/1.1 handler. */
  http1: Http1Handler;
}

/** Builds the router and the adapter once. */
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
  const honoListener = getRequestListener(opts.app.fetch);
  const adapter = connectNodeAdapter({
    routes: opts.routes,
    readMaxBytes: opts.readMaxBytes,
    acceptCompression,
    interceptors,
    fallback: honoListener as unknown as Parameters<typeof connectNodeAdapter>[0]["fallback"],
  });
  return { paths, http1: adapter as unknown as Http1Handler };
}
