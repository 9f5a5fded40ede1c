import assert from "node:assert/strict";
import { generateSelfSigned } from "./auto_cert.ts";
import { CertChecker, type CertPolicy, coversHost, parseCrl } from "./cert_policy.ts";
import { x509 } from "./x509.ts";

const NONE: CertPolicy = {
  crlFile: "",
  allowedCns: [],
  allowedHostnames: [],
  checkRemoteSan: false,
  cipherSuites: [],
};

async function selfSigned(hosts: string[]) {
  const { certPem } = await generateSelfSigned(hosts, 1, true);
  const cert = new x509.X509Certificate(certPem);
  return { cert, der: new Uint8Array(cert.rawData) };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.test("coversHost: IP SANs for addresses (any spelling), DNS SANs with one-label wildcards", async () => {
  const { cert } = await selfSigned(["127.0.0.1", "::1", "localhost", "*.example.com"]);
  assert.ok(coversHost(x509, cert, "127.0.0.1"));
  assert.ok(coversHost(x509, cert, "0:0:0:0:0:0:0:1"));
  assert.ok(coversHost(x509, cert, "[::1]"));
  assert.ok(!coversHost(x509, cert, "10.0.0.1"));
  assert.ok(coversHost(x509, cert, "LOCALHOST"));
  assert.ok(coversHost(x509, cert, "a.example.com"));
  assert.ok(!coversHost(x509, cert, "a.b.example.com"), "a wildcard covers one label");
  assert.ok(!coversHost(x509, cert, "example.com"));
  assert.ok(!coversHost(x509, cert, "other"));
});

Deno.test("auto TLS certificate: valid for the hosts, usable by servers and (peers) clients", async () => {
  const years = 3;
  const { certPem, keyPem } = await generateSelfSigned(["10.1.2.3", "node1"], years, true);
  const cert = new x509.X509Certificate(certPem);
  const span = cert.notAfter.getTime() - cert.notBefore.getTime();
  assert.ok(Math.abs(span / (365.25 * 864e5) - years) < 0.01, `validity ${span} ms`);
  assert.ok(coversHost(x509, cert, "10.1.2.3") && coversHost(x509, cert, "node1"));
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual(
    [...(eku?.usages ?? [])].sort(),
    [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth].sort(),
  );
  assert.match(keyPem, /BEGIN PRIVATE KEY/);
  // Deno's own TLS stack serves it.
  const l = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: certPem, key: keyPem });
  l.close();
});

Deno.test("CertChecker: allowed CN, allowed hostname and the TLS 1.2 cipher list", async () => {
  const { der } = await selfSigned(["127.0.0.1"]);
  const facts = { peerCertificate: der, remote: "127.0.0.1:4000" };
  assert.ok(new CertChecker(NONE).idle);
  assert.equal(await new CertChecker(NONE).check(facts), undefined);
  // The generated certificate has no CN at all.
  assert.match(
    String(await new CertChecker({ ...NONE, allowedCns: ["m1", "m2"] }).check(facts)),
    /CommonName authentication failed/,
  );
  assert.equal(
    await new CertChecker({ ...NONE, allowedHostnames: ["db.local", "127.0.0.1"] }).check(facts),
    undefined,
  );
  assert.match(
    String(await new CertChecker({ ...NONE, allowedHostnames: ["db.local"] }).check(facts)),
    /not valid for db.local/,
  );
  const suites = { ...NONE, cipherSuites: ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"] };
  const c = new CertChecker(suites);
  assert.equal(
    await c.check({
      ...facts,
      protocol: "TLSv1.2",
      cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    }),
    undefined,
  );
  assert.match(
    String(
      await c.check({
        ...facts,
        protocol: "TLSv1.2",
        cipher: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
      }),
    ),
    /not in --cipher-suites/,
  );
  // TLS 1.3 suites are not configurable (as in Go): never refused for the list.
  assert.equal(
    await c.check({ ...facts, protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384" }),
    undefined,
  );
});

Deno.test("CertChecker: the peer SAN check takes IP SANs, then DNS SANs through the resolver", async () => {
  const ip = await selfSigned(["127.0.0.1"]);
  const san = { ...NONE, checkRemoteSan: true };
  assert.equal(
    await new CertChecker(san).check({ peerCertificate: ip.der, remote: "127.0.0.1:9" }),
    undefined,
  );
  assert.match(
    String(await new CertChecker(san).check({ peerCertificate: ip.der, remote: "10.9.9.9:9" })),
    /not 10.9.9.9/,
  );
  const dns = await selfSigned(["peer.internal"]);
  const resolver = (name: string) => Promise.resolve(name === "peer.internal" ? ["10.0.0.7"] : []);
  const checker = new CertChecker(san, resolver);
  assert.equal(await checker.check({ peerCertificate: dns.der, remote: "10.0.0.7:1" }), undefined);
  assert.match(
    String(await checker.check({ peerCertificate: dns.der, remote: "10.0.0.8:1" })),
    /does not match DNSNames/,
  );
});

Deno.test("CertChecker: a serial listed in the CRL is refused, and a rewritten CRL is read again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cairn-crl-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    await openssl(
      ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=ca"],
      dir,
    );
    for (const [name, serial] of [["a", "0x0a"], ["b", "0x0b"]]) {
      await openssl([
        "req",
        ...ec,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        `/CN=${name}`,
      ], dir);
      await openssl([
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-set_serial",
        serial,
        "-out",
        `${name}.crt`,
      ], dir);
    }
    await Deno.writeTextFile(
      `${dir}/ca.cnf`,
      "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=9\n",
    );
    await Deno.writeTextFile(`${dir}/index.txt`, "");
    await Deno.writeTextFile(`${dir}/crlnumber`, "01\n");
    const ca = ["-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.crt"];
    await openssl(["ca", ...ca, "-revoke", "a.crt"], dir);
    await openssl(["ca", ...ca, "-gencrl", "-out", "ca.crl"], dir);
    assert.deepEqual([...await parseCrl(await Deno.readFile(`${dir}/ca.crl`))], ["a"]);

    const der = async (name: string) =>
      new Uint8Array(
        new x509.X509Certificate(await Deno.readTextFile(`${dir}/${name}.crt`)).rawData,
      );
    const checker = new CertChecker({ ...NONE, crlFile: `${dir}/ca.crl` });
    assert.match(
      String(await checker.check({ peerCertificate: await der("a"), remote: "x:1" })),
      /revoked/,
    );
    assert.equal(
      await checker.check({ peerCertificate: await der("b"), remote: "x:1" }),
      undefined,
    );

    await openssl(["ca", ...ca, "-revoke", "b.crt"], dir);
    await openssl(["ca", ...ca, "-gencrl", "-out", "ca.crl"], dir);
    // Same second, maybe: a size change alone must be noticed too.
    assert.match(
      String(await checker.check({ peerCertificate: await der("b"), remote: "x:1" })),
      /revoked/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
