import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { type Config, ConfigError, formatUrl, parseConfig } from "../config.ts";

type Env = Record<string, string | undefined>;

function run(args: string[], env: Env = {}, file?: string): { config: Config; warnings: string[] } {
  const out = parseConfig(args, env, () => file ?? "", parseYaml);
  if (out.kind !== "run") throw new Error(`expected a run outcome, got ${out.kind}`);
  return out;
}

function fails(args: string[], message: string | RegExp, env: Env = {}, exitCode?: 1 | 2) {
  try {
    parseConfig(args, env, () => "", parseYaml);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    if (exitCode !== undefined) assert.equal(e.exitCode, exitCode);
    return;
  }
  assert.fail(`expected ConfigError for ${args.join(" ")}`);
}

Deno.test("build: defaults of the flags beyond the contract are etcd 3.5's", () => {
  const { config: c, warnings } = run([]);
  assert.deepEqual(warnings, []);
  assert.equal(c.initialElectionTickAdvance, true);
  assert.deepEqual([c.socketReusePort, c.socketReuseAddress], [false, false]);
  assert.deepEqual([c.raftReadTimeoutMs, c.raftWriteTimeoutMs], [5000, 5000]);
  assert.equal(c.enableGrpcGateway, true);
  assert.deepEqual([c.peerClientCertFile, c.peerClientKeyFile], ["", ""]);
  assert.equal(c.peerSkipClientSanVerification, false);
  assert.deepEqual([c.bcryptCost, c.authTokenTtlSeconds], [10, 300]);
  assert.equal(c.logRotation, null);
  assert.deepEqual([c.compactHashCheckEnabled, c.compactHashCheckTimeMs], [false, 60000]);
  assert.deepEqual([c.leaseCheckpoint, c.leaseCheckpointPersist], [false, false]);
  // Unset is 0 (etcd's embed.Config value; the member reads it as cairn's defaults).
  assert.deepEqual([c.compactionBatchLimit, c.compactionSleepIntervalMs], [0, 0]);
  assert.deepEqual([c.downgradeCheckTimeMs, c.warningApplyDurationMs], [5000, 100]);
  assert.equal(c.snapshotCatchUpEntries, 5000);
  assert.equal(c.unsafeNoFsync, false);
});

Deno.test("build: the contract's flags are parsed into their fields", () => {
  const { config: c } = run([
    "--cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "--tls-min-version=TLS1.2",
    "--tls-max-version=TLS1.3",
    "--self-signed-cert-validity=3",
    "--wal-dir=/wal",
    "--max-snapshots=0",
    "--max-wals=9",
    "--force-new-cluster",
    "--experimental-initial-corrupt-check",
    "--experimental-corrupt-check-time=5m",
    "--grpc-keepalive-min-time=1s",
    "--grpc-keepalive-interval=0",
    "--grpc-keepalive-timeout=1m30s",
    "--max-concurrent-streams=0x100",
    "--cors=http://a.example:8080,https://b.example:443,http://a.example:8080",
    "--host-whitelist=a.example,b.example,a.example",
    "--enable-pprof",
    "--log-outputs=stdout,/tmp/x.log,stdout",
    "--metrics=extensive",
    "--client-crl-file=c.crl",
    "--client-cert-allowed-hostname=client.example",
    "--peer-crl-file=p.crl",
    "--peer-cert-allowed-cn=peer",
    "--peer-cert-allowed-hostname=peer.example",
  ]);
  assert.deepEqual(c.cipherSuites, [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
  ]);
  assert.deepEqual([c.tlsMinVersion, c.tlsMaxVersion], ["TLS1.2", "TLS1.3"]);
  assert.equal(c.selfSignedCertValidityYears, 3);
  assert.deepEqual([c.walDir, c.maxSnapshots, c.maxWals], ["/wal", 0, 9]);
  assert.deepEqual([c.forceNewCluster, c.initialCorruptCheck, c.corruptCheckTimeMs], [
    true,
    true,
    300000,
  ]);
  assert.deepEqual(
    [c.grpcKeepaliveMinTimeMs, c.grpcKeepaliveIntervalMs, c.grpcKeepaliveTimeoutMs],
    [1000, 0, 90000],
  );
  assert.equal(c.maxConcurrentStreams, 256);
  assert.deepEqual(c.cors, ["http://a.example:8080", "https://b.example:443"]);
  assert.deepEqual(c.hostWhitelist, ["a.example", "b.example"]);
  assert.equal(c.enablePprof, true);
  assert.deepEqual(c.logOutputs, ["stdout", "/tmp/x.log"]);
  assert.equal(c.metrics, "extensive");
  assert.deepEqual(
    [c.clientTls.crlFile, c.clientTls.allowedHostname, c.clientTls.allowedCn],
    ["c.crl", "client.example", ""],
  );
  assert.deepEqual(
    [c.peerTls.crlFile, c.peerTls.allowedCn, c.peerTls.allowedHostname],
    ["p.crl", "peer", "peer.example"],
  );
});

