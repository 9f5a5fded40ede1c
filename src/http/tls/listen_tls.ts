/**
 * The TLS half of `../listen.ts`: binds an `https` or `unixs` listen URL
 * with `node:tls` (why not `Deno.listenTls`: see `../listen.ts`), checks
 * each remote certificate against the port's {@link CertChecker}, and
 * hands on the connections whose handshake finished in time. Loaded only
 * when a TLS port is bound, so a cleartext member never loads node:tls.
 *
 * @module
 */
import * as tls from "node:tls";
import type { Logger } from "../../log.ts";
import {
  type BoundAddress,
  type ListenStreamsOptions,
  removeStaleSocket,
  type StreamListener,
} from "../listen.ts";
import { hostPort, isUnixUrl, unixPath } from "../net.ts";
import { CertChecker, type HandshakeFacts } from "./cert_policy.ts";
import { NodeStreamConn } from "./node_conn.ts";
import type { ServerTls } from "./settings.ts";

/** Binds `url` with TLS as `cfg` says; rejects when it cannot be bound. */
export async function listenNodeTls(
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
