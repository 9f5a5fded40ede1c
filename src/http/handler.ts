/**
 * The request handlers of the client port: unary gRPC calls of the hot
 * methods and gRPC Watch streams go straight to their implementation
 * (`grpc_unary.ts`, `grpc_bidi.ts`); every other gRPC, gRPC-Web and
 * Connect request goes to the Connect router; anything else to the hono
 * app. HTTP/2 requests arrive on cairn's own HTTP/2 server, HTTP/1.1 ones
 * on its own HTTP/1.1 server (`h1/`); both dispatch the same way, to the
 * same Connect handlers and hono app, so all reach the same service
 * implementation objects.
 *
 * The connect-based handlers are loaded lazily (`connect_handlers.ts`):
 * a member serves its first gRPC request without waiting for them.
 *
 * Every request except gRPC proper passes etcd's access checks first
 * (`access.ts`: --host-whitelist on cleartext listeners, --cors, OPTIONS).
 *
 * @module
 */
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import type { Hono } from "hono";
import { AccessControl, type AccessDecision, type AccessOptions, isNativeGrpc } from "./access.ts";
import {
  fetchRequest,
  fromFetchResponse,
  fromGatewayAnswer,
  fromUniversalResponse,
  gatewayRequest,
  universalRequest,
} from "./h1/adapt.ts";
import { gatewayOf, isGatewayPath } from "./gateway/mount.ts";
import type { Http1Handler } from "./h1/server.ts";
import type { ConnectHandlers } from "./connect_handlers.ts";
import { connectPaths } from "./connect_paths.ts";
import { createContextValues } from "@connectrpc/connect";
import { PEER_CERTIFICATE } from "./call_context.ts";
import { type BidiRoutes, serveBidiGrpc } from "./grpc_bidi.ts";
import { serveUnaryGrpc, type UnaryRoutes } from "./grpc_unary.ts";
import type { H2Stream, StreamListener } from "./h2/stream.ts";
import { encodeHeaders } from "./h2/hpack.ts";
import { type FetchHandler, serveFetch, serveUniversal } from "./h2/universal.ts";

/** No Connect handlers: what a request outside the Connect paths is dispatched with. */
const NO_CONNECT: ConnectHandlers = { paths: new Map() };

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
  /** --cors and --host-whitelist; default etcd's ("*" for both). */
  access?: AccessOptions;
  /** Run around every call connect's handlers serve (the gRPC metrics). */
  interceptors?: Interceptor[];
}

/** etcd's defaults: every origin, every host. */
const OPEN_ACCESS: AccessOptions = { cors: ["*"], hostWhitelist: ["*"] };

/** The two entry points of a client listener. */
export interface ListenerHandlers {
  /** For each HTTP/2 stream, with the connection's verified client certificate if any. */
  http2(stream: H2Stream, peerCertificate?: Uint8Array): void;
  /** For HTTP/1.1 requests. */
  http1: Http1Handler;
}