Deno.test("build: TLS settings are refused with etcd's wording, naming the flag", () => {
  fails(
    ["--cipher-suites=TLS_FAKE"],
    'invalid value "TLS_FAKE" for flag -cipher-suites: unexpected TLS cipher suite "TLS_FAKE"',
    {},
    1,
  );
  fails(
    ["--tls-min-version=TLS1.1"],
    'invalid value "TLS1.1" for flag -tls-min-version: unexpected TLS version "TLS1.1" ' +
      "(must be one of: TLS1.2, TLS1.3)",
  );
  fails(
    [],
    /for ETCD_TLS_MAX_VERSION: unexpected TLS version "tls1.3"/,
    { ETCD_TLS_MAX_VERSION: "tls1.3" },
  );
  fails(
    ["--tls-min-version=TLS1.3", "--tls-max-version=TLS1.2"],
    "--tls-min-version, --tls-max-version: min version (TLS1.3) is greater than max version (TLS1.2)",
  );
  fails(
    ["--tls-min-version=TLS1.3", "--cipher-suites=TLS_AES_128_GCM_SHA256"],
    "--cipher-suites, --tls-min-version: cipher suites cannot be configured when only TLS1.3 " +
      "is enabled",
  );
  // Only TLS 1.3 allowed is fine without cipher suites; max alone is fine with them.
  run(["--tls-min-version=TLS1.3"]);
  run(["--tls-max-version=TLS1.2", "--cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA"]);
});

Deno.test("build: https and unixs listeners need a key pair or auto TLS", () => {
  const client = (url: string) => [`--listen-client-urls=${url}`, `--advertise-client-urls=${url}`];
  fails(
    client("unixs://localhost:2379"),
    "TLS key/cert (--cert-file, --key-file) must be provided for client url " +
      "unixs://localhost:2379 with HTTPS scheme",
  );
  fails(
    ["--listen-metrics-urls=https://127.0.0.1:2381"],
    /TLS key\/cert \(--cert-file, --key-file\) must be provided for client url/,
  );
  fails(
    [...client("https://127.0.0.1:2379"), "--cert-file=s.crt"],
    "--cert-file, --key-file: KeyFile and CertFile must both be present[key: , cert: s.crt]",
  );
  const both = run([...client("https://127.0.0.1:2379"), "--cert-file=s.crt", "--key-file=s.key"]);
  assert.deepEqual(both.warnings, []);
  // Files win over auto TLS, with etcd's warning.
  const auto = run([
    "--listen-peer-urls=https://127.0.0.1:2380",
    "--peer-auto-tls",
    "--peer-cert-file=p.crt",
    "--peer-key-file=p.key",
  ]);
  assert.deepEqual(auto.warnings, ["ignoring peer auto TLS since certs given"]);
  // A certificate on a plain http listener is not checked, as etcd ignores it there.
  run(["--cert-file=s.crt"]);
  fails(
    ["--peer-client-cert-file=c.crt"],
    "--peer-client-cert-file, --peer-client-key-file: ClientKeyFile and ClientCertFile must " +
      "both be present or both absent: key: , cert: c.crt]",
  );
});

Deno.test("build: unix socket URLs are accepted for listening, with etcd's URL rules", () => {
  const { config } = run([
    "--listen-client-urls=unix://localhost:2379,http://127.0.0.1:2379",
    "--advertise-client-urls=http://127.0.0.1:2379",
  ]);
  assert.deepEqual(config.listenClientUrls.map(formatUrl), [
    "unix://localhost:2379",
    "http://127.0.0.1:2379",
  ]);
  assert.equal(config.listenClientUrls[0].host, "localhost:2379");
  fails(
    ["--listen-client-urls=unix:///tmp/sock", "--advertise-client-urls=http://127.0.0.1:2379"],
    /URL must name a socket as host\[:port\]: unix:\/\/\/tmp\/sock/,
  );
  fails(
    ["--listen-client-urls=tcp://1.2.3.4:5", "--advertise-client-urls=http://127.0.0.1:2379"],
    /URL scheme must be http, https, unix, or unixs: tcp:\/\/1.2.3.4:5/,
  );
});

Deno.test("build: --cors takes '*' or URLs, as etcd's UniqueURLs does", () => {
  assert.deepEqual(run(["--cors=*"]).config.cors, ["*"]);
  fails(["--cors=example.com"], /invalid value "example.com" for flag -cors: URL scheme must be/);
  fails(["--cors=*,http://a:1"], /for flag -cors: URL scheme must be/);
  fails(["--cors=http://a.example"], /does not have the form "host:port"/);
  assert.deepEqual(run(["--host-whitelist="]).config.hostWhitelist, []);
});

