/**
 * One request handler for the client port: gRPC, gRPC-Web and Connect
 * requests go to the Connect router (`@connectrpc/connect-node`), every
 * other request to the hono app.
 *
 * @module
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { getRequestListener } from "@hono/node-server";
import type { Hono } from "hono";
import type { DualHandler } from "./client_listener.ts";

/** Options for {@link createClientHandler}. */
export interface HandlerOptions {
  routes: (router: ConnectRouter) => void;
  app: Hono;
  /** Largest request message accepted before decoding (etcd: max-request-bytes + gRPC overhead). */
  readMaxBytes: number;
}

/** Combines the Connect services and the hono app into one handler. */
export function createClientHandler(opts: HandlerOptions): DualHandler {
  const honoListener = getRequestListener(opts.app.fetch);
  const adapter = connectNodeAdapter({
    routes: opts.routes,
    readMaxBytes: opts.readMaxBytes,
    fallback: honoListener as unknown as Parameters<typeof connectNodeAdapter>[0]["fallback"],
  });
  return adapter as unknown as DualHandler;
}
