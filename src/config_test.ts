import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import {
  type Config,
  ConfigError,
  flagToEnv,
  formatUrl,
  helpText,
  parseConfig,
  type ParseOutcome,
  verifyBootstrap,
  wantsConfigFile,
} from "./config.ts";

type Env = Record<string, string | undefined>;

function noFile(p: string): string {
  throw new Error(`unexpected read of ${p}`);
}

function run(
  args: string[],
  env: Env = {},
  readFile = noFile,
): { config: Config; warnings: string[] } {
  const out: ParseOutcome = parseConfig(args, env, readFile, parseYaml);
  assert.equal(out.kind, "run");
  if (out.kind !== "run") throw new Error("unreachable");
  return out;
}

/** Asserts parseConfig throws a ConfigError with exactly `message` (and `exitCode` if given). */
function fails(args: string[], message: string | RegExp, env: Env = {}, exitCode?: 1 | 2) {
  try {
    parseConfig(args, env, noFile, parseYaml);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `not a ConfigError: ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    if (exitCode !== undefined) assert.equal(e.exitCode, exitCode);
    return;
  }
  assert.fail(`expected ConfigError for ${args.join(" ")}`);
}

const strs = (urls: URL[]) => urls.map(formatUrl);
const cluster = (c: Config) =>
  Object.fromEntries([...c.initialCluster].map(([n, us]) => [n, strs(us)]));

Deno.test("config: defaults", () => {
  const { config: c, warnings } = run([]);
  assert.deepEqual(warnings, []);
  assert.equal(c.name, "default");
  assert.equal(c.dataDir, "default.cairn");
  assert.deepEqual(strs(c.listenClientUrls), ["http://127.0.0.1:2379"]);
  assert.deepEqual(strs(c.advertiseClientUrls), ["http://127.0.0.1:2379"]);
  assert.deepEqual(strs(c.listenPeerUrls), ["http://127.0.0.1:2380"]);
  assert.deepEqual(strs(c.initialAdvertisePeerUrls), ["http://127.0.0.1:2380"]);
  assert.deepEqual(c.listenClientHttpUrls, []);
  assert.deepEqual(c.listenMetricsUrls, []);
  assert.deepEqual(cluster(c), { default: ["http://127.0.0.1:2380"] });
  assert.equal(c.initialClusterState, "new");
  assert.equal(c.initialClusterToken, "etcd-cluster");
  assert.equal(c.snapshotCount, 100000);
  assert.equal(c.quotaBackendBytes, 0);
  assert.equal(c.maxTxnOps, 128);
  assert.equal(c.maxRequestBytes, 1572864);
  assert.equal(c.heartbeatIntervalMs, 100);
  assert.equal(c.electionTimeoutMs, 1000);
  assert.equal(c.logLevel, "info");
  assert.equal(c.autoCompactionMode, "periodic");
  assert.equal(c.autoCompactionRetention, 0);
  assert.equal(c.authToken, "simple");
  assert.equal(c.watchProgressNotifyIntervalMs, 600000);
  assert.deepEqual(c.clientTls, {
    certFile: "",
    keyFile: "",
    trustedCaFile: "",
    clientCertAuth: false,
    crlFile: "",
    autoTls: false,
    allowedCn: "",
    allowedHostname: "",
  });
});

Deno.test("config: --name derives data dir and single-member initial cluster", () => {
  const { config: c } = run([
    "--name",
    "n1",
    "--initial-advertise-peer-urls",
    "http://10.0.0.1:2380",
  ]);
  assert.equal(c.dataDir, "n1.cairn");
  assert.deepEqual(cluster(c), { n1: ["http://10.0.0.1:2380"] });
});

Deno.test("config: flag forms -f v, --f v, --f=v, -f=v", () => {
  for (const args of [["-name", "a"], ["--name", "a"], ["--name=a"], ["-name=a"]]) {
    assert.equal(run(args).config.name, "a", args.join(" "));
  }
  // Like Go's flag package, a value may itself start with a dash.
  assert.equal(run(["--initial-cluster-token", "-tok"]).config.initialClusterToken, "-tok");
  // The last occurrence wins.
  assert.equal(run(["--snapshot-count", "1", "--snapshot-count=2"]).config.snapshotCount, 2);
  assert.equal(run(["--data-dir", "/var/lib/x"]).config.dataDir, "/var/lib/x");
});

Deno.test("config: boolean flags", () => {
  assert.equal(run(["--client-cert-auth"]).config.clientTls.clientCertAuth, true);
  assert.equal(run(["--client-cert-auth=true"]).config.clientTls.clientCertAuth, true);
  assert.equal(run(["--client-cert-auth=false"]).config.clientTls.clientCertAuth, false);
  assert.equal(run(["--peer-client-cert-auth=1"]).config.peerTls.clientCertAuth, true);
  fails(
    ["--client-cert-auth=maybe"],
    'invalid boolean value "maybe" for -client-cert-auth: parse error',
  );
  // A bool flag does not consume the next argument, which is then a positional: an error.
  fails(["--client-cert-auth", "false"], "'false' is not a valid flag");
});

Deno.test("config: numbers accept decimal and 0x, reject others", () => {
  assert.equal(run(["--max-txn-ops", "0x10"]).config.maxTxnOps, 16);
  assert.equal(run(["--quota-backend-bytes", "8589934592"]).config.quotaBackendBytes, 8589934592);
  for (const v of ["abc", "-1", "1.5", "", "1e3"]) {
    fails(["--snapshot-count", v], `invalid value "${v}" for flag -snapshot-count: parse error`);
  }
  fails(
    ["--snapshot-count", "99999999999999999999"],
    'invalid value "99999999999999999999" for flag -snapshot-count: value out of range',
  );
});

Deno.test("config: URL lists, deduplicated, order kept", () => {
  const { config: c } = run([
    "--listen-client-urls",
    "http://0.0.0.0:2379, https://[::1]:2379,http://0.0.0.0:2379",
    "--advertise-client-urls=http://node1.example:2379",
    "--cert-file=c.pem",
    "--key-file=k.pem",
    "--listen-client-http-urls",
    "http://127.0.0.1:8080",
  ]);
  assert.deepEqual(strs(c.listenClientUrls), ["http://0.0.0.0:2379", "https://[::1]:2379"]);
  assert.deepEqual(strs(c.advertiseClientUrls), ["http://node1.example:2379"]);
  assert.deepEqual(strs(c.listenClientHttpUrls), ["http://127.0.0.1:8080"]);
  assert.equal(c.clientTls.certFile, "c.pem");
});

Deno.test("config: URL validation messages", () => {
  const lc = (v: string) => ["--listen-client-urls", v, "--advertise-client-urls", v];
  const pre = (v: string) => `invalid value "${v}" for flag -listen-client-urls: `;
  fails(lc("foo"), pre("foo") + "URL scheme must be http, https, unix, or unixs: foo", {}, 2);
  fails(
    lc("ftp://127.0.0.1:1"),
    pre("ftp://127.0.0.1:1") + "URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1",
  );
  fails(
    lc("http://127.0.0.1"),
    pre("http://127.0.0.1") + 'URL address does not have the form "host:port": http://127.0.0.1',
  );
  fails(lc("http://127.0.0.1:99999"), /does not have the form "host:port"/);
  fails(
    lc("http://127.0.0.1:2379/x"),
    pre("http://127.0.0.1:2379/x") + "URL must not contain a path: http://127.0.0.1:2379/x",
  );
  fails(lc("http://127.0.0.1:2379/"), /URL must not contain a path/);
  fails(
    lc("http://foo:2379"),
    pre("http://foo:2379") + "expected IP in URL for binding (http://foo:2379)",
  );
  fails(
    ["--advertise-client-urls", "http://:2379"],
    'invalid value "http://:2379" for flag -advertise-client-urls: unexpected empty host (http://:2379)',
  );
  assert.deepEqual(strs(run(lc("http://localhost:2379")).config.listenClientUrls), [
    "http://localhost:2379",
  ]);
});

Deno.test("config: --advertise-client-urls required with explicit --listen-client-urls", () => {
  fails(
    ["--listen-client-urls", "http://127.0.0.1:2379"],
    "--advertise-client-urls is required when --listen-client-urls is set explicitly",
  );
  fails([], /advertise-client-urls is required/, {
    ETCD_LISTEN_CLIENT_URLS: "http://127.0.0.1:2379",
  });
});

Deno.test("config: https listeners need TLS files", () => {
  fails(
    [
      "--listen-client-urls=https://127.0.0.1:2379",
      "--advertise-client-urls=https://127.0.0.1:2379",
    ],
    "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme",
  );
  fails(
    ["--listen-peer-urls=https://127.0.0.1:2380"],
    /TLS key\/cert \(--peer-cert-file, --peer-key-file\) must be provided for peer url/,
  );
});

Deno.test("config: timing validation messages", () => {
  fails(
    ["--election-timeout", "400"],
    "--election-timeout[400ms] should be at least as 5 times as --heartbeat-interval[100ms]",
    {},
    1,
  );
  fails(["--heartbeat-interval", "0"], "--heartbeat-interval must be >0 (set to 0ms)");
  fails(["--election-timeout", "0"], "--election-timeout must be >0 (set to 0ms)");
  fails(
    ["--election-timeout", "60000"],
    "--election-timeout[60000ms] is too long, and should be set less than 50000ms",
  );
  const { config: c } = run(["--heartbeat-interval", "50", "--election-timeout", "250"]);
  assert.deepEqual([c.heartbeatIntervalMs, c.electionTimeoutMs], [50, 250]);
});

Deno.test("config: enum flags", () => {
  assert.equal(run(["--log-level", "debug"]).config.logLevel, "debug");
  assert.equal(run(["--log-level", "fatal"]).config.logLevel, "fatal");
  fails(
    ["--log-level", "loud"],
    'invalid value "loud" for flag -log-level: valid values are debug, info, warn, error, panic, fatal',
  );
  fails(
    ["--initial-cluster-state", "bogus"],
    'invalid value "bogus" for flag -initial-cluster-state: valid values are new, existing',
  );
});

Deno.test("config: initial cluster parsing and bootstrap checks", () => {
  const three = "a=http://10.0.0.1:2380,b=http://10.0.0.2:2380,c=http://10.0.0.3:2380";
  const { config: c } = run([
    "--name=b",
    "--initial-advertise-peer-urls=http://10.0.0.2:2380",
    "--initial-cluster",
    three,
  ]);
  assert.deepEqual(cluster(c), {
    a: ["http://10.0.0.1:2380"],
    b: ["http://10.0.0.2:2380"],
    c: ["http://10.0.0.3:2380"],
  });
  const two = run([
    "--name=a",
    "--initial-advertise-peer-urls=http://10.0.0.1:2380,http://10.0.1.1:2380",
    "--initial-cluster=a=http://10.0.1.1:2380,a=http://10.0.0.1:2380",
  ]).config;
  assert.deepEqual(cluster(two), { a: ["http://10.0.1.1:2380", "http://10.0.0.1:2380"] });

  fails(
    ["--name=z", "--initial-cluster", three],
    `couldn't find local name "z" in the initial cluster configuration`,
  );
  fails(
    ["--name=a", "--initial-cluster=a=http://127.0.0.1:2381"],
    "--initial-cluster has a=http://127.0.0.1:2381 but missing from " +
      "--initial-advertise-peer-urls=http://127.0.0.1:2380",
  );
  fails(
    [
      "--name=a",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380,http://127.0.0.1:2390",
      "--initial-cluster=a=http://127.0.0.1:2380",
    ],
    "--initial-advertise-peer-urls has http://127.0.0.1:2390 but missing from " +
      "--initial-cluster=a=http://127.0.0.1:2380,a=http://127.0.0.1:2390",
  );
  fails(
    ["--initial-cluster=default=http://127.0.0.1:2380,b=http://127.0.0.1:2380"],
    "initial cluster b=http://127.0.0.1:2380,default=http://127.0.0.1:2380 has duplicate url",
  );
  fails(
    ["--initial-cluster", "x"],
    "error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ",
  );
  fails(["--initial-cluster", ""], "initial cluster unset and no discovery URL found");
  // Joining an existing cluster: the URLs need not match, the name must be present.
  const existing = run([
    "--initial-cluster-state=existing",
    "--initial-cluster=default=http://10.9.9.9:2380,b=http://10.0.0.2:2380",
  ]).config;
  assert.equal(existing.initialClusterState, "existing");
  fails(
    ["--initial-cluster-state=existing", "--initial-cluster=b=http://10.0.0.2:2380"],
    /couldn't find local name "default"/,
  );
});

