/**
 * Checks on a TLS connection's remote certificate after the handshake, the
 * ones etcd makes beyond chain verification:
 *
 * - `--client-crl-file` / `--peer-crl-file`: a certificate whose serial
 *   number the CRL lists is refused. The file is re-read when it changes, as
 *   etcd reads it for every connection. (Deno's `node:tls` accepts a `crl`
 *   option but ignores it: a revoked certificate completed the handshake in
 *   a test, so the check is made here.)
 * - `--peer-cert-allowed-cn`: the leaf's Common Name must be one of them
 *   (etcd 3.5 takes a comma-separated list).
 * - `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname`: the
 *   leaf must be valid for one of those host names (SANs, as Go's
 *   VerifyHostname).
 * - On the peer port, the leaf's SANs must cover the address the peer
 *   connects from (etcd's checkSAN, skipped with
 *   `--experimental-peer-skip-client-san-verification`).
 * - `--cipher-suites`: neither Deno TLS stack lets cairn choose which
 *   suites it offers, so a TLS 1.2 connection that negotiated a suite
 *   outside the list is closed instead. TLS 1.3 suites are not
 *   configurable, in etcd either.
 *
 * @module
 */
import type { x509 as X509 } from "./x509.ts";

type X509Module = typeof X509;
type Certificate = InstanceType<X509Module["X509Certificate"]>;

/** Loads the x509 library on first use (see ./x509.ts). */
async function lib(): Promise<X509Module> {
  return (await import("./x509.ts")).x509;
}

/** What to check; empty strings and lists switch a check off. */
export interface CertPolicy {
  crlFile: string;
  allowedCns: string[];
  allowedHostnames: string[];
  /** Check that the remote certificate's SANs cover its address (peer port). */
  checkRemoteSan: boolean;
  /** IANA names of the TLS 1.2 suites allowed. */
  cipherSuites: string[];
}

/** What the handshake established, as the checks need it. */
export interface HandshakeFacts {
  /** The verified remote leaf certificate (DER), when one was sent. */
  peerCertificate?: Uint8Array;
  /** Remote "ip:port" (or "unix"). */
  remote: string;
  /** Negotiated protocol ("TLSv1.2", "TLSv1.3") and suite (IANA name), when known. */
  protocol?: string;
  cipher?: string;
}

/** Resolves host names to addresses for the SAN check (injectable in tests). */
export type HostResolver = (name: string) => Promise<string[]>;

/** Applies one {@link CertPolicy}; keeps the parsed CRL between connections. */
export class CertChecker {
  readonly #policy: CertPolicy;
  readonly #resolve: HostResolver;
  #crl: { mtime: number; size: number; revoked: Set<string> } | undefined;

  /** A checker for `policy`; `resolve` looks up DNS SANs (default: A and AAAA records). */
  constructor(policy: CertPolicy, resolve: HostResolver = resolveHost) {
    this.#policy = policy;
    this.#resolve = resolve;
  }

  /** True when no check applies, so connections need not wait for one. */
  get idle(): boolean {
    const p = this.#policy;
    return p.crlFile === "" && p.allowedCns.length === 0 && p.allowedHostnames.length === 0 &&
      !p.checkRemoteSan && p.cipherSuites.length === 0;
  }

  /** Why the connection must be refused, or undefined when it may go on. */
  async check(facts: HandshakeFacts): Promise<string | undefined> {
    const p = this.#policy;
    if (p.cipherSuites.length > 0 && facts.protocol === "TLSv1.2" && facts.cipher) {
      if (!p.cipherSuites.includes(facts.cipher)) {
        return `negotiated cipher suite ${facts.cipher} is not in --cipher-suites`;
      }
    }
    if (!facts.peerCertificate) return undefined;
    const x509 = await lib();
    let cert: Certificate;
    try {
      cert = new x509.X509Certificate(new Uint8Array(facts.peerCertificate));
    } catch (err) {
      return `unparsable remote certificate: ${(err as Error).message}`;
    }
    if (p.crlFile !== "") {
      const revoked = await this.#revoked();
      if (revoked.has(normalizeSerial(cert.serialNumber))) {
        return `certificate with serial ${cert.serialNumber} is revoked by ${p.crlFile}`;
      }
    }
    if (p.allowedCns.length > 0) {
      const cn = commonName(cert);
      if (!p.allowedCns.includes(cn)) {
        return `CommonName authentication failed (got ${JSON.stringify(cn)})`;
      }
    }
    if (
      p.allowedHostnames.length > 0 &&
      !p.allowedHostnames.some((h) => coversHost(x509, cert, h))
    ) {
      return `certificate is not valid for ${p.allowedHostnames.join(", ")}`;
    }
    if (p.checkRemoteSan) return await this.#checkSan(x509, cert, facts.remote);
    return undefined;
  }

