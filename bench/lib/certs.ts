/**
 * The certificate the TLS rows serve, made with openssl at the start of a
 * run: a throwaway CA and a server certificate for 127.0.0.1 signed by it
 * (ECDSA P-256, which both etcd's Go TLS and cairn's rustls serve).
 *
 * @module
 */
import { join } from "node:path";
import type { BenchTls } from "./server.ts";

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Writes a CA and a server certificate for 127.0.0.1 under `dir`. */
export async function makeBenchCerts(dir: string): Promise<BenchTls> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const caFile = join(dir, "ca.pem");
  const caKey = join(dir, "ca-key.pem");
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    caKey,
    "-out",
    caFile,
    "-days",
    "2",
    "-subj",
    "/CN=bench-ca",
  ]);
  const keyFile = join(dir, "server-key.pem");
  const csr = join(dir, "server.csr");
  const ext = join(dir, "server.ext");
  const certFile = join(dir, "server.pem");
  await openssl(["req", ...ec, "-keyout", keyFile, "-out", csr, "-subj", "/CN=bench-server"]);
  await Deno.writeTextFile(
    ext,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    caFile,
    "-CAkey",
    caKey,
    "-set_serial",
    "0x01",
    "-out",
    certFile,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return { certFile, keyFile, caFile };
}