Deno.test("build: numbers are range-checked like Go's flag types", () => {
  fails(["--max-concurrent-streams=4294967296"], /-max-concurrent-streams: value out of range/);
  fails(["--max-wals=-1"], 'invalid value "-1" for flag -max-wals: parse error', {}, 2);
  assert.equal(run(["--quota-backend-bytes=-1"]).config.quotaBackendBytes, -1);
  assert.equal(run(["--experimental-compaction-batch-limit=-5"]).config.compactionBatchLimit, -5);
  fails(["--grpc-keepalive-timeout=20"], /-grpc-keepalive-timeout: parse error/);
});

Deno.test("build: logger, log outputs and rotation follow etcd's checks", () => {
  fails(["--logger=glog"], '--logger: unknown logger option "glog"');
  fails(
    ["--log-outputs=default,stdout"],
    '--log-outputs: multi logoutput for "default" is not supported yet',
  );
  // Parsed (etcd 3.4's checks apply); src/log.ts refuses it at start-up as etcd 3.5 does.
  const capn = run(["--logger=capnslog", "--log-outputs=stdout"]);
  assert.equal(capn.config.logger, "capnslog");
  assert.deepEqual(capn.warnings, []);
  fails(
    ["--logger=capnslog", "--log-outputs=stdout,stderr"],
    `--logger=capnslog supports only 1 value in '--log-outputs', got ["stdout" "stderr"]`,
  );
  fails(
    ["--logger=capnslog", "--log-outputs=/tmp/f"],
    '--log-outputs: unknown log-output "/tmp/f" (only supports "default", "stderr", "stdout")',
  );
  const rot = run([
    "--enable-log-rotation",
    "--log-outputs=stderr,/var/log/etcd.log",
    '--log-rotation-config-json={"MaxSize": 5, "maxbackups": 2, "compress": true, "x": 1}',
  ]);
  assert.deepEqual(rot.config.logRotation, {
    maxSizeMb: 5,
    maxAgeDays: 0,
    maxBackups: 2,
    localTime: false,
    compress: true,
  });
  const needFile = "--log-outputs requires a single file path when --log-rotate-config-json " +
    "is defined";
  fails(["--enable-log-rotation"], needFile);
  fails(["--enable-log-rotation", "--log-outputs=/a,/b"], needFile);
  fails(
    ["--enable-log-rotation", "--log-outputs=/a", "--log-rotation-config-json={"],
    /^--log-rotation-config-json: improperly formatted log rotation config: /,
  );
  fails(
    ["--enable-log-rotation", "--log-outputs=/a", '--log-rotation-config-json={"maxsize":"1"}'],
    "--log-rotation-config-json: invalid log rotation config: json: cannot unmarshal string " +
      "into Go struct field " +
      "logRotationConfig.maxsize of type int",
  );
  // Without rotation the JSON is not read, as in etcd.
  assert.equal(run(["--log-rotation-config-json={"]).config.logRotation, null);
});

Deno.test("build: etcd 3.4's --debug and --log-output still work, with deprecation warnings", () => {
  const dbg = run(["--debug"]);
  assert.equal(dbg.config.logLevel, "debug");
  assert.deepEqual(dbg.warnings, ["--debug is deprecated (etcd 3.4); use --log-level=debug"]);
  const out = run(["--log-output=stdout"]);
  assert.deepEqual(out.config.logOutputs, ["stdout"]);
  fails(
    ["--log-output=stdout", "--log-outputs=stderr"],
    `'--log-output=["stdout"]' and '--log-outputs=["stderr"]' are incompatible; ` +
      "only set --log-outputs",
  );
});

Deno.test("build: experimental settings with etcd's cross-checks", () => {
  fails(
    ["--experimental-enable-lease-checkpoint-persist"],
    "setting experimental-enable-lease-checkpoint-persist requires " +
      "experimental-enable-lease-checkpoint",
  );
  const cp = run(["--experimental-enable-lease-checkpoint"]);
  assert.equal(cp.config.leaseCheckpoint, true);
  assert.ok(cp.warnings.some((w) => /checkpointing is enabled without persistence/.test(w)));
  fails(
    ["--experimental-compact-hash-check-time=0"],
    "--experimental-compact-hash-check-time must be >0 (set to 0s)",
  );
  fails(
    ["--experimental-compact-hash-check-time=-90s"],
    "--experimental-compact-hash-check-time must be >0 (set to -1m30s)",
  );
  fails(
    [
      "--experimental-enable-distributed-tracing",
      "--experimental-distributed-tracing-sampling-rate=-1",
    ],
    "--experimental-distributed-tracing-sampling-rate: distributed tracing configurition is " +
      "not valid: (tracing sampling rate must be positive)",
  );
  // Tracing off: the rate is not checked, as in etcd.
  run(["--experimental-distributed-tracing-sampling-rate=-1"]);
  const raft = run(["--raft-read-timeout=1s", "--raft-write-timeout=7s"]);
  assert.deepEqual([raft.config.raftReadTimeoutMs, raft.config.raftWriteTimeoutMs], [5000, 7000]);
  assert.ok(raft.warnings.includes("raft-read-timeout increased to minimum value: 5s"));
  const bcrypt = run(["--bcrypt-cost=3"]);
  assert.equal(bcrypt.config.bcryptCost, 10);
  assert.ok(bcrypt.warnings.some((w) => /use default bcrypt cost instead of the invalid/.test(w)));
  const metrics = run(["--metrics=verbose"]);
  assert.equal(metrics.config.metrics, "basic");
  fails(["--auto-compaction-mode=hourly"], 'unknown auto-compaction-mode "hourly"');
});