  async #checkSan(
    x509: X509Module,
    cert: Certificate,
    remote: string,
  ): Promise<string | undefined> {
    if (remote === "unix") return undefined;
    const ip = remote.slice(0, remote.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
    const { ips, dns } = sans(x509, cert);
    if (ips.length > 0) {
      if (ips.some((a) => sameIp(a, ip))) return undefined;
      if (dns.length === 0) return `certificate is valid for ${ips.join(", ")}, not ${ip}`;
    }
    if (dns.length === 0) return undefined;
    const failures: string[] = [];
    for (const name of dns) {
      try {
        if ((await this.#resolve(name)).some((a) => sameIp(a, ip))) return undefined;
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
    }
    const why = failures.length > 0 ? ` (${failures.join("; ")})` : "";
    return `IP ${ip} does not match DNSNames ${JSON.stringify(dns)}${why}`;
  }

  async #revoked(): Promise<Set<string>> {
    const path = this.#policy.crlFile;
    const st = await Deno.stat(path);
    const mtime = st.mtime?.getTime() ?? 0;
    if (this.#crl && this.#crl.mtime === mtime && this.#crl.size === st.size) {
      return this.#crl.revoked;
    }
    const revoked = await parseCrl(await Deno.readFile(path));
    this.#crl = { mtime, size: st.size, revoked };
    return revoked;
  }
}

/** The revoked serial numbers (normalised hex) of a PEM or DER CRL. */
export async function parseCrl(data: Uint8Array): Promise<Set<string>> {
  const x509 = await lib();
  const text = new TextDecoder().decode(data);
  const crl = text.includes("-----BEGIN")
    ? new x509.X509Crl(text)
    : new x509.X509Crl(new Uint8Array(data));
  return new Set(crl.entries.map((e) => normalizeSerial(e.serialNumber)));
}

/** Reads and parses a CRL file, throwing with the file named on failure. */
export async function loadCrl(path: string): Promise<Set<string>> {
  try {
    return await parseCrl(await Deno.readFile(path));
  } catch (err) {
    throw new Error(`cannot read CRL file ${path}: ${(err as Error).message}`);
  }
}

function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, "");
}

function commonName(cert: Certificate): string {
  const cns = cert.subjectName.getField("CN");
  return cns.length > 0 ? cns[0] : "";
}

function sans(x509: X509Module, cert: Certificate): { ips: string[]; dns: string[] } {
  const ext = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const ips: string[] = [];
  const dns: string[] = [];
  for (const n of ext?.names.items ?? []) {
    if (n.type === "ip") ips.push(n.value);
    else if (n.type === "dns") dns.push(n.value);
  }
  return { ips, dns };
}

/** Go's Certificate.VerifyHostname: IP SANs for an address, DNS SANs (with `*.` wildcards) for a name. */
export function coversHost(x509: X509Module, cert: Certificate, host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1");
  const { ips, dns } = sans(x509, cert);
  if (/^[\d.]+$/.test(h) || h.includes(":")) return ips.some((a) => sameIp(a, h));
  const want = h.toLowerCase().replace(/\.$/, "");
  return dns.some((pattern) => {
    const p = pattern.toLowerCase().replace(/\.$/, "");
    if (!p.startsWith("*.")) return p === want;
    const dot = want.indexOf(".");
    return dot > 0 && want.slice(dot + 1) === p.slice(2);
  });
}

function sameIp(a: string, b: string): boolean {
  return canonicalIp(a) === canonicalIp(b);
}

/** Canonical text of an address: IPv4-mapped IPv6 as IPv4, IPv6 fully expanded. */
function canonicalIp(ip: string): string {
  const s = ip.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (mapped) return mapped[1];
  if (!s.includes(":")) return s;
  const [head, tail = ""] = s.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === "" ? [] : tail.split(":");
  const fill = s.includes("::") ? Array(8 - h.length - t.length).fill("0") : [];
  return [...h, ...fill, ...t].map((g) => g.replace(/^0+(?=.)/, "")).join(":");
}

async function resolveHost(name: string): Promise<string[]> {
  const out: string[] = [];
  for (const type of ["A", "AAAA"] as const) {
    try {
      out.push(...await Deno.resolveDns(name, type));
    } catch { /* no record of this type */ }
  }
  if (out.length === 0 && (name === "localhost" || name.endsWith(".localhost"))) {
    out.push("127.0.0.1", "::1");
  }
  return out;
}
