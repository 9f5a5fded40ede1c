/**
 * Turns the TLS flags of one port (client or peer) into the material its
 * listener serves and its dialer presents: PEM text read from
 * `--cert-file`/`--key-file`/`--trusted-ca-file` (or a generated pair with
 * `--auto-tls`), whether client certificates are required, the TLS version
 * range and the post-handshake {@link CertPolicy}.
 *
 * @module
 */
import type { TlsFiles } from "../../config.ts";
import type { Logger } from "../../log.ts";
import { type CertPolicy, loadCrl } from "./cert_policy.ts";
import { ensureSelfSignedCert } from "./auto_cert.ts";

/** A TLS version as `node:tls` names it. */
export type TlsVersion = "TLSv1.2" | "TLSv1.3";

/** Everything a TLS listener needs. */
export interface ServerTls {
  /** PEM certificate chain and private key served. */
  cert: string;
  key: string;
  /** PEM bundle that remote certificates must chain to (default: the system roots). */
  ca?: string;
  /** Ask for, and require, a verified client certificate. */
  requireClientCert: boolean;
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  /** Checks made once the handshake is done. */
  policy: CertPolicy;
  /** A handshake that has not finished by then is dropped. */
  handshakeTimeoutMs: number;
}

/** What a dialer presents and checks (the peer port's client side). */
export interface ClientTls {
  cert?: string;
  key?: string;
  ca?: string;
  /** Skip verifying the server's certificate (self-signed `--peer-auto-tls` peers). */
  insecure: boolean;
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
}

/** The TLS flags of one port, as Config holds them. */
export type PortTlsFlags = TlsFiles;

/** `--peer-client-cert-file`/`--peer-client-key-file`: what peers present when they dial. */
export interface DialCertFlags {
  certFile: string;
  keyFile: string;
}

/** Flags shared by both ports. */
export interface CommonTlsFlags {
  /** IANA/Go suite names from `--cipher-suites`. */
  cipherSuites: string[];
  tlsMinVersion: "" | "TLS1.2" | "TLS1.3";
  tlsMaxVersion: "" | "TLS1.2" | "TLS1.3";
  selfSignedCertValidityYears: number;
}

/** Where and for which hosts `--auto-tls` generates its pair. */
export interface AutoTlsTarget {
  /** `<data-dir>/fixtures/client` or `<data-dir>/fixtures/peer`. */
  dir: string;
  /** Hosts of the port's listen URLs. */
  hosts: string[];
}

/** How long a TLS handshake may take before the connection is dropped. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Both halves of one port's TLS, or undefined when the port has none configured. */
export interface PortTls {
  server: ServerTls;
  client: ClientTls;
}

/**
 * Reads the files a port's TLS flags name (or generates the `--auto-tls`
 * pair) and returns the listener and dialer settings; undefined when
 * neither certificate files nor auto TLS are set. `peer` selects the peer
 * port's extra rules (allowed CN, SAN check, client usage of the pair).
 * @throws Error naming the file that cannot be read.
 */
export async function resolvePortTls(
  flags: PortTlsFlags,
  common: CommonTlsFlags,
  auto: AutoTlsTarget,
  peer: boolean,
  log: Logger,
  skipRemoteSanCheck = false,
  dialCert?: DialCertFlags,
): Promise<PortTls | undefined> {
  let certFile = flags.certFile;
  let keyFile = flags.keyFile;
  let selfSigned = false;
  const prefix = peer ? "peer-" : "";
  if (flags.autoTls && certFile !== "" && keyFile !== "") {
    log.warn(`ignoring ${peer ? "peer" : "client"} auto TLS since certs given`);
  } else if (flags.autoTls) {
    const pair = await ensureSelfSignedCert({
      dir: auto.dir,
      hosts: auto.hosts,
      validityYears: common.selfSignedCertValidityYears,
      clientAuth: peer,
    });
    certFile = pair.certFile;
    keyFile = pair.keyFile;
    selfSigned = true;
    log.info(`using self-signed ${peer ? "peer" : "client"} certificate`, {
      "cert-file": certFile,
    });
  }
  if (certFile === "" || keyFile === "") return undefined;
  const cert = readPem(certFile, `--${prefix}cert-file`);
  const key = readPem(keyFile, `--${prefix}key-file`);
  const ca = flags.trustedCaFile === ""
    ? undefined
    : readPem(flags.trustedCaFile, `--${prefix}trusted-ca-file`);
  if (flags.crlFile !== "") await loadCrl(flags.crlFile); // fail at start-up, not per connection
  const minVersion = nodeVersion(common.tlsMinVersion);
  const maxVersion = nodeVersion(common.tlsMaxVersion);
  const suites = common.cipherSuites.map(ianaSuiteName);
  return {
    server: {
      cert,
      key,
      ca,
      requireClientCert: flags.clientCertAuth,
      minVersion,
      maxVersion,
      policy: {
        crlFile: flags.crlFile,
        allowedCns: peer ? list(flags.allowedCn) : [],
        allowedHostnames: list(flags.allowedHostname),
        checkRemoteSan: peer && flags.clientCertAuth && !skipRemoteSanCheck,
        cipherSuites: suites,
      },
      handshakeTimeoutMs: TLS_HANDSHAKE_TIMEOUT_MS,
    },
    client: {
      // etcd 3.5 lets peers present a certificate of their own when dialling.
      cert: dialCert?.certFile ? readPem(dialCert.certFile, "--peer-client-cert-file") : cert,
      key: dialCert?.keyFile ? readPem(dialCert.keyFile, "--peer-client-key-file") : key,
      ca,
      insecure: selfSigned,
      minVersion,
      maxVersion,
    },
  };
}

/** etcd 3.5 reads the allowed CN and host name flags as comma-separated lists. */
function list(flag: string): string[] {
  return flag.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function readPem(path: string, flag: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${flag} ${path}: ${(err as Error).message}`);
  }
}

function nodeVersion(v: "" | "TLS1.2" | "TLS1.3"): TlsVersion | undefined {
  return v === "" ? undefined : v === "TLS1.2" ? "TLSv1.2" : "TLSv1.3";
}

/** Go names the ChaCha20 suites without the `_SHA256` that IANA (and node:tls) add. */
export function ianaSuiteName(goName: string): string {
  return /_CHACHA20_POLY1305$/.test(goName) ? goName + "_SHA256" : goName;
}
