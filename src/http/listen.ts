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
import * as tls from "node:tls";
import type { Logger } from "../log.ts";
import { DenoStreamConn, hostPort, isTlsUrl, isUnixUrl, type StreamConn, unixPath } from "./net.ts";
import { CertChecker, type HandshakeFacts } from "./tls/cert_policy.ts";
import { NodeStreamConn } from "./tls/node_conn.ts";
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
    return await listenNodeTls(url, opts.tls, opts);
  }
  if (url.protocol === "http:" || url.protocol === "unix:") return listenPlain(url, opts);
  throw new Error(`unsupported listen URL scheme ${url.href}`);
}

function removeStaleSocket(path: string): void {
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

async function listenNodeTls(
  url: URL,
  cfg: ServerTls,
  opts: ListenStreamsOptions,
): Promise<StreamListener> {
  const checker = new CertChecker(cfg.policy);
  const unix = isUnixUrl(url);
  const server = tls.createServer({
    cert: cfg.cert,
    key: cfg.key,
    ca: cfg.ca,
    requestCert: cfg.requireClientCert,
    rejectUnauthorized: cfg.requireClientCert,
    ALPNProtocols: opts.alpn,
    minVersion: cfg.minVersion,
    maxVersion: cfg.maxVersion,
    handshakeTimeout: cfg.handshakeTimeoutMs,
  });
  // The address is read when the TCP connection arrives: by the time a
  // handshake fails, the TLS socket no longer knows it.
  const remotes = new WeakMap<object, string>();
  server.on("connection", (raw) => {
    remotes.set(raw, raw.remoteAddress ? `${raw.remoteAddress}:${raw.remotePort}` : "unix");
  });
  server.on("tlsClientError", (err, socket) => {
    const parent = (socket as unknown as { _parent?: object })._parent;
    const remote = remotes.get(socket) ?? (parent && remotes.get(parent)) ?? "unknown";
    // Deno's node:tls reports a client certificate that fails verification
    // only as "socket hang up".
    refuse(opts.log, remote, `TLS handshake failed: ${err.message}`);
    socket.destroy();
  });
  server.on("secureConnection", async (socket: tls.TLSSocket) => {
    const raw = cfg.requireClientCert ? socket.getPeerCertificate()?.raw : undefined;
    const der = raw && raw.length > 0 ? new Uint8Array(raw) : undefined;
    const conn = new NodeStreamConn(socket, der);
    if (!checker.idle) {
      const facts: HandshakeFacts = {
        peerCertificate: der,
        remote: conn.remote,
        protocol: socket.getProtocol() ?? undefined,
        cipher: socket.getCipher()?.standardName,
      };
      let why: string | undefined;
      try {
        why = await checker.check(facts);
      } catch (err) {
        why = `certificate check failed: ${(err as Error).message}`;
      }
      if (why !== undefined) {
        refuse(opts.log, conn.remote, why);
        conn.close();
        return;
      }
    }
    opts.onConn(conn);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    const done = () => {
      server.off("error", reject);
      resolve();
    };
    if (unix) {
      const path = unixPath(url);
      removeStaleSocket(path);
      server.listen(path, done);
    } else {
      const { hostname, port } = hostPort(url);
      server.listen(port, hostname, done);
    }
  });
  server.on("error", (err) => opts.log.warn("TLS listener error", { error: String(err) }));
  const a = server.address();
  const address: BoundAddress = typeof a === "string" || a === null
    ? { address: unix ? unixPath(url) : String(a), port: 0, family: "unix" }
    : { address: a.address, port: a.port, family: a.family === "IPv6" ? "IPv6" : "IPv4" };
  return {
    address,
    // node's close callback waits for every open connection to end; their
    // owners close those, so only the listening socket is waited for here.
    close: () => {
      server.close();
      return Promise.resolve();
    },
  };
}

function refuse(log: Logger, remote: string, why: string): void {
  log.warn("rejected connection", { "remote-addr": remote, error: why });
}
