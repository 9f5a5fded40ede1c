/**
 * The client port: one TCP listener that serves gRPC over cleartext HTTP/2
 * (prior knowledge, as etcdctl and Go clients speak it) and HTTP/1.1 (the
 * Connect protocol, gRPC-Web, the JSON gateway, /health) on the same
 * port, as etcd does. The first bytes of each connection decide: the
 * HTTP/2 connection preface goes to a `node:http2` server, anything else
 * to a `node:http` server; both use the same request handler.
 *
 * @module
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "../log.ts";
import { guardAgainstGoaway } from "./goaway_filter.ts";

/** A request handler that serves both HTTP/1.1 and HTTP/2 requests. */
export type DualHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** A listening client port. */
export interface ClientListener {
  /** The bound address (useful when port 0 was asked for). */
  readonly address: net.AddressInfo;
  /** Stops accepting and destroys open connections. */
  close(): Promise<void>;
}

const H2_PREFACE = "PRI * HTTP/2.0";

/** Options for {@link listenClient}. */
export interface ListenOptions {
  host: string;
  port: number;
  handler: DualHandler;
  log: Logger;
  /**
   * Tried first for every HTTP/2 stream; returns true when it served the
   * stream (the unary gRPC fast path), false to use `handler`.
   */
  fastStream?: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;
  /** Limits each HTTP/2 session's concurrent streams (etcd: max-concurrent-streams). */
  maxConcurrentStreams?: number;
}

/** Starts serving `handler` on host:port for both HTTP versions. */
export async function listenClient(opts: ListenOptions): Promise<ClientListener> {
  const { log } = opts;
  const h2 = http2.createServer({
    settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 2 ** 31 - 1 },
  });
  // Deno's node:http2 lets a 'request' listener take over every stream, so
  // the compatibility request/response pair is built here instead, only
  // for streams the fast path did not take.
  const compat = http2 as unknown as {
    Http2ServerRequest: new (
      stream: http2.ServerHttp2Stream,
      headers: http2.IncomingHttpHeaders,
      options: undefined,
      rawHeaders: string[],
    ) => http2.Http2ServerRequest;
    Http2ServerResponse: new (stream: http2.ServerHttp2Stream) => http2.Http2ServerResponse;
  };
  // An abrupt reset must never be fatal: every server, session and stream
  // gets an error handler.
  h2.on("error", (err) => log.warn("http2 server error", { error: String(err) }));
  h2.on("sessionError", (err) => log.debug("http2 session error", { error: String(err) }));
  h2.on("session", (session) => {
    session.on("error", (err) => log.debug("http2 session error", { error: String(err) }));
  });
  h2.on("stream", (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    _flags: number,
    rawHeaders: string[],
  ) => {
    stream.on("error", (err: Error) => log.debug("http2 stream error", { error: String(err) }));
    if (opts.fastStream?.(stream, headers)) return;
    const req = new compat.Http2ServerRequest(stream, headers, undefined, rawHeaders);
    const res = new compat.Http2ServerResponse(stream);
    opts.handler(req, res);
  });
  // Deno's node:http server serves only one request on a socket handed to
  // it with emit("connection"), so HTTP/1.1 connections are piped to a
  // private loopback listener of their own. HTTP/1.1 carries the Connect
  // protocol, gRPC-Web and plain HTTP: not the hot gRPC path.
  const h1 = http.createServer(opts.handler);
  h1.on("error", (err) => log.warn("http server error", { error: String(err) }));
  h1.on("clientError", (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    h1.once("error", reject);
    h1.listen(0, "127.0.0.1", () => {
      h1.off("error", reject);
      resolve();
    });
  });
  const h1Port = (h1.address() as net.AddressInfo).port;
  const bridgeToHttp1 = (socket: net.Socket) => {
    const upstream = net.connect(h1Port, "127.0.0.1");
    upstream.setNoDelay(true);
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
    socket.pipe(upstream);
    upstream.pipe(socket);
  };

  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", (err) => log.debug("client socket error", { error: String(err) }));
    socket.setNoDelay(true);
    sniff(socket, (isH2) => {
      if (isH2) {
        coalesceWrites(socket);
        h2.emit("connection", guardAgainstGoaway(socket));
      } else {
        bridgeToHttp1(socket);
      }
    });
  });
  server.on("error", (err) => log.warn("client listener error", { error: String(err) }));

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve({
        address: server.address() as net.AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of sockets) s.destroy();
            h2.close();
            h1.close();
          }),
      });
    });
  });
}

/** Reads enough of the first bytes to tell HTTP/2's preface from HTTP/1.x, then puts them back. */
function sniff(socket: net.Socket, route: (isH2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onReadable = () => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) seen = Buffer.concat([seen, chunk]);
    const text = seen.toString("latin1", 0, H2_PREFACE.length);
    const decided = seen.length >= H2_PREFACE.length || !H2_PREFACE.startsWith(text);
    if (!decided) return;
    socket.off("readable", onReadable);
    socket.unshift(seen);
    route(text.startsWith(H2_PREFACE));
  };
  socket.on("readable", onReadable);
}

/**
 * Deno's HTTP/2 session writes each frame to the socket separately: one
 * syscall per frame was the largest single cost under load. Corking the
 * socket for the rest of the current turn gathers every frame written in
 * it into one vectored write.
 */
function coalesceWrites(socket: net.Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return write(...args);
  }) as typeof socket.write;
}