Deno.test("build: --discovery is refused; bootstrap flags conflict with etcd's message", () => {
  const conflict = "multiple discovery or bootstrap flags are set. Choose one of " +
    '"initial-cluster", "discovery" or "discovery-srv"';
  fails(
    ["--discovery=https://d.example/x", "--initial-cluster=default=http://127.0.0.1:2380"],
    conflict,
  );
  fails(["--discovery=https://d.example/x", "--discovery-srv=example.com"], conflict);
  fails([], conflict, {
    ETCD_DISCOVERY_SRV: "example.com",
    ETCD_INITIAL_CLUSTER: "default=http://127.0.0.1:2380",
  });
  fails(["--discovery=https://d.example/x"], /--discovery=https:\/\/d.example\/x: the etcd v2/);
  // The SRV name alone also drops the default cluster; with the domain it is the resolver's job.
  const srv = run(["--discovery-srv=example.com", "--discovery-srv-name=prod"]);
  assert.deepEqual([srv.config.discoverySrv, srv.config.discoverySrvName], ["example.com", "prod"]);
  assert.equal(srv.config.initialCluster.size, 0);
  // A proxy may omit advertise URLs, as etcd's mayBeProxy allows.
  run(["--proxy=on", "--listen-client-urls=http://127.0.0.1:2379"]);
});

Deno.test("build: the compaction batch flags are read as etcd's flag package reads them", () => {
  const c = run([
    "--experimental-compaction-batch-limit=500",
    "--experimental-compaction-sleep-interval=20ms",
  ]);
  assert.deepEqual(c.warnings, []);
  assert.deepEqual([c.config.compactionBatchLimit, c.config.compactionSleepIntervalMs], [500, 20]);
  // etcd's own defaults, given explicitly, are taken as given.
  const d = run(["--experimental-compaction-batch-limit=1000"], {
    ETCD_EXPERIMENTAL_COMPACTION_SLEEP_INTERVAL: "10ms",
  });
  assert.deepEqual([d.config.compactionBatchLimit, d.config.compactionSleepIntervalMs], [1000, 10]);
  // etcd accepts any int and any duration here; 0 means the default.
  assert.equal(run(["--experimental-compaction-batch-limit=0"]).config.compactionBatchLimit, 0);
  assert.equal(
    run(["--experimental-compaction-sleep-interval=-1s"]).config.compactionSleepIntervalMs,
    -1000,
  );
  // Go's flag package: "invalid value ... parse error", exit code 2.
  fails(
    ["--experimental-compaction-batch-limit=ten"],
    'invalid value "ten" for flag -experimental-compaction-batch-limit: parse error',
    {},
    2,
  );
  fails(
    ["--experimental-compaction-batch-limit=1.5"],
    'invalid value "1.5" for flag -experimental-compaction-batch-limit: parse error',
    {},
    2,
  );
  fails(
    ["--experimental-compaction-sleep-interval=10"],
    'invalid value "10" for flag -experimental-compaction-sleep-interval: parse error',
    {},
    2,
  );
  fails(
    ["--experimental-compact-hash-check-enabled=maybe"],
    'invalid boolean value "maybe" for -experimental-compact-hash-check-enabled: parse error',
    {},
    2,
  );
  fails(
    ["--experimental-compact-hash-check-time=1x"],
    'invalid value "1x" for flag -experimental-compact-hash-check-time: parse error',
    {},
    2,
  );
  // None of the four is "accepted without effect" any more.
  const all = run([
    "--experimental-compact-hash-check-enabled",
    "--experimental-compact-hash-check-time=2m",
    "--experimental-compaction-batch-limit=64",
    "--experimental-compaction-sleep-interval=1ms",
  ]);
  assert.deepEqual(all.warnings, []);
  assert.deepEqual([all.config.compactHashCheckEnabled, all.config.compactHashCheckTimeMs], [
    true,
    120000,
  ]);
});
