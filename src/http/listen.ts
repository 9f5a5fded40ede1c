/**
 * Binds one listen URL (`http`, `https`, `unix`, `unixs`) and hands every
 * accepted connection over as a {@link StreamConn}, TLS already done:
 *
 * - cleartext TCP and Unix sockets use Deno's own sockets;
 * - TLS uses `node:tls`: it can ask for client certificates, limit TLS
 *   versions and serve Unix sockets, and a connection whose handshake does
 *   not finish in time is really closed. (`Deno.listenTls` can do none of
 *   that: closing one of its connections mid-handshake left the socket open
 *   until the client sent or closed, so a silent client held a descriptor
 *   for ever. Served throughput measured about the same on both.)
 *
 * A handshake must finish within the configured time, and the remote
 * certificate passes the port's {@link CertChecker} before the connection
 * is handed on.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { DenoStreamConn, hostPort, isTlsUrl, type StreamConn, unixPath } from "./net.ts";
import type { ServerTls } from "./tls/settings.ts";

/** The bound address of a listener. */
export interface BoundAddress {
  /** IP address, or the socket file of a Unix listener. */
  address: string;
  /** The bound port (0 for Unix sockets). */
  port: number;
  family: "IPv4" | "IPv6" | "unix";
}

/** A bound listen URL. */
export interface StreamListener {
  readonly address: BoundAddress;
  /** Stops accepting; connections already handed on stay open. */
  close(): Promise<void>;
}

/** Options for {@link listenStreams}. */
export interface ListenStreamsOptions {
  /** Required for `https` and `unixs` URLs. */
  tls?: ServerTls;
  /** ALPN protocols offered over TLS, most preferred first. */
  alpn: string[];
  log: Logger;
  /** Receives each connection, ready for application bytes. */
  onConn(conn: StreamConn): void;
}

/** Binds `url` and starts accepting; rejects when it cannot be bound. */
export async function listenStreams(
  url: URL,
  opts: ListenStreamsOptions,
): Promise<StreamListener> {
  if (isTlsUrl(url)) {
    if (!opts.tls) throw new Error(`${url.href}: TLS is not configured for this port`);
    // node:tls and the certificate checks are loaded only for a TLS port:
    // a cleartext member never needs them (listen_tls.ts).
    const { listenNodeTls } = await import("./tls/listen_tls.ts");
    return await listenNodeTls(url, opts.tls, opts);
  }
  if (url.protocol === "http:" || url.protocol === "unix:") return listenPlain(url, opts);
  throw new Error(`unsupported listen URL scheme ${url.href}`);
}

/** Removes a leftover Unix socket file at `path` (none there: nothing to do). */
export function removeStaleSocket(path: string): void {
  // etcd removes a leftover socket file before binding, or the bind fails.
  try {
    if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
  } catch { /* none there */ }
}

function boundAddress(addr: Deno.Addr): BoundAddress {
  if (addr.transport === "unix") return { address: addr.path, port: 0, family: "unix" };
  const a = addr as Deno.NetAddr;
  return { address: a.hostname, port: a.port, family: a.hostname.includes(":") ? "IPv6" : "IPv4" };
}

/** Runs `accept` until the listener closes; transient errors back off briefly. */
function acceptLoop<C>(
  accept: () => Promise<C>,
  serve: (c: C) => void,
  log: Logger,
): Promise<void> {
  return (async () => {
    for (;;) {
      let conn: C;
      try {
        conn = await accept();
      } catch (err) {
        if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
          return;
        }
        log.warn("listener accept error", { error: String(err) });
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      serve(conn);
    }
  })();
}

function listenPlain(url: URL, opts: ListenStreamsOptions): StreamListener {
  let listener: Deno.Listener;
  if (url.protocol === "unix:") {
    const path = unixPath(url);
    removeStaleSocket(path);
    listener = Deno.listen({ transport: "unix", path });
  } else {
    listener = Deno.listen(hostPort(url));
  }
  const accepting = acceptLoop(
    () => listener.accept(),
    (c) => opts.onConn(new DenoStreamConn(c)),
    opts.log,
  );
  return {
    address: boundAddress(listener.addr),
    async close() {
      listener.close();
      await accepting;
    },
  };
}