/** The entry points of the client port: cleartext listeners, and TLS ones (no Host check). */
export interface ClientHandlers extends ListenerHandlers {
  /** For `https`/`unixs` listeners: etcd checks the Host header only without TLS. */
  overTls: ListenerHandlers;
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
        readMaxBytes: opts.readMaxBytes,
        interceptors: opts.interceptors,
      })
    );
  // The Connect router is loaded by the first request to one of its paths
  // only (connect_paths.ts says why): any other request is served without it.
  const connectable = connectPaths(opts.routes);
  const needsConnect = (path: string) => {
    const q = path.indexOf("?");
    return connectable.has(q < 0 ? path : path.slice(0, q));
  };

  /** `extra`: response headers the access checks add (CORS). */
  const dispatch = (
    handlers: ConnectHandlers,
    stream: H2Stream,
    extra: HeaderPair[],
    peerCertificate: Uint8Array | undefined,
  ) => {
    const q = stream.path.indexOf("?");
    let handler = handlers.paths.get(q < 0 ? stream.path : stream.path.slice(0, q));
    if (handler && peerCertificate) handler = withPeerCertificate(handler, peerCertificate);
    const served = handler
      ? serveUniversal(stream, extra.length ? universalWith(handler, extra) : handler)
      : serveFetch(stream, extra.length ? fetchWith(fetch, extra) : fetch);
    // A request the web Request/URL types cannot represent (a method fetch
    // forbids, such as TRACE or CONNECT, or an :authority that is no host)
    // rejects before any answer. Unhandled, that rejection ended the whole
    // process (found by tests/fuzz/h2_frames_fuzz_test.ts): answer 400.
    served.catch(() => badRequest(stream));
  };

  const access = new AccessControl(opts.access ?? OPEN_ACCESS);
  const gateway = gatewayOf(opts.app);
  const http2 = (secure: boolean) => (stream: H2Stream, peerCertificate?: Uint8Array) => {
    if (serveUnaryGrpc(opts.unary, unaryOpts, stream, peerCertificate)) return;
    if (serveBidiGrpc(opts.bidi, unaryOpts, stream, peerCertificate)) return;
    let extra: HeaderPair[] = [];
    if (!isNativeGrpc(stream.header("content-type"))) {
      const decision = access.decide({
        method: stream.method,
        host: stream.header(":authority") ?? stream.header("host"),
        origin: stream.header("origin"),
        secure,
      });
      if (decision.kind !== "serve") return answer(stream, decision);
      extra = decision.headers;
    }
    if (ready) return dispatch(ready, stream, extra, peerCertificate);
    if (!needsConnect(stream.path)) return dispatch(NO_CONNECT, stream, extra, peerCertificate);
    // The request body may arrive while the handlers load: hold it.
    const release = holdRequest(stream);
    load().then((handlers) => {
      if (stream.aborted) return;
      dispatch(handlers, stream, extra, peerCertificate);
      release();
    }, () => stream.reset());
  };
  const http1 = (secure: boolean): Http1Handler => async (req) => {
    const decision = access.decide({
      method: req.method,
      host: req.header("host"),
      origin: req.header("origin"),
      secure,
    });
    if (decision.kind === "refuse") {
      return {
        status: decision.status,
        header: decision.headers,
        body: new TextEncoder().encode(decision.body),
      };
    }
    if (decision.kind === "preflight") return { status: 200, header: decision.headers };
    const extra = decision.headers;
    const q = req.target.indexOf("?");
    const path = q < 0 ? req.target : req.target.slice(0, q);
    // The gateway's routes are the app's, but HTTP/1.1 calls their core
    // without a Request and a Response: the JSON gateway's hot path.
    if (gateway && isGatewayPath(path)) {
      return fromGatewayAnswer(await gateway(gatewayRequest(req, path)), extra);
    }
    const handlers = ready ?? (needsConnect(path) ? await load() : NO_CONNECT);
    let handler = handlers.paths.get(path);
    if (handler) {
      if (req.peerCertificate) handler = withPeerCertificate(handler, req.peerCertificate);
      return fromUniversalResponse(await handler(universalRequest(req, secure)), extra);
    }
    let built: ReturnType<typeof fetchRequest>;
    try {
      built = fetchRequest(req, secure);
    } catch {
      // A URL or header the web types cannot represent (a bad Host, a method fetch forbids).
      return { status: 400, header: [["content-type", "text/plain; charset=utf-8"]], body: BAD };
    }
    return await fromFetchResponse(await opts.app.fetch(built.request, built.env), extra);
  };

  return {
    http2: http2(false),
    http1: http1(false),
    overTls: { http2: http2(true), http1: http1(true) },
  };
}

type HeaderPair = readonly [string, string];

const BAD = new TextEncoder().encode("400 Bad Request");

/** Answers a request the access checks stopped (421) or a preflight (200, no body). */
function answer(stream: H2Stream, d: Exclude<AccessDecision, { kind: "serve" }>): void {
  if (d.kind === "preflight") {
    stream.respond(
      encodeHeaders([[":status", "200"], ...d.headers, ["content-length", "0"]]),
      true,
    );
    return;
  }
  const body = new TextEncoder().encode(d.body);
  const fields: HeaderPair[] = [[":status", String(d.status)], ...d.headers];
  stream.respond(encodeHeaders([...fields, ["content-length", String(body.length)]]));
  stream.writeNow(body, true);
}

/** Answers 400 on a stream nothing was sent on yet, else resets it (never throws). */
function badRequest(stream: H2Stream): void {
  if (stream.aborted || stream.localEnded) return;
  if (stream.headersSent) return stream.reset();
  stream.respond(encodeHeaders([[":status", "400"], ["content-length", "0"]]), true);
}

/** A universal handler whose calls see the connection's client certificate (PEER_CERTIFICATE). */
function withPeerCertificate(handler: UniversalHandler, cert: Uint8Array): UniversalHandler {
  const wrapped = (req: Parameters<UniversalHandler>[0]) => {
    const values = req.contextValues ?? createContextValues();
    return handler({ ...req, contextValues: values.set(PEER_CERTIFICATE, cert) });
  };
  // Keep the handler's description (method, path, protocols) on the wrapper.
  return Object.assign(wrapped, handler);
}

/** A universal handler whose responses carry `extra` headers too. */
function universalWith(handler: UniversalHandler, extra: HeaderPair[]): UniversalHandler {
  const wrapped = async (req: Parameters<UniversalHandler>[0]) => {
    const res = await handler(req);
    const header = new Headers(res.header);
    for (const [name, value] of extra) header.set(name, value);
    return { ...res, header };
  };
  // Keep the handler's description (method, path, protocols) on the wrapper.
  return Object.assign(wrapped, handler);
}

/** A fetch handler whose responses carry `extra` headers too. */
function fetchWith(handler: FetchHandler, extra: HeaderPair[]): FetchHandler {
  return async (req) => {
    const res = await handler(req);
    // A fresh Response: headers of some responses are immutable.
    const headers = new Headers(res.headers);
    for (const [name, value] of extra) headers.set(name, value);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
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