Deno.test("config: verifyBootstrap is exported and re-checks a config", () => {
  const { config } = run([]);
  verifyBootstrap(config);
  config.initialCluster = new Map([["other", [new URL("http://127.0.0.1:2380")]]]);
  assert.throws(() => verifyBootstrap(config), ConfigError);
});

Deno.test("config: ETCD_* environment variables", () => {
  const { config: c, warnings } = run([], {
    ETCD_NAME: "envname",
    ETCD_INITIAL_CLUSTER_TOKEN: "tok",
    ETCD_SNAPSHOT_COUNT: "5",
    ETCD_CLIENT_CERT_AUTH: "true",
    ETCD_DATA_DIR: "", // empty means unset, like etcd
    PATH: "/bin",
  });
  assert.deepEqual(warnings, []);
  assert.equal(c.name, "envname");
  assert.equal(c.dataDir, "envname.cairn");
  assert.equal(c.initialClusterToken, "tok");
  assert.equal(c.snapshotCount, 5);
  assert.equal(c.clientTls.clientCertAuth, true);
  assert.equal(flagToEnv("initial-cluster-token"), "ETCD_INITIAL_CLUSTER_TOKEN");
});

Deno.test("config: env errors and warnings", () => {
  fails([], 'invalid value "abc" for ETCD_SNAPSHOT_COUNT: parse error', {
    ETCD_SNAPSHOT_COUNT: "abc",
  }, 1);
  fails([], 'invalid value "3.4" for ETCD_VERSION: parse error', { ETCD_VERSION: "3.4" });
  const { warnings } = run([], { ETCD_FOO: "x", ETCD_UNDEFINED: undefined });
  assert.deepEqual(warnings, ["unrecognized environment variable ETCD_FOO=x"]);
});

