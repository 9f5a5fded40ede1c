/**
 * TLS on the client port, as an operator runs it: certificates made by the
 * test with openssl, real members started with etcd's TLS flags, real
 * etcdctl with --cacert/--cert/--key/--insecure-skip-tls-verify. Each
 * scenario runs against cairn and etcd 3.4 with the same flags and the
 * outcomes must match.
 */
import assert from "node:assert/strict";
import { type CertPair, TestCa } from "./harness/certs.ts";
import { etcdctl } from "./harness/etcdctl.ts";
import { Member, type MemberKind } from "./harness/member.ts";
import { freePort } from "./harness/ports.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const skip = skipIfToolsMissing("tls_test.ts");

interface Pki {
  dir: string;
  ca: TestCa;
  server: CertPair;
  client: CertPair;
  revoked: CertPair;
  crl: string;
  stranger: CertPair;
}

let pki: Promise<Pki> | undefined;

/** One set of certificates shared by every test in this file. */
function certificates(): Promise<Pki> {
  pki ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "cairn-tls-" });
    const ca = await TestCa.create(dir, "main");
    const server = await ca.issue("server", "server");
    const client = await ca.issue("client", "client");
    const revoked = await ca.issue("revoked", "revoked");
    const crl = await ca.revoke(revoked.certFile);
    const other = await TestCa.create(dir, "other");
    const stranger = await other.issue("stranger", "stranger");
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* gone */ }
    });
    return { dir, ca, server, client, revoked, crl, stranger };
  })();
  return pki;
}

/** etcdctl over TLS against `m`; the outcome as "ok:<stdout>" or "refused". */
async function ctl(m: Member, tlsArgs: string[], args: string[]): Promise<string> {
  const res = await etcdctl(`https://127.0.0.1:${m.clientPort}`, [...tlsArgs, ...args]);
  return res.code === 0 ? `ok:${res.stdout.trim()}` : "refused";
}

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name: `tls (${kind}): mutual TLS with a CRL: a CA-signed client works; no cert, ` +
      `a revoked cert or another CA's cert is refused`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const p = await certificates();
      const m = await Member.start({
        kind,
        clientScheme: "https",
        healthClientCert: p.client,
        extraArgs: [
          `--cert-file=${p.server.certFile}`,
          `--key-file=${p.server.keyFile}`,
          `--trusted-ca-file=${p.ca.certFile}`,
          "--client-cert-auth",
          `--client-crl-file=${p.crl}`,
        ],
      });
      try {
        const ca = [`--cacert=${p.ca.certFile}`];
        const as = (c: CertPair) => [...ca, `--cert=${c.certFile}`, `--key=${c.keyFile}`];
        assert.equal(await ctl(m, as(p.client), ["put", "k", "v"]), "ok:OK");
        assert.equal(await ctl(m, as(p.client), ["get", "k"]), "ok:k\nv");
        assert.equal(await ctl(m, ca, ["get", "k"]), "refused", "no client certificate");
        assert.equal(await ctl(m, as(p.revoked), ["get", "k"]), "refused", "revoked");
        assert.equal(await ctl(m, as(p.stranger), ["get", "k"]), "refused", "untrusted CA");
        // The server's own certificate is checked too: a client without the CA refuses it.
        assert.equal(
          await ctl(m, [`--cert=${p.client.certFile}`, `--key=${p.client.keyFile}`], ["get", "k"]),
          "refused",
        );
        assert.equal(
          await ctl(m, [...as(p.client).slice(1), "--insecure-skip-tls-verify"], ["get", "k"]),
          "ok:k\nv",
        );
      } finally {
        await m.destroy();
      }
    },
  });

  Deno.test({
    name: `tls (${kind}): --auto-tls serves a generated certificate that ` +
      `--insecure-skip-tls-verify accepts and --cacert does not`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const p = await certificates();
      const m = await Member.start({ kind, clientScheme: "https", extraArgs: ["--auto-tls"] });
      // etcdctl 3.4 only turns TLS on for a bare skip-verify when told the transport is secure.
      const skipVerify = ["--insecure-transport=false", "--insecure-skip-tls-verify"];
      try {
        assert.equal(await ctl(m, skipVerify, ["put", "a", "1"]), "ok:OK");
        assert.equal(await ctl(m, skipVerify, ["get", "a"]), "ok:a\n1");
        assert.equal(await ctl(m, [`--cacert=${p.ca.certFile}`], ["get", "a"]), "refused");
        const pem = await Deno.readTextFile(`${m.dataDir}/fixtures/client/cert.pem`);
        assert.match(pem, /BEGIN CERTIFICATE/);
        // A restart reuses the pair rather than generating a new one.
        await m.restart();
        assert.equal(await Deno.readTextFile(`${m.dataDir}/fixtures/client/cert.pem`), pem);
        assert.equal(await ctl(m, skipVerify, ["get", "a"]), "ok:a\n1");
      } finally {
        await m.destroy();
      }
    },
  });

  Deno.test({
    name: `tls (${kind}): a unixs:// socket serves gRPC over TLS beside https`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const p = await certificates();
      const cwd = await Deno.makeTempDir({ prefix: "cairn-unixs-" });
      const port = freePort();
      const created = await Member.create({ kind, clientScheme: "https", cwd });
      created.options.extraArgs = [
        `--cert-file=${p.server.certFile}`,
        `--key-file=${p.server.keyFile}`,
        `--listen-client-urls=https://127.0.0.1:${created.clientPort},unixs://localhost:${port}`,
      ];
      created.launch();
      try {
        await created.waitHealthy();
        const run = async (args: string[]) => {
          const out = await new Deno.Command("etcdctl", {
            args: [
              `--endpoints=unixs://localhost:${port}`,
              `--cacert=${p.ca.certFile}`,
              "--dial-timeout=3s",
              ...args,
            ],
            cwd,
            env: { ETCDCTL_API: "3" },
            stdout: "piped",
            stderr: "piped",
          }).output();
          return out.code === 0 ? `ok:${new TextDecoder().decode(out.stdout).trim()}` : "refused";
        };
        assert.equal(await run(["put", "u", "x"]), "ok:OK");
        assert.equal(await run(["get", "u"]), "ok:u\nx");
        assert.ok(Deno.statSync(`${cwd}/localhost:${port}`).isSocket);
      } finally {
        await created.destroy();
        await Deno.remove(cwd, { recursive: true }).catch(() => {});
      }
    },
  });
}

