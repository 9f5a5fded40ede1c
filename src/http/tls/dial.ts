/**
 * Opens connections to peer URLs: cleartext TCP or Unix sockets, or TLS
 * presenting the peer certificate. Verified TLS uses `Deno.connectTls`;
 * `node:tls` is used where Deno's own client cannot go: skipping
 * verification of a self-signed `--peer-auto-tls` peer, a restricted TLS
 * version range, and TLS over a Unix socket.
 *
 * @module
 */
import { DenoStreamConn, type Dialer, hostPort, isTlsUrl, isUnixUrl, unixPath } from "../net.ts";
import { NodeStreamConn } from "./node_conn.ts";
import type { ClientTls } from "./settings.ts";

/** ALPN for peer connections: cairn's peer protocol is HTTP/2. */
const PEER_ALPN = ["h2"];

/** A dialer for `http`/`unix` URLs, and for `https`/`unixs` with `clientTls` (or system roots). */
export function createDialer(clientTls: ClientTls | undefined): Dialer {
  return async (url: URL) => {
    if (!isTlsUrl(url)) {
      const conn = isUnixUrl(url)
        ? await Deno.connect({ transport: "unix", path: unixPath(url) })
        : await Deno.connect(hostPort(url));
      return new DenoStreamConn(conn);
    }
    const t = clientTls ?? { insecure: false };
    const needsNode = isUnixUrl(url) || t.insecure || t.minVersion !== undefined ||
      t.maxVersion !== undefined;
    if (!needsNode) {
      const conn = await Deno.connectTls(
        {
          ...hostPort(url),
          caCerts: t.ca ? [t.ca] : undefined,
          cert: t.cert,
          key: t.key,
          alpnProtocols: PEER_ALPN,
        } as Deno.ConnectTlsOptions & Deno.TlsCertifiedKeyPem,
      );
      await conn.handshake();
      return new DenoStreamConn(conn);
    }
    return await nodeTlsConnect(url, t);
  };
}

async function nodeTlsConnect(url: URL, t: ClientTls): Promise<NodeStreamConn> {
  // Loaded on the first such dial: a member whose peers are cleartext, or
  // verified by Deno's own TLS, never loads node:tls.
  const tls = await import("node:tls");
  const where = isUnixUrl(url) ? { path: unixPath(url), servername: "localhost" } : (() => {
    const { hostname, port } = hostPort(url);
    // SNI carries names only; an IP address is checked against the IP SANs.
    const ip = /^[\d.]+$/.test(hostname) || hostname.includes(":");
    return { host: hostname, port, servername: ip ? undefined : hostname };
  })();
  return await new Promise((resolve, reject) => {
    const socket = tls.connect({
      ...where,
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      rejectUnauthorized: !t.insecure,
      ALPNProtocols: PEER_ALPN,
      minVersion: t.minVersion,
      maxVersion: t.maxVersion,
    });
    const conn = new NodeStreamConn(socket);
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once("error", fail);
    socket.once("secureConnect", () => {
      socket.off("error", fail);
      resolve(conn);
    });
  });
}