Deno.test("config: a flag and its environment variable together are an error", () => {
  const msg = 'conflicting environment variable "ETCD_NAME" is shadowed by corresponding ' +
    "command-line flag (either unset environment variable or disable flag)";
  fails(["--name", "y"], msg, { ETCD_NAME: "x" });
  fails(["--name", "x"], msg, { ETCD_NAME: "" });
  // Different flags from the two sources combine.
  const { config: c } = run(["--name", "y"], { ETCD_INITIAL_CLUSTER_TOKEN: "t" });
  assert.deepEqual([c.name, c.initialClusterToken], ["y", "t"]);
});

Deno.test("config: command-line syntax errors", () => {
  fails(["--foo"], "flag provided but not defined: -foo", {}, 2);
  fails(["-foo=1"], "flag provided but not defined: -foo");
  fails(["--enable-grpc-gatewayz"], "flag provided but not defined: -enable-grpc-gatewayz");
  fails(["--name"], "flag needs an argument: -name", {}, 2);
  fails(["---x"], "bad flag syntax: ---x", {}, 2);
  fails(["-=x"], "bad flag syntax: -=x");
  fails(["extra"], "'extra' is not a valid flag", {}, 1);
  fails(["--name", "a", "--", "b"], "'b' is not a valid flag");
  assert.equal(run(["--name", "a", "--"]).config.name, "a");
});