/** `openssl s_client` with `args`: the /health body when a request got through, else "refused". */
async function sClientHealth(port: number, args: string[]): Promise<string> {
  const child = new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-quiet", "-ign_eof", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(
    new TextEncoder().encode("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
  );
  await w.close();
  const out = new TextDecoder().decode((await child.output()).stdout);
  return /"health":"true"/.test(out) ? "served" : "refused";
}

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name: `tls (${kind}): --cipher-suites: a TLS 1.2 client offering only a listed suite ` +
      `is served, one offering only another suite is not`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const p = await certificates();
      const m = await Member.start({
        kind,
        clientScheme: "https",
        extraArgs: [
          `--cert-file=${p.server.certFile}`,
          `--key-file=${p.server.keyFile}`,
          "--cipher-suites=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ],
      });
      try {
        const v12 = ["-tls1_2", "-CAfile", p.ca.certFile];
        assert.equal(
          await sClientHealth(m.clientPort, [...v12, "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]),
          "served",
        );
        assert.equal(
          await sClientHealth(m.clientPort, [...v12, "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"]),
          "refused",
        );
      } finally {
        await m.destroy();
      }
    },
  });
}

Deno.test({
  name: "tls (cairn): --tls-min-version TLS1.3 refuses TLS 1.2 clients; " +
    "--client-cert-allowed-hostname refuses certificates for other hosts",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const p = await certificates();
    const elsewhere = await p.ca.issue("elsewhere", "elsewhere", "DNS:db.elsewhere");
    const m = await Member.start({
      kind: "cairn",
      clientScheme: "https",
      healthClientCert: p.client,
      extraArgs: [
        `--cert-file=${p.server.certFile}`,
        `--key-file=${p.server.keyFile}`,
        `--trusted-ca-file=${p.ca.certFile}`,
        "--client-cert-auth",
        "--client-cert-allowed-hostname=localhost",
        "--tls-min-version=TLS1.3",
      ],
    });
    try {
      const as = (
        c: CertPair,
      ) => ["-CAfile", p.ca.certFile, "-cert", c.certFile, "-key", c.keyFile];
      assert.equal(await sClientHealth(m.clientPort, [...as(p.client), "-tls1_3"]), "served");
      assert.equal(await sClientHealth(m.clientPort, [...as(p.client), "-tls1_2"]), "refused");
      assert.equal(await sClientHealth(m.clientPort, [...as(elsewhere), "-tls1_3"]), "refused");
      const ca = [`--cacert=${p.ca.certFile}`];
      const withCert = (c: CertPair) => [...ca, `--cert=${c.certFile}`, `--key=${c.keyFile}`];
      assert.equal(await ctl(m, withCert(p.client), ["put", "h", "1"]), "ok:OK");
      assert.equal(await ctl(m, withCert(elsewhere), ["get", "h"]), "refused");
    } finally {
      await m.destroy();
    }
  },
});

/** Opens a TCP connection, sends nothing, and returns how long until the server closed it. */
async function silentConnectionLifetime(port: number, limitMs: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const t0 = performance.now();
  const timer = setTimeout(() => conn.close(), limitMs);
  try {
    await conn.read(new Uint8Array(1024)).catch(() => null);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
  return performance.now() - t0;
}

Deno.test({
  name: "tls (cairn): a connection that never starts its handshake is dropped within the bound, " +
    "with and without client certificates",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const p = await certificates();
    const certs = [`--cert-file=${p.server.certFile}`, `--key-file=${p.server.keyFile}`];
    // One member asks for client certificates, the other does not.
    const plain = await Member.start({ kind: "cairn", clientScheme: "https", extraArgs: certs });
    const mutual = await Member.start({
      kind: "cairn",
      clientScheme: "https",
      healthClientCert: p.client,
      extraArgs: [...certs, `--trusted-ca-file=${p.ca.certFile}`, "--client-cert-auth"],
    });
    try {
      const limit = 20_000;
      const lifetimes = await Promise.all(
        [plain, mutual].map((m) => silentConnectionLifetime(m.clientPort, limit)),
      );
      for (const ms of lifetimes) {
        assert.ok(ms < 15_000, `the silent connection lived ${ms.toFixed(0)} ms (bound: 10 s)`);
        assert.ok(ms > 5_000, `closed after ${ms.toFixed(0)} ms: too early for a handshake bound`);
      }
      // Both still serve.
      assert.equal(
        await ctl(plain, [`--cacert=${p.ca.certFile}`], ["put", "after", "1"]),
        "ok:OK",
      );
    } finally {
      await Promise.all([plain.destroy(), mutual.destroy()]);
    }
  },
});
