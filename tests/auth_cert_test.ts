/**
 * `--client-cert-auth` with auth enabled: a request over a verified client
 * certificate and with no token runs as the user the certificate's CN
 * names; a token, when given, wins. The same script runs on etcd 3.4 and
 * on cairn, with the same expectations.
 */
import assert from "node:assert/strict";
import { type CertPair, TestCa } from "./harness/certs.ts";
import { etcdctl } from "./harness/etcdctl.ts";
import { Member, type MemberKind } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("auth_cert_test.ts");

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name: `auth (${kind}): with --client-cert-auth the certificate's CN is the user`,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "cairn-auth-cert-" });
      const ca = await TestCa.create(dir, "main");
      const server = await ca.issue("server", "server");
      const alice = await ca.issue("alice", "alice");
      const root = await ca.issue("root", "root");
      const mallory = await ca.issue("mallory", "mallory");
      const m = await Member.start({
        kind,
        clientScheme: "https",
        healthClientCert: alice,
        extraArgs: [
          `--cert-file=${server.certFile}`,
          `--key-file=${server.keyFile}`,
          `--trusted-ca-file=${ca.certFile}`,
          "--client-cert-auth",
          "--log-level=warn",
        ],
      });
      const as = async (c: CertPair, args: string[]) => {
        const r = await etcdctl(m.endpoint, [
          `--cacert=${ca.certFile}`,
          `--cert=${c.certFile}`,
          `--key=${c.keyFile}`,
          ...args,
        ]);
        return r.code === 0
          ? `ok:${r.stdout.trim()}`
          : r.stderr.split("\n").filter((l) => l.startsWith("Error:")).join("\n");
      };
      try {
        for (
          const step of [
            ["user", "add", "root:rootpw"],
            ["role", "add", "root"],
            ["user", "grant-role", "root", "root"],
            ["user", "add", "alice", "--no-password"],
            ["role", "add", "ra"],
            ["role", "grant-permission", "ra", "readwrite", "a/", "--prefix=true"],
            ["user", "grant-role", "alice", "ra"],
            ["put", "a/1", "one"],
            ["put", "secret", "s"],
            ["auth", "enable"],
          ]
        ) {
          assert.match(await as(alice, step), /^ok:/, step.join(" "));
        }
        assert.equal(await as(alice, ["get", "a/1"]), "ok:a/1\none");
        assert.equal(await as(alice, ["put", "a/2", "two"]), "ok:OK");
        assert.equal(await as(alice, ["get", "secret"]), "Error: etcdserver: permission denied");
        assert.equal(await as(root, ["get", "secret"]), "ok:secret\ns");
        assert.equal(await as(root, ["user", "list"]), "ok:alice\nroot");
        // A token wins over the certificate.
        assert.equal(await as(alice, ["get", "secret", "--user=root:rootpw"]), "ok:secret\ns");
        // A certificate naming no user is no user with permissions.
        assert.equal(await as(mallory, ["get", "a/1"]), "Error: etcdserver: permission denied");
      } finally {
        await m.destroy();
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
