/**
 * Validation of the TLS settings, with etcd 3.5's rules and wording:
 * `--cipher-suites` names (Go's crypto/tls list), `--tls-min-version` /
 * `--tls-max-version`, and which listeners need certificates (or
 * `--auto-tls` / `--peer-auto-tls` instead).
 *
 * @module
 */
import { ConfigError } from "./error.ts";
import { formatUrl, isSecureUrl } from "./urls.ts";

/** A `--tls-min-version` / `--tls-max-version` value; "" lets the TLS library choose. */
export type TlsVersion = "" | "TLS1.2" | "TLS1.3";

/** Certificate settings of one listener family (client or peer). */
export interface TlsFiles {
  /** PEM certificate (`--cert-file` / `--peer-cert-file`); "" when unset. */
  certFile: string;
  /** PEM private key (`--key-file` / `--peer-key-file`); "" when unset. */
  keyFile: string;
  /** CA bundle for verifying remote certificates; "" when unset. */
  trustedCaFile: string;
  /** Require and verify remote certificates. */
  clientCertAuth: boolean;
  /** `--client-crl-file` / `--peer-crl-file`; "" when unset. */
  crlFile: string;
  /** `--auto-tls` / `--peer-auto-tls`: generate a self-signed certificate when no files are given. */
  autoTls: boolean;
  /** `--peer-cert-allowed-cn` as given (comma-separated in etcd 3.5); always "" on the client side. */
  allowedCn: string;
  /** `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname` as given; "" when unset. */
  allowedHostname: string;
}

/**
 * The cipher suite names etcd accepts: Go's `tls.CipherSuites()` and
 * `tls.InsecureCipherSuites()` (IANA names), plus the two short ChaCha20
 * names etcd's tlsutil also maps.
 */
export const GO_CIPHER_SUITES: readonly string[] = [
  "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
  "TLS_RSA_WITH_AES_128_CBC_SHA",
  "TLS_RSA_WITH_AES_256_CBC_SHA",
  "TLS_RSA_WITH_AES_128_GCM_SHA256",
  "TLS_RSA_WITH_AES_256_GCM_SHA384",
  "TLS_AES_128_GCM_SHA256",
  "TLS_AES_256_GCM_SHA384",
  "TLS_CHACHA20_POLY1305_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
  "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
  "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
  "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
  "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
  "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
  "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
  "TLS_RSA_WITH_RC4_128_SHA",
  "TLS_RSA_WITH_AES_128_CBC_SHA256",
  "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
  "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
  "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
  "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
  "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
  "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
];

/** The first name in `suites` Go does not know, or undefined when all are known. */
export function unknownCipherSuite(suites: readonly string[]): string | undefined {
  return suites.find((s) => !GO_CIPHER_SUITES.includes(s));
}

/** etcd's tlsutil.GetTLSVersion: the version, or a reason it is not one. */
export function parseTlsVersion(text: string): TlsVersion | Error {
  if (text === "" || text === "TLS1.2" || text === "TLS1.3") return text;
  return new Error(`unexpected TLS version "${text}" (must be one of: TLS1.2, TLS1.3)`);
}

/**
 * etcd's checks across the TLS settings (embed.Config.Validate): min not
 * above max, and no cipher suites when only TLS 1.3 is allowed (Go cannot
 * restrict those). Messages are etcd's, prefixed with the flags concerned.
 * @throws {ConfigError}
 */
export function checkTlsSettings(
  cipherSuites: readonly string[],
  min: TlsVersion,
  max: TlsVersion,
): void {
  const order = { "": 0, "TLS1.2": 1, "TLS1.3": 2 };
  if (max !== "" && order[min] > order[max]) {
    throw new ConfigError(
      `--tls-min-version, --tls-max-version: min version (${min}) is greater than max version (${max})`,
    );
  }
  if (min === "TLS1.3" && cipherSuites.length > 0) {
    throw new ConfigError(
      "--cipher-suites, --tls-min-version: cipher suites cannot be configured when only TLS1.3 is enabled",
    );
  }
}

/** One listener family for {@link checkListenerTls}. */
export interface ListenerTls {
  /** The URLs that listen with this family's certificates. */
  urls: readonly URL[];
  tls: TlsFiles;
  /** "client" or "peer", as etcd's message says. */
  what: "client" | "peer";
  /** The flags to name, e.g. "--cert-file, --key-file". */
  flags: string;
}

/**
 * etcd's listener rules: an https or unixs URL needs a certificate and key,
 * or auto TLS, which stands in for missing files (etcd's ClientSelfCert /
 * PeerSelfCert); a certificate without its key (or the reverse) is refused
 * once TLS is used. Returns etcd's warnings for auto TLS next to files.
 * @throws {ConfigError}
 */
export function checkListenerTls(family: ListenerTls): string[] {
  const { urls, tls, what, flags } = family;
  const secure = urls.filter(isSecureUrl);
  const warnings: string[] = [];
  const hasFiles = tls.certFile !== "" || tls.keyFile !== "";
  if (tls.autoTls && hasFiles) warnings.push(`ignoring ${what} auto TLS since certs given`);
  if (secure.length === 0) return warnings;
  if (!hasFiles && !tls.autoTls) {
    throw new ConfigError(
      `TLS key/cert (${flags}) must be provided for ${what} url ${
        formatUrl(secure[0])
      } with HTTPS scheme`,
    );
  }
  if (hasFiles && (tls.certFile === "" || tls.keyFile === "")) {
    throw new ConfigError(
      `${flags}: KeyFile and CertFile must both be present[key: ${tls.keyFile}, cert: ${tls.certFile}]`,
    );
  }
  return warnings;
}
