import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { type Config, parseConfig } from "../config.ts";
import { readArgs, readConfigFile, readEnv } from "./sources.ts";

function fromFile(yaml: string): { config: Config; warnings: string[] } {
  const out = parseConfig(["--config-file", "etcd.yml"], {}, () => yaml, parseYaml);
  if (out.kind !== "run") throw new Error("expected a run outcome");
  return out;
}

Deno.test("sources: etcd's config file layout (transport-security and socket-options sections)", () => {
  const { config: c, warnings } = fromFile(`
name: infra1
listen-client-urls: https://127.0.0.1:2379
advertise-client-urls: https://127.0.0.1:2379
listen-peer-urls: https://127.0.0.1:2380
initial-advertise-peer-urls: https://127.0.0.1:2380
initial-cluster: infra1=https://127.0.0.1:2380
client-transport-security:
  cert-file: /etc/etcd/server.crt
  key-file: /etc/etcd/server.key
  client-cert-auth: true
  trusted-ca-file: /etc/etcd/ca.crt
  auto-tls: false
  allowed-hostname: [client.example]
peer-transport-security:
  client-cert-file: /etc/etcd/pc.crt
  client-key-file: /etc/etcd/pc.key
  auto-tls: true
  allowed-cn: [peer-a, peer-b]
  crl-file: /etc/etcd/peer.crl
  bogus: 1
socket-options:
  reuse-port: true
  reuse-address: true
cipher-suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
log-outputs: [stderr]
cors: "http://a.example:80"
host-whitelist: "a.example,b.example"
experimental-corrupt-check-time: 2000000000
grpc-keepalive-interval: 1h
proxy: "off"
`);
  assert.deepEqual(c.clientTls, {
    certFile: "/etc/etcd/server.crt",
    keyFile: "/etc/etcd/server.key",
    trustedCaFile: "/etc/etcd/ca.crt",
    clientCertAuth: true,
    crlFile: "",
    autoTls: false,
    allowedCn: "",
    allowedHostname: "client.example",
  });
  assert.equal(c.peerTls.autoTls, true);
  assert.equal(c.peerTls.allowedCn, "peer-a,peer-b");
  assert.equal(c.peerTls.crlFile, "/etc/etcd/peer.crl");
  assert.deepEqual([c.peerClientCertFile, c.peerClientKeyFile], [
    "/etc/etcd/pc.crt",
    "/etc/etcd/pc.key",
  ]);
  assert.deepEqual([c.socketReusePort, c.socketReuseAddress], [true, true]);
  assert.deepEqual(c.cipherSuites, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
  assert.deepEqual(c.logOutputs, ["stderr"]);
  assert.deepEqual(c.cors, ["http://a.example:80"]);
  assert.deepEqual(c.hostWhitelist, ["a.example", "b.example"]);
  // etcd decodes a YAML number for a duration as nanoseconds (Go's time.Duration).
  assert.equal(c.corruptCheckTimeMs, 2000);
  assert.equal(c.grpcKeepaliveIntervalMs, 3600000);
  assert.deepEqual(warnings.filter((w) => !w.includes("has no effect yet")), [
    'unrecognized config file key "peer-transport-security.bogus" ignored',
  ]);
});

Deno.test("sources: config file values that break etcd's rules are refused, naming the key", () => {
  assert.throws(() => fromFile("tls-min-version: TLS1.0\n"), {
    message: 'invalid value "TLS1.0" for config key tls-min-version: unexpected TLS version ' +
      '"TLS1.0" (must be one of: TLS1.2, TLS1.3)',
  });
  assert.throws(() => fromFile("client-transport-security:\n  client-cert-auth: maybe\n"), {
    message: 'invalid value "maybe" for config key client-transport-security.client-cert-auth: ' +
      "parse error",
  });
  assert.throws(() => fromFile("peer-transport-security: [a]\n"), {
    message: "invalid value for config key peer-transport-security: expected a mapping",
  });
  assert.throws(() => fromFile("max-concurrent-streams: 99999999999\n"), {
    message: /config key max-concurrent-streams: value out of range/,
  });
});

Deno.test("sources: every ETCD_* variable of a known flag is read; others only warn", () => {
  const warnings: string[] = [];
  const env = {
    ETCD_CIPHER_SUITES: "TLS_AES_128_GCM_SHA256",
    ETCD_PEER_AUTO_TLS: "true",
    ETCD_V: "1",
    ETCD_EMPTY_IS_UNSET: undefined,
    ETCD_NOT_A_FLAG: "x",
    ETCD_WAL_DIR: "",
  };
  const settings = readEnv(new Map(), env, warnings);
  assert.deepEqual([...settings.keys()], ["peer-auto-tls", "cipher-suites", "v"]);
  assert.deepEqual(settings.get("cipher-suites"), {
    value: "TLS_AES_128_GCM_SHA256",
    where: "ETCD_CIPHER_SUITES",
  });
  assert.deepEqual(warnings, ["unrecognized environment variable ETCD_NOT_A_FLAG=x"]);
});

Deno.test("sources: readArgs treats bool-like legacy names as taking no value", () => {
  const { set } = readArgs(["-v", "--snapshot=x", "--name", "n"]);
  assert.deepEqual([...set.keys()], ["v", "snapshot", "name"]);
  assert.equal(set.get("name")?.value, "n");
  assert.throws(() => readArgs(["--auto-tls=yes"]), {
    message: 'invalid boolean value "yes" for -auto-tls: parse error',
  });
});

Deno.test("sources: an empty transport-security section is no setting", () => {
  const warnings: string[] = [];
  const set = readConfigFile(
    "f",
    () => "client-transport-security:\npeer-transport-security: {}\n",
    parseYaml,
    warnings,
  );
  assert.equal(set.size, 0);
  assert.deepEqual(warnings, []);
});

Deno.test("sources: empty URL, cors and host-whitelist keys keep etcd's defaults", () => {
  const { config: c } = fromFile(
    "listen-client-urls: ''\nadvertise-client-urls: ''\ncors: ''\nhost-whitelist: ''\n",
  );
  assert.equal(c.listenClientUrls.length, 1);
  assert.deepEqual([c.cors, c.hostWhitelist], [["*"], ["*"]]);
});
