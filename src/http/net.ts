/**
 * Byte streams as cairn's HTTP/2 server and client use them, whatever
 * carries them: a TCP or Unix socket, cleartext or TLS, from Deno's own
 * sockets or from `node:tls` (the only TLS stack here that asks for client
 * certificates). Listeners (`./listen.ts`) and dialers (`./tls/dial.ts`)
 * hand out {@link StreamConn}s, so nothing above them knows which one.
 *
 * @module
 */
import type { ByteConn } from "./h2/connection.ts";

/** A connected byte stream with the few extras the servers and clients use. */
export interface StreamConn extends ByteConn {
  /** Turns Nagle's algorithm off (a no-op on Unix sockets). */
  setNoDelay(on: boolean): void;
  /** The remote address as "ip:port", or "unix" for a Unix socket. */
  readonly remote: string;
  /** The remote party's verified certificate (DER), when TLS carried one. */
  readonly peerCertificate?: Uint8Array;
}

/** Opens a connection to a peer URL (`http`, `https`, `unix` or `unixs`). */
export type Dialer = (url: URL) => Promise<StreamConn>;

/** A `Deno.Conn` (TCP, Unix or TLS) seen as a {@link StreamConn}. */
export class DenoStreamConn implements StreamConn {
  readonly remote: string;

  /** Wraps `conn`; `peerCertificate` is never known for Deno's own sockets. */
  constructor(readonly conn: Deno.Conn) {
    const addr = conn.remoteAddr;
    this.remote = addr.transport === "tcp" ? `${addr.hostname}:${addr.port}` : "unix";
  }

  /** Reads into `p`; null at the end of the stream. */
  read(p: Uint8Array): Promise<number | null> {
    return this.conn.read(p);
  }

  /** Writes (part of) `p`. */
  write(p: Uint8Array): Promise<number> {
    return this.conn.write(p);
  }

  /** Closes the socket (idempotent). */
  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }

  /** Sends FIN after what was written; reading goes on (HTTP/2's lingering close). */
  async closeWrite(): Promise<void> {
    try {
      await this.conn.closeWrite();
    } catch { /* already closed */ }
  }

  /** TCP_NODELAY on TCP sockets; nothing on Unix sockets. */
  setNoDelay(on: boolean): void {
    const c = this.conn as Partial<Deno.TcpConn>;
    if (typeof c.setNoDelay === "function") c.setNoDelay(on);
  }
}

/** Host and port of an `http(s)://host:port` URL, as sockets take them (brackets dropped). */
export function hostPort(url: URL): { hostname: string; port: number } {
  const secure = url.protocol === "https:";
  return {
    hostname: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port === "" ? (secure ? 443 : 80) : Number(url.port),
  };
}

/**
 * The socket file of a `unix://` or `unixs://` URL. etcd names the file
 * after the URL's host and port (`unix://localhost:2379` is the file
 * `localhost:2379` in the working directory); a URL with no host names a
 * path (`unix:///run/cairn.sock`).
 */
export function unixPath(url: URL): string {
  if (url.host !== "") return url.host;
  if (url.pathname !== "" && url.pathname !== "/") return url.pathname;
  throw new Error(`unix socket URL ${url.href} names no socket file`);
}

/** True for the URL schemes served or dialled over TLS. */
export function isTlsUrl(url: URL): boolean {
  return url.protocol === "https:" || url.protocol === "unixs:";
}

/** True for the Unix socket schemes. */
export function isUnixUrl(url: URL): boolean {
  return url.protocol === "unix:" || url.protocol === "unixs:";
}
