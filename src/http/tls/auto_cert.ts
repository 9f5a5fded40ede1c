/**
 * Self-signed certificates for `--auto-tls` and `--peer-auto-tls`, as etcd
 * makes them: generated once into `<data-dir>/fixtures/client` or
 * `<data-dir>/fixtures/peer` as `cert.pem` and `key.pem`, then reused on
 * every restart; valid for `--self-signed-cert-validity` years and for the
 * hosts of the listen URLs (IP addresses as IP SANs, names as DNS SANs).
 *
 * Built with `@peculiar/x509` (loaded only when needed) on WebCrypto rather than hand-written ASN.1.
 * The key is ECDSA P-256: rustls, under both Deno TLS stacks, does not
 * verify the P-521 signatures Go's etcd uses for its own.
 *
 * @module
 */
import { join } from "node:path";

/** Where a generated pair was written. */
export interface CertFiles {
  certFile: string;
  keyFile: string;
}

/** What to generate. */
export interface SelfCertOptions {
  /** The directory for cert.pem and key.pem (created with mode 0700). */
  dir: string;
  /** Hosts the certificate covers: IP addresses or DNS names. */
  hosts: string[];
  /** Validity in years; 0 means 1, as in etcd. */
  validityYears: number;
  /** Also usable as a client certificate (peers present it when dialling). */
  clientAuth: boolean;
}

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Returns the pair in `opts.dir`, generating it first when either file is missing. */
export async function ensureSelfSignedCert(opts: SelfCertOptions): Promise<CertFiles> {
  const certFile = join(opts.dir, "cert.pem");
  const keyFile = join(opts.dir, "key.pem");
  if (exists(certFile) && exists(keyFile)) return { certFile, keyFile };
  await Deno.mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const { certPem, keyPem } = await generateSelfSigned(
    opts.hosts,
    opts.validityYears,
    opts.clientAuth,
  );
  await Deno.writeTextFile(keyFile, keyPem, { mode: 0o600 });
  await Deno.writeTextFile(certFile, certPem, { mode: 0o644 });
  return { certFile, keyFile };
}

/** A fresh self-signed certificate and its PKCS#8 key, both PEM. */
export async function generateSelfSigned(
  hosts: string[],
  validityYears: number,
  clientAuth: boolean,
): Promise<{ certPem: string; keyPem: string }> {
  const { x509 } = await import("./x509.ts");
  const keys = await crypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const years = validityYears > 0 ? validityYears : 1;
  const notBefore = new Date();
  const notAfter = new Date(notBefore);
  notAfter.setFullYear(notAfter.getFullYear() + years);
  const serial = new Uint8Array(16);
  crypto.getRandomValues(serial);
  serial[0] &= 0x7f; // a positive INTEGER
  const names = [...new Set(hosts)].map((h): { type: "ip" | "dns"; value: string } =>
    IPV4.test(h) || h.includes(":") ? { type: "ip", value: h } : { type: "dns", value: h }
  );
  const usages = [x509.ExtendedKeyUsage.serverAuth];
  if (clientAuth) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: [...serial].map((b) => b.toString(16).padStart(2, "0")).join(""),
    name: "O=cairn",
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension(names),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY") + "\n",
  };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