Deno.test("config: --version and --help outcomes", () => {
  for (const v of [["--version"], ["-version"], ["--name=x", "--version=true"]]) {
    assert.deepEqual(parseConfig(v, {}, noFile), { kind: "version" });
  }
  assert.equal(run(["--version=false"]).config.name, "default");
  for (const h of [["--help"], ["-h"], ["-help"], ["--name", "x", "-h", "--bogus"]]) {
    const out = parseConfig(h, {}, noFile);
    assert.equal(out.kind, "help");
    if (out.kind === "help") assert.equal(out.text, helpText());
  }
  // Go's flag package reports an earlier bad flag before reaching -h.
  fails(["--bogus", "-h"], "flag provided but not defined: -bogus");
});

Deno.test("config: help text lists every flag with its variable", () => {
  const text = helpText();
  assert.match(text, /^Usage:/);
  for (
    const f of [
      "name",
      "data-dir",
      "listen-client-urls",
      "initial-cluster-token",
      "log-level",
      "config-file",
    ]
  ) {
    assert.ok(text.includes(`--${f}`), f);
    assert.ok(text.includes(`[$${flagToEnv(f)}]`), f);
  }
  assert.ok(text.includes("--listen-client-urls 'http://127.0.0.1:2379'"));
});

Deno.test("config: compatibility flags log one line each, naming the flag and the reason", () => {
  const { warnings } = run([
    "--logger=zap",
    "--enable-v2=true",
    "--strict-reconfig-check",
    "--backend-batch-limit=10",
    "--proxy=off",
  ]);
  assert.deepEqual(warnings, [
    "--enable-v2=true is accepted for etcd compatibility but has no effect: " +
    "cairn serves only the v3 API; there is no v2 store",
    "--backend-batch-limit=10 is accepted for etcd compatibility but has no effect: " +
    "it tunes etcd's bbolt backend; cairn keeps its store in memory, persisted by its WAL " +
    "and snapshots",
  ]);
  fails(["--logger", "glog"], '--logger: unknown logger option "glog"');
});

