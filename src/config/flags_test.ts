import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { ConfigError, parseConfig, type ParseOutcome } from "../config.ts";
import { FLAG_EXAMPLES, type FlagExample } from "./examples.ts";
import { allFlagNames, FLAGS, flagToEnv, LEGACY_IGNORED, lookupFlag } from "./flags.ts";
import { helpText } from "./help.ts";

type Env = Record<string, string>;

/** Flags handled by their own tests: they change what parseConfig does rather than a setting. */
const SPECIAL = new Set(["config-file", "version"]);

function settingsOf(name: string, e: FlagExample): [string, string][] {
  return [[name, e.value], ...Object.entries(e.with ?? {})];
}

/** parseConfig's outcome, or the ConfigError it threw. */
function attempt(args: string[], env: Env, file?: string): ParseOutcome | ConfigError {
  try {
    return parseConfig(args, env, () => file ?? "", parseYaml);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
}

function expectAccepted(name: string, how: string, out: ParseOutcome | ConfigError) {
  const e = FLAG_EXAMPLES[name];
  if (e.refused) {
    assert.ok(out instanceof ConfigError, `${name} via ${how}: expected the refusal`);
    assert.match(out.message, e.refused, `${name} via ${how}`);
    return;
  }
  assert.ok(!(out instanceof ConfigError), `${name} via ${how}: ${(out as Error).message}`);
  assert.equal(out.kind, "run", `${name} via ${how}`);
}

/**
 * Every flag etcd 3.5 defines: the names in release-3.5's
 * server/etcdmain/help.go and config.go, and in v3.5.0's (the 3.4 list comes
 * from the installed etcd in tests/flag_surface_test.ts).
 */
const ETCD_35_FLAGS = [
  "advertise-client-urls",
  "auth-token",
  "auth-token-ttl",
  "auto-compaction-mode",
  "auto-compaction-retention",
  "auto-tls",
  "backend-batch-interval",
  "backend-batch-limit",
  "backend-bbolt-freelist-type",
  "bcrypt-cost",
  "cert-file",
  "cipher-suites",
  "client-cert-allowed-hostname",
  "client-cert-auth",
  "client-cert-file",
  "client-crl-file",
  "client-key-file",
  "config-file",
  "cors",
  "data-dir",
  "discovery",
  "discovery-fallback",
  "discovery-proxy",
  "discovery-srv",
  "discovery-srv-name",
  "election-timeout",
  "enable-grpc-gateway",
  "enable-log-rotation",
  "enable-pprof",
  "enable-v2",
  "experimental-bootstrap-defrag-threshold-megabytes",
  "experimental-compact-hash-check-enabled",
  "experimental-compact-hash-check-time",
  "experimental-compaction-batch-limit",
  "experimental-compaction-sleep-interval",
  "experimental-corrupt-check-time",
  "experimental-distributed-tracing-address",
  "experimental-distributed-tracing-instance-id",
  "experimental-distributed-tracing-sampling-rate",
  "experimental-distributed-tracing-service-name",
  "experimental-downgrade-check-time",
  "experimental-enable-distributed-tracing",
  "experimental-enable-lease-checkpoint",
  "experimental-enable-lease-checkpoint-persist",
  "experimental-enable-v2v3",
  "experimental-initial-corrupt-check",
  "experimental-memory-mlock",
  "experimental-peer-skip-client-san-verification",
  "experimental-snapshot-catchup-entries",
  "experimental-stop-grpc-service-on-defrag",
  "experimental-txn-mode-write-with-shared-buffer",
  "experimental-warning-apply-duration",
  "experimental-watch-progress-notify-interval",
  "force-new-cluster",
  "grpc-keepalive-interval",
  "grpc-keepalive-min-time",
  "grpc-keepalive-timeout",
  "heartbeat-interval",
  "host-whitelist",
  "initial-advertise-peer-urls",
  "initial-cluster",
  "initial-cluster-state",
  "initial-cluster-token",
  "initial-election-tick-advance",
  "key-file",
  "listen-client-http-urls",
  "listen-client-urls",
  "listen-metrics-urls",
  "listen-peer-urls",
  "log-level",
  "log-outputs",
  "log-rotation-config-json",
  "logger",
  "max-concurrent-streams",
  "max-request-bytes",
  "max-snapshots",
  "max-txn-ops",
  "max-wals",
  "metrics",
  "name",
  "peer-auto-tls",
  "peer-cert-allowed-cn",
  "peer-cert-allowed-hostname",
  "peer-cert-file",
  "peer-client-cert-auth",
  "peer-client-cert-file",
  "peer-client-key-file",
  "peer-crl-file",
  "peer-key-file",
  "peer-trusted-ca-file",
  "pre-vote",
  "proxy",
  "proxy-dial-timeout",
  "proxy-failure-wait",
  "proxy-read-timeout",
  "proxy-refresh-interval",
  "proxy-write-timeout",
  "quota-backend-bytes",
  "raft-read-timeout",
  "raft-write-timeout",
  "self-signed-cert-validity",
  "snapshot-count",
  "socket-reuse-address",
  "socket-reuse-port",
  "strict-reconfig-check",
  "tls-max-version",
  "tls-min-version",
  "trusted-ca-file",
  "unsafe-no-fsync",
  "v2-deprecation",
  "version",
  "wal-dir",
];

Deno.test("flags: every etcd 3.5 flag is accepted", () => {
  const missing = ETCD_35_FLAGS.filter((n) => lookupFlag(n) === undefined);
  assert.deepEqual(missing, []);
});

Deno.test("flags: every flag has an etcd-style example", () => {
  const missing = Object.keys(FLAGS).filter((n) => !FLAG_EXAMPLES[n]);
  assert.deepEqual(missing, []);
  const stale = Object.keys(FLAG_EXAMPLES).filter((n) => !FLAGS[n]);
  assert.deepEqual(stale, []);
});

Deno.test("flags: every flag accepts its example on the command line", () => {
  for (const name of Object.keys(FLAGS)) {
    if (SPECIAL.has(name)) continue;
    const args = settingsOf(name, FLAG_EXAMPLES[name]).map(([k, v]) => `--${k}=${v}`);
    expectAccepted(name, "flag", attempt(args, {}));
  }
});

Deno.test("flags: every flag accepts its example as an ETCD_* variable", () => {
  for (const name of Object.keys(FLAGS)) {
    if (SPECIAL.has(name)) continue;
    const env = Object.fromEntries(
      settingsOf(name, FLAG_EXAMPLES[name]).map(([k, v]) => [flagToEnv(k), v]),
    );
    expectAccepted(name, flagToEnv(name), attempt([], env));
  }
});

Deno.test("flags: every flag accepts its example as a config file key", () => {
  for (const name of Object.keys(FLAGS)) {
    if (SPECIAL.has(name)) continue;
    const yaml = settingsOf(name, FLAG_EXAMPLES[name])
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}\n`)
      .join("");
    const out = attempt(["--config-file=etcd.yml"], {}, yaml);
    expectAccepted(name, "config file", out);
    if (out instanceof ConfigError) continue;
    if (out.kind !== "run") continue;
    const unknown = out.warnings.filter((w) => w.startsWith("unrecognized config file key"));
    assert.deepEqual(unknown, [], name);
  }
});

Deno.test("flags: every flag has its own ETCD_* variable", () => {
  const names = allFlagNames();
  const vars = names.map(flagToEnv);
  assert.equal(new Set(vars).size, names.length);
});

Deno.test("flags: the legacy names etcd ignores are accepted without a value and noted", () => {
  for (const name of LEGACY_IGNORED) {
    const out = attempt([`-${name}`, "--name=n1"], {});
    assert.ok(!(out instanceof ConfigError), `${name}: ${(out as Error).message}`);
    assert.equal(out.kind, "run");
    if (out.kind !== "run") continue;
    assert.equal(out.config.name, "n1", `-${name} must not swallow the next argument`);
    assert.deepEqual(out.warnings, [
      `--${name} is accepted for etcd compatibility but has no effect: ` +
      "etcd no longer supports it either",
    ]);
  }
});

Deno.test("flags: each ignored flag that is set logs exactly one line naming it", () => {
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (!spec.ignored) continue;
    const e = FLAG_EXAMPLES[name];
    const args = settingsOf(name, e).map(([k, v]) => `--${k}=${v}`);
    const out = attempt(args, {});
    if (out instanceof ConfigError || out.kind !== "run") continue; // refusals tested elsewhere
    const lines = out.warnings.filter((w) => w.startsWith(`--${name}=`));
    assert.equal(lines.length, e.value === spec.ignored.unless ? 0 : 1, `${name}: ${lines}`);
    if (lines.length) assert.match(lines[0], /has no effect: \S/);
  }
});

Deno.test("flags: --help lists every flag with its variable and default", () => {
  const text = helpText();
  for (const [name, spec] of Object.entries(FLAGS)) {
    assert.ok(text.includes(`  --${name} '${spec.shownDef ?? spec.def}'\n`), name);
    assert.ok(text.includes(`[$${flagToEnv(name)}]`), name);
  }
  for (const name of LEGACY_IGNORED) assert.ok(text.includes(`--${name}`), name);
});

Deno.test("flags: each parsed-but-unwired flag set to a non-default value logs one line", () => {
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (!spec.notYet) continue;
    const e = FLAG_EXAMPLES[name];
    const args = settingsOf(name, e).map(([k, v]) => `--${k}=${v}`);
    const out = attempt(args, {});
    assert.ok(!(out instanceof ConfigError) && out.kind === "run", name);
    const lines = out.warnings.filter((w) => w.startsWith(`--${name}=`));
    assert.equal(lines.length, 1, `${name}: ${out.warnings}`);
    assert.match(lines[0], /has no effect yet: \S/);
    // Set to its default (spelled differently for booleans), it changes nothing: no note.
    const def = spec.kind === "bool" ? (spec.def === "true" ? "1" : "0") : spec.def;
    const quiet = attempt([`--${name}=${def}`, ...args.slice(1)], {});
    if (quiet instanceof ConfigError || quiet.kind !== "run") continue;
    assert.deepEqual(quiet.warnings.filter((w) => w.startsWith(`--${name}=`)), [], name);
  }
});
