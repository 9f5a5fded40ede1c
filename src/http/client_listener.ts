/**
 * The client port: one listener per URL (TCP or Unix socket, cleartext or
 * TLS, see `./listen.ts`) that serves gRPC over HTTP/2 (prior knowledge
 * in cleartext, ALPN h2 over TLS, as etcdctl and Go clients speak it) and
 * HTTP/1.1 (the Connect protocol, gRPC-Web, the JSON gateway, /health) on
 * the same port, as etcd does. The first bytes of each connection decide: the
 * HTTP/2 connection preface goes to cairn's own HTTP/2 server
 * (`./h2/connection.ts`), anything else to its own HTTP/1.1 server
 * (`./h1/server.ts`) on the same connection.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { ConnectionCap } from "./h2/conn_cap.ts";
import { type ByteConn, H2Connection } from "./h2/connection.ts";
import { CLIENT_PREFACE, ErrorCode, LimitError } from "./h2/frames.ts";
import { SNIFF_TIMEOUT_MS } from "./h2/limits.ts";
import type { KeepaliveOptions } from "./h2/keepalive.ts";
import type { H2Stream } from "./h2/stream.ts";
import { type Http1Handler, serveHttp1 } from "./h1/server.ts";
import { type BoundAddress, listenStreams, type StreamListener } from "./listen.ts";
import type { StreamConn } from "./net.ts";
import type { ServerTls } from "./tls/settings.ts";

export type { Http1Handler };

/** A listening client port. */
export interface ClientListener {
  /** The bound address (useful when port 0 was asked for). */
  readonly address: BoundAddress;
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
}

/** Options for {@link listenClient}. */
export interface ListenOptions {
  /** The listen URL: `http`, `https`, `unix` or `unixs`. */
  url: URL;
  /** Certificate and checks for `https`/`unixs` URLs. */
  tls?: ServerTls;
  /** Serves each HTTP/2 request once its headers arrived, with the connection's client certificate. */
  onStream: (stream: H2Stream, peerCertificate?: Uint8Array) => void;
  /** Serves HTTP/1.1 requests. */
  http1: Http1Handler;
  log: Logger;
  /** Limits each HTTP/2 connection's concurrent streams (etcd: max-concurrent-streams). */
  maxConcurrentStreams?: number;
  /** gRPC keepalive of each HTTP/2 connection (etcd: --grpc-keepalive-*); off when absent. */
  keepalive?: KeepaliveOptions;
}

/** Starts serving on the URL for both HTTP versions. */
export async function listenClient(opts: ListenOptions): Promise<ClientListener> {
  const { log } = opts;
  const h2conns = new Set<H2Connection>();
  const rawConns = new Set<StreamConn>();
  // At the cap, an idle connection (sniffing, or HTTP/2 without streams) makes room.
  const cap = new ConnectionCap();

  const serveConn = async (conn: StreamConn) => {
    let h2: H2Connection | undefined;
    // HTTP/1.1: true while waiting for the next request (it may be evicted then).
    let h1Idle: boolean | undefined;
    const slot = {
      idle: () => h1Idle ?? (h2 === undefined || h2.openStreams === 0),
      evict: () => h2 ? h2.goAway(ErrorCode.NO_ERROR, "too many connections") : conn.close(),
    };
    if (!cap.admit(slot)) {
      log.warn("rejected connection", {
        "remote-addr": conn.remote,
        error: "too many connections",
      });
      conn.close();
      return;
    }
    rawConns.add(conn);
    try {
      conn.setNoDelay(true);
      const timer = setTimeout(() => {
        log.warn("rejected connection", {
          "remote-addr": conn.remote,
          error: `protocol not shown within ${SNIFF_TIMEOUT_MS} ms`,
        });
        conn.close();
      }, SNIFF_TIMEOUT_MS);
      const first = await sniff(conn).finally(() => clearTimeout(timer));
      if (first === undefined) return;
      if (first.isH2) {
        h2 = new H2Connection(conn, {
          onStream: conn.peerCertificate
            ? (stream) => opts.onStream(stream, conn.peerCertificate)
            : opts.onStream,
          maxConcurrentStreams: opts.maxConcurrentStreams,
          keepalive: opts.keepalive,
          onError: (err) =>
            err instanceof LimitError
              ? log.warn("http2 limit exceeded", { "remote-addr": conn.remote, error: err.message })
              : log.debug("http2 connection error", { error: String(err) }),
        });
        h2conns.add(h2);
        try {
          await h2.run(first.bytes);
        } finally {
          h2conns.delete(h2);
        }
      } else {
        h1Idle = false;
        await serveHttp1(conn, first.bytes, opts.http1, { onIdle: (idle) => h1Idle = idle });
      }
    } catch (err) {
      log.debug("client connection error", { error: String(err) });
    } finally {
      cap.release(slot);
      rawConns.delete(conn);
      conn.close();
    }
  };

  const listener: StreamListener = await listenStreams(opts.url, {
    tls: opts.tls,
    // gRPC clients ask for h2; browsers and curl may take http/1.1.
    alpn: ["h2", "http/1.1"],
    log,
    onConn: (c) => void serveConn(c),
  });
  return {
    address: listener.address,
    async close() {
      await listener.close();
      for (const c of h2conns) c.shutdown();
      for (const c of rawConns) c.close();
    },
  };
}

/**
 * Reads until the bytes seen either are the HTTP/2 preface or cannot be;
 * undefined when the peer closed first.
 */
async function sniff(conn: ByteConn): Promise<{ isH2: boolean; bytes: Uint8Array } | undefined> {
  // Small: the preface alone decides, and every connection not yet decided holds one.
  const buf = new Uint8Array(1024);
  let len = 0;
  for (;;) {
    const n = await conn.read(buf.subarray(len));
    if (n === null) return undefined;
    len += n;
    let matches = true;
    const upto = Math.min(len, CLIENT_PREFACE.length);
    for (let i = 0; i < upto && matches; i++) matches = buf[i] === CLIENT_PREFACE[i];
    if (!matches) return { isH2: false, bytes: buf.slice(0, len) };
    if (len >= CLIENT_PREFACE.length) return { isH2: true, bytes: buf.slice(0, len) };
  }
}