Deno.test("config: auto compaction retention", () => {
  const r = (...a: string[]) => run(a).config.autoCompactionRetention;
  assert.equal(r("--auto-compaction-retention", "1h"), 3600000);
  assert.equal(r("--auto-compaction-retention", "1h30m"), 5400000);
  assert.equal(r("--auto-compaction-retention", "90s"), 90000);
  assert.equal(r("--auto-compaction-retention", "2"), 7200000);
  assert.equal(r("--auto-compaction-mode=revision", "--auto-compaction-retention=1000"), 1000);
  fails(
    ["--auto-compaction-retention", "soon"],
    'invalid value "soon" for flag -auto-compaction-retention: parse error',
  );
  fails(["--auto-compaction-mode=revision", "--auto-compaction-retention=1h"], /parse error/);
});

Deno.test("config: --experimental-watch-progress-notify-interval (flag, env, YAML)", () => {
  const ms = (args: string[], env: Env = {}) => run(args, env).config.watchProgressNotifyIntervalMs;
  const flag = "--experimental-watch-progress-notify-interval";
  assert.equal(ms([]), 600000);
  assert.equal(ms([flag, "10m"]), 600000);
  assert.equal(ms([`${flag}=300ms`]), 300);
  assert.equal(ms([flag, "1m30s"]), 90000);
  assert.equal(ms([flag, "1.5s"]), 1500);
  assert.equal(ms([], { ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL: "2s" }), 2000);
  // etcd's v3rpc: non-positive keeps the default; below 100ms is raised, with a warning.
  assert.equal(ms([flag, "0"]), 600000);
  assert.equal(ms([flag, "-1s"]), 600000);
  const low = run([flag, "50ms"]);
  assert.equal(low.config.watchProgressNotifyIntervalMs, 100);
  assert.deepEqual(low.warnings, [
    "adjusting watch progress notify interval to minimum period 100ms",
  ]);
  // Go's time.ParseDuration wants a unit: a bare number is a parse error, as in etcd.
  fails(
    [flag, "10"],
    'invalid value "10" for flag -experimental-watch-progress-notify-interval: parse error',
    {},
    2,
  );
  fails(
    [],
    'invalid value "soon" for ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL: parse error',
    { ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL: "soon" },
    1,
  );
  const yaml = run(
    ["--config-file=c.yml"],
    {},
    () => "experimental-watch-progress-notify-interval: 750ms\n",
  );
  assert.equal(yaml.config.watchProgressNotifyIntervalMs, 750);
  assert.deepEqual(yaml.warnings, []);
  assert.match(helpText(), /--experimental-watch-progress-notify-interval '10m'/);
  assert.match(helpText(), /\$ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL/);
});

const YAML = `
# etcd-style config file
name: 'infra1'
data-dir: /var/lib/etcd/infra1
listen-client-urls: http://10.0.0.1:2379,http://127.0.0.1:2379
advertise-client-urls: http://10.0.0.1:2379
listen-peer-urls: http://10.0.0.1:2380
initial-advertise-peer-urls: http://10.0.0.1:2380
initial-cluster: infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380
initial-cluster-state: 'new'
initial-cluster-token: 'etcd-cluster-1'
snapshot-count: 10000
quota-backend-bytes: 4294967296
max-txn-ops: 256
max-request-bytes: 2097152
heartbeat-interval: 200
election-timeout: 2000
log-level: warn
client-transport-security:
enable-v2: false
`;

