/**
 * Test certificates made with the real `openssl` command: a CA, leaf
 * certificates it signs (server and client usages, chosen SANs and CN),
 * revocation into a CRL, and a second unrelated CA for untrusted peers.
 */

/** Paths of one certificate and its key. */
export interface CertPair {
  certFile: string;
  keyFile: string;
}

/** A certificate authority in a directory of its own. */
export class TestCa {
  readonly certFile: string;
  readonly keyFile: string;
  #serial = 1;

  private constructor(readonly dir: string, readonly name: string) {
    this.certFile = `${dir}/${name}-ca.crt`;
    this.keyFile = `${dir}/${name}-ca.key`;
  }

  /** Creates a self-signed CA named `name` in `dir`. */
  static async create(dir: string, name = "test"): Promise<TestCa> {
    const ca = new TestCa(dir, name);
    await openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      ca.keyFile,
      "-out",
      ca.certFile,
      "-days",
      "30",
      "-subj",
      `/CN=${name}-ca`,
    ]);
    await Deno.writeTextFile(`${dir}/${name}-index.txt`, "");
    await Deno.writeTextFile(`${dir}/${name}-crlnumber`, "01\n");
    return ca;
  }

  /**
   * Issues a leaf for `cn`, valid for serverAuth and clientAuth, with SANs
   * (default IP:127.0.0.1 and DNS:localhost).
   */
  async issue(file: string, cn: string, sans = "IP:127.0.0.1,DNS:localhost"): Promise<CertPair> {
    const base = `${this.dir}/${file}`;
    const pair = { certFile: `${base}.crt`, keyFile: `${base}.key` };
    await openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      pair.keyFile,
      "-out",
      `${base}.csr`,
      "-subj",
      `/CN=${cn}`,
    ]);
    await Deno.writeTextFile(
      `${base}.ext`,
      `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n` +
        "keyUsage=digitalSignature,keyEncipherment\n",
    );
    const serial = (this.#serial++).toString(16).padStart(4, "0");
    await openssl([
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      this.certFile,
      "-CAkey",
      this.keyFile,
      "-set_serial",
      `0x${serial}`,
      "-out",
      pair.certFile,
      "-days",
      "30",
      "-extfile",
      `${base}.ext`,
    ]);
    return pair;
  }

  /** Revokes `certFile` and writes the CA's CRL (PEM) to the returned path. */
  async revoke(certFile: string): Promise<string> {
    const cnf = `${this.dir}/${this.name}-ca.cnf`;
    await Deno.writeTextFile(
      cnf,
      [
        "[ ca ]",
        "default_ca = CA_default",
        "[ CA_default ]",
        `database = ${this.dir}/${this.name}-index.txt`,
        `crlnumber = ${this.dir}/${this.name}-crlnumber`,
        "default_md = sha256",
        "default_crl_days = 30",
        "",
      ].join("\n"),
    );
    const common = ["-config", cnf, "-keyfile", this.keyFile, "-cert", this.certFile];
    await openssl(["ca", ...common, "-revoke", certFile]);
    const crl = `${this.dir}/${this.name}.crl`;
    await openssl(["ca", ...common, "-gencrl", "-out", crl]);
    return crl;
  }
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}