Deno.test("config: --config-file with etcd YAML keys", () => {
  const read = (p: string) => {
    assert.equal(p, "/etc/etcd.yml");
    return YAML;
  };
  const { config: c, warnings } = run(["--config-file", "/etc/etcd.yml"], {}, read);
  assert.equal(c.name, "infra1");
  assert.equal(c.dataDir, "/var/lib/etcd/infra1");
  assert.deepEqual(strs(c.listenClientUrls), ["http://10.0.0.1:2379", "http://127.0.0.1:2379"]);
  assert.deepEqual(strs(c.advertiseClientUrls), ["http://10.0.0.1:2379"]);
  assert.deepEqual(strs(c.listenPeerUrls), ["http://10.0.0.1:2380"]);
  assert.deepEqual(cluster(c), {
    infra1: ["http://10.0.0.1:2380"],
    infra2: ["http://10.0.0.2:2380"],
  });
  assert.equal(c.initialClusterToken, "etcd-cluster-1");
  assert.deepEqual(
    [c.snapshotCount, c.quotaBackendBytes, c.maxTxnOps, c.maxRequestBytes],
    [10000, 4294967296, 256, 2097152],
  );
  assert.deepEqual([c.heartbeatIntervalMs, c.electionTimeoutMs, c.logLevel], [200, 2000, "warn"]);
  // etcd's empty TLS section is no warning; keys cairn does not know are reported, not fatal.
  assert.deepEqual(warnings, []);
});

Deno.test("config: config file ignores other flags and env, also via ETCD_CONFIG_FILE", () => {
  const read = () =>
    "name: fromfile\nlisten-peer-urls: [http://127.0.0.1:2390]\n" +
    "initial-advertise-peer-urls: http://127.0.0.1:2390\n";
  const viaFlag = run(["--config-file=c.yml", "--name=flag"], { ETCD_NAME: "env" }, read);
  assert.equal(viaFlag.config.name, "fromfile");
  assert.deepEqual(strs(viaFlag.config.listenPeerUrls), ["http://127.0.0.1:2390"]);
  assert.deepEqual(cluster(viaFlag.config), { fromfile: ["http://127.0.0.1:2390"] });
  assert.deepEqual(viaFlag.warnings, [
    'loaded server configuration from "c.yml"; other command-line flags and environment ' +
    "variables are ignored: -name, ETCD_NAME",
  ]);
  const viaEnv = run([], { ETCD_CONFIG_FILE: "c.yml", ETCD_NAME: "env" }, read);
  assert.equal(viaEnv.config.name, "fromfile");
});

Deno.test("config: config file errors", () => {
  const withFile = (text: string) => () =>
    parseConfig(["--config-file", "c.yml"], {}, () => text, parseYaml);
  assert.throws(withFile("snapshot-count: abc\n"), {
    message: 'invalid value "abc" for config key snapshot-count: parse error',
  });
  assert.throws(withFile("election-timeout: 300\n"), { message: /should be at least as 5 times/ });
  assert.throws(withFile("listen-client-urls: ftp://x:1\n"), {
    message: 'invalid value "ftp://x:1" for config key listen-client-urls: ' +
      "URL scheme must be http, https, unix, or unixs: ftp://x:1",
  });
  assert.throws(withFile("name: [a, {b: 1}]\n"), {
    message: "invalid value for config key name: expected a string or number",
  });
  assert.throws(withFile("- a\n- b\n"), { message: /must be a YAML mapping/ });
  assert.throws(withFile("name: 'unterminated\n"), { message: /cannot parse config file "c.yml"/ });
  assert.equal(parseConfig(["--config-file", "c.yml"], {}, () => "", parseYaml).kind, "run");
  const missing = () =>
    parseConfig(["--config-file", "nope.yml"], {}, () => {
      throw new Error("No such file or directory");
    });
  assert.throws(missing, {
    name: "ConfigError",
    message: 'cannot read config file "nope.yml": No such file or directory',
  });
});

Deno.test("config: quota above 8 GiB warns", () => {
  const { warnings } = run(["--quota-backend-bytes", String(16 * 1024 ** 3)]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /exceeds the recommended maximum/);
});

Deno.test("config: formatUrl always spells out the port", () => {
  assert.equal(formatUrl(new URL("http://h:80")), "http://h:80");
  assert.equal(formatUrl(new URL("https://h:443")), "https://h:443");
  assert.equal(formatUrl(new URL("https://[::1]:2379")), "https://[::1]:2379");
});

Deno.test("--pre-vote defaults to on and can be turned off like etcd's", () => {
  const base = ["--name", "n1"];
  const on = parseConfig(base, {});
  const off = parseConfig([...base, "--pre-vote=false"], {});
  assert.ok(on.kind === "run" && on.config.preVote === true);
  assert.ok(off.kind === "run" && off.config.preVote === false);
});

Deno.test("wantsConfigFile: only a --config-file flag or ETCD_CONFIG_FILE loads the YAML parser", () => {
  assert.equal(wantsConfigFile(["--name", "a"], {}), false);
  assert.equal(wantsConfigFile(["--config-file", "c.yml"], {}), true);
  assert.equal(wantsConfigFile(["--config-file=c.yml"], {}), true);
  assert.equal(wantsConfigFile(["-config-file", "c.yml"], {}), true);
  assert.equal(wantsConfigFile([], { ETCD_CONFIG_FILE: "c.yml" }), true);
  assert.equal(wantsConfigFile(["--config-filex"], {}), false);
});

Deno.test("config: contract fields of issue 10 have etcd's defaults", () => {
  const { config: c } = run([]);
  assert.deepEqual(c.cipherSuites, []);
  assert.equal(c.tlsMinVersion, "");
  assert.equal(c.tlsMaxVersion, "");
  assert.equal(c.selfSignedCertValidityYears, 1);
  assert.equal(c.walDir, "");
  assert.deepEqual([c.maxSnapshots, c.maxWals], [5, 5]);
  assert.equal(c.forceNewCluster, false);
  assert.equal(c.initialCorruptCheck, false);
  assert.equal(c.corruptCheckTimeMs, 0);
  assert.deepEqual(
    [c.grpcKeepaliveMinTimeMs, c.grpcKeepaliveIntervalMs, c.grpcKeepaliveTimeoutMs],
    [5000, 7200000, 20000],
  );
  assert.equal(c.maxConcurrentStreams, 4294967295);
  assert.deepEqual(c.cors, ["*"]);
  assert.deepEqual(c.hostWhitelist, ["*"]);
  assert.deepEqual([c.discoverySrv, c.discoverySrvName], ["", ""]);
  assert.equal(c.enablePprof, false);
  assert.equal(c.logger, "zap");
  assert.deepEqual(c.logOutputs, ["default"]);
  assert.equal(c.metrics, "basic");
});

Deno.test("config: https listeners accept --auto-tls / --peer-auto-tls instead of files", () => {
  const https = [
    "--listen-client-urls=https://127.0.0.1:2379",
    "--advertise-client-urls=https://127.0.0.1:2379",
  ];
  fails(https, /TLS key\/cert \(--cert-file, --key-file\) must be provided/);
  assert.equal(run([...https, "--auto-tls"]).config.clientTls.autoTls, true);
  const peer = ["--listen-peer-urls=https://127.0.0.1:2380"];
  fails(peer, /TLS key\/cert \(--peer-cert-file, --peer-key-file\) must be provided/);
  assert.equal(run([...peer, "--peer-auto-tls"]).config.peerTls.autoTls, true);
});

Deno.test("config: --discovery-srv skips the initial-cluster checks; with --initial-cluster it is an error", () => {
  const { config } = run(["--name", "n1", "--discovery-srv", "example.com"]);
  assert.equal(config.discoverySrv, "example.com");
  assert.equal(config.initialCluster.size, 0);
  fails(
    ["--discovery-srv", "example.com", "--initial-cluster", "default=http://127.0.0.1:2380"],
    'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", ' +
      '"discovery" or "discovery-srv"',
  );
});
