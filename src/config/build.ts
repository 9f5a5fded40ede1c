/**
 * Turns raw settings (from flags, `ETCD_*` variables or a config file) into
 * a {@link Config}, checking each value's type and then etcd's rules across
 * settings (embed.Config.Validate and the checks etcd makes while starting),
 * with etcd's wording. Settings cairn accepts without effect each add one
 * warning naming the flag and the reason.
 *
 * @module
 */
import { isLogLevel } from "../log.ts";
import { ConfigError } from "./error.ts";
import { FLAGS, type FlagSpec, lookupFlag } from "./flags.ts";
import {
  checkLogOutputs,
  DEFAULT_LOG_OUTPUT,
  type LogRotation,
  parseLogRotation,
} from "./logging.ts";
import type { Settings } from "./sources.ts";
import {
  checkListenerTls,
  checkTlsSettings,
  parseTlsVersion,
  type TlsVersion,
  unknownCipherSuite,
} from "./tls.ts";
import type { Config } from "./types.ts";
import { formatUrl, parseInitialCluster, toOrigins, toUrls } from "./urls.ts";
import {
  formatDurationMs,
  invalid,
  parseDurationMs,
  type Raw,
  toBool,
  toDurationMs,
  toInt,
  toList,
  toUint,
  toUniqueList,
} from "./values.ts";

/** The backend quota used when `--quota-backend-bytes` is 0 (etcd's 2 GiB). */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;
/** etcd warns above this quota (8 GiB). */
const MAX_QUOTA_BACKEND_BYTES = 8 * 1024 * 1024 * 1024;
/** etcd's upper bound on `--election-timeout`. */
const MAX_ELECTION_MS = 50000;
/** etcd's default watch progress notification interval (10 minutes). */
export const DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS = 600_000;
/** etcd's v3rpc raises shorter progress intervals to this minimum. */
const MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS = 100;
/** rafthttp's DefaultConnReadTimeout / DefaultConnWriteTimeout, also the minimum. */
const MIN_RAFT_CONN_TIMEOUT_MS = 5000;
/** golang.org/x/crypto/bcrypt's bounds and default. */
const BCRYPT = { min: 4, max: 31, def: 10 };
/** etcd's bound on the tracing sampling rate. */
const MAX_SAMPLING_RATE_PER_MILLION = 1_000_000;

/** etcd's ErrConflictBootstrapFlags. */
const CONFLICT_BOOTSTRAP = "multiple discovery or bootstrap flags are set. Choose one of " +
  '"initial-cluster", "discovery" or "discovery-srv"';

/** Reads settings, falling back to each flag's default. */
class Reader {
  constructor(private readonly settings: Settings) {}

  /** True when the setting was given (flag, variable or config key), whatever its value. */
  has(name: string): boolean {
    return this.settings.has(name);
  }
  raw(name: string): Raw {
    return this.settings.get(name) ?? { value: FLAGS[name].def, where: `flag -${name}` };
  }
  str(name: string): string {
    return this.raw(name).value;
  }
  uint(name: string): number {
    return toUint(this.raw(name));
  }
  int(name: string): number {
    return toInt(this.raw(name));
  }
  bool(name: string): boolean {
    return toBool(this.raw(name));
  }
  ms(name: string): number {
    return toDurationMs(this.raw(name));
  }
  urls(name: string): URL[] {
    const spec = FLAGS[name];
    return toUrls(this.raw(name), spec.kind === "bindurls", spec.optional);
  }
  choice(name: string): string {
    const raw = this.raw(name);
    const choices = FLAGS[name].choices ?? [];
    if (!choices.includes(raw.value)) {
      throw invalid(raw, `valid values are ${choices.join(", ")}`);
    }
    return raw.value;
  }
  /** Checks one setting's syntax by its kind. */
  check(name: string, spec: FlagSpec): void {
    const raw = this.raw(name);
    switch (spec.kind) {
      case "uint":
        toUint(raw);
        break;
      case "uint32":
        toUint(raw, 0xffff_ffff);
        break;
      case "int":
        toInt(raw);
        break;
      case "duration":
        toDurationMs(raw);
        break;
      case "bool":
        toBool(raw);
        break;
      case "enum":
        this.choice(name);
        break;
      case "urls":
      case "bindurls":
        this.urls(name);
        break;
    }
  }
}

/**
 * Converts raw settings (defaults filled in) into a Config and checks etcd's
 * rules; warnings (etcd's, and one per accepted-but-ignored flag) are pushed
 * to `warnings`.
 * @throws {ConfigError} for the first invalid setting.
 */
export function buildConfig(settings: Settings, warnings: string[]): Config {
  const r = new Reader(settings);
  // Check in the order given, as Go's flag package does, so the first bad setting is reported.
  for (const [name, raw] of settings) {
    const spec = lookupFlag(name);
    if (!spec) continue;
    r.check(name, spec);
    const ig = spec.ignored;
    if (ig && raw.value !== ig.unless) {
      const shown = spec.kind === "legacy" ? `--${name}` : `--${name}=${raw.value}`;
      warnings.push(`${shown} is accepted for etcd compatibility but has no effect: ${ig.reason}`);
    }
    if (spec.notYet && !sameValue(spec, raw.value, spec.def)) {
      warnings.push(`--${name}=${raw.value} has no effect yet: ${spec.notYet}`);
    }
  }

  const name = r.str("name");
  const logging = readLogging(r, warnings);
  const listenClientUrls = r.urls("listen-client-urls");
  const listenClientHttpUrls = r.urls("listen-client-http-urls");
  const listenMetricsUrls = r.urls("listen-metrics-urls");
  const listenPeerUrls = r.urls("listen-peer-urls");
  const initialAdvertisePeerUrls = r.urls("initial-advertise-peer-urls");
  const advertiseClientUrls = r.urls("advertise-client-urls");
  const initialCluster = parseInitialCluster(readClusterText(r, name, initialAdvertisePeerUrls));

  const heartbeatIntervalMs = r.uint("heartbeat-interval");
  const electionTimeoutMs = r.uint("election-timeout");
  checkTiming(heartbeatIntervalMs, electionTimeoutMs);

  const autoCompactionMode = r.str("auto-compaction-mode");
  if (autoCompactionMode !== "periodic" && autoCompactionMode !== "revision") {
    throw new ConfigError(`unknown auto-compaction-mode "${autoCompactionMode}"`);
  }

  const leaseCheckpoint = r.bool("experimental-enable-lease-checkpoint");
  const leaseCheckpointPersist = r.bool("experimental-enable-lease-checkpoint-persist");
  if (leaseCheckpointPersist && !leaseCheckpoint) {
    throw new ConfigError(
      "setting experimental-enable-lease-checkpoint-persist requires " +
        "experimental-enable-lease-checkpoint",
    );
  }
  if (leaseCheckpoint && !leaseCheckpointPersist) {
    warnings.push(
      "Detected that checkpointing is enabled without persistence. Consider enabling " +
        "experimental-enable-lease-checkpoint-persist",
    );
  }
  const compactHashCheckTimeMs = r.ms("experimental-compact-hash-check-time");
  if (compactHashCheckTimeMs <= 0) {
    throw new ConfigError(
      `--experimental-compact-hash-check-time must be >0 (set to ${
        formatDurationMs(compactHashCheckTimeMs)
      })`,
    );
  }

  const tls = readTls(r);
  checkTracing(r);

  const quotaBackendBytes = r.int("quota-backend-bytes");
  if (quotaBackendBytes > MAX_QUOTA_BACKEND_BYTES) {
    warnings.push(
      `--quota-backend-bytes ${quotaBackendBytes} exceeds the recommended maximum ` +
        `${MAX_QUOTA_BACKEND_BYTES} (8 GiB)`,
    );
  }

  let bcryptCost = r.uint("bcrypt-cost");
  if (bcryptCost < BCRYPT.min || bcryptCost > BCRYPT.max) {
    warnings.push(
      `use default bcrypt cost instead of the invalid given cost (min-cost ${BCRYPT.min}, ` +
        `max-cost ${BCRYPT.max}, default-cost ${BCRYPT.def}, given-cost ${bcryptCost})`,
    );
    bcryptCost = BCRYPT.def;
  }

  const config: Config = {
    name,
    dataDir: r.str("data-dir") || `${name}.cairn`,
    listenClientUrls,
    advertiseClientUrls,
    listenClientHttpUrls,
    listenMetricsUrls,
    listenPeerUrls,
    initialAdvertisePeerUrls,
    initialCluster,
    initialClusterState: r.choice("initial-cluster-state") as Config["initialClusterState"],
    initialClusterToken: r.str("initial-cluster-token"),
    snapshotCount: r.uint("snapshot-count"),
    quotaBackendBytes,
    maxTxnOps: r.uint("max-txn-ops"),
    maxRequestBytes: r.uint("max-request-bytes"),
    heartbeatIntervalMs,
    electionTimeoutMs,
    logLevel: logging.level,
    autoCompactionMode,
    autoCompactionRetention: readRetention(r, autoCompactionMode),
    authToken: r.str("auth-token"),
    clientTls: {
      certFile: r.str("cert-file"),
      keyFile: r.str("key-file"),
      trustedCaFile: r.str("trusted-ca-file"),
      clientCertAuth: r.bool("client-cert-auth"),
      crlFile: r.str("client-crl-file"),
      autoTls: r.bool("auto-tls"),
      allowedCn: "",
      allowedHostname: r.str("client-cert-allowed-hostname"),
    },
    peerTls: {
      certFile: r.str("peer-cert-file"),
      keyFile: r.str("peer-key-file"),
      trustedCaFile: r.str("peer-trusted-ca-file"),
      clientCertAuth: r.bool("peer-client-cert-auth"),
      crlFile: r.str("peer-crl-file"),
      autoTls: r.bool("peer-auto-tls"),
      allowedCn: r.str("peer-cert-allowed-cn"),
      allowedHostname: r.str("peer-cert-allowed-hostname"),
    },
    watchProgressNotifyIntervalMs: readProgressInterval(r, warnings),
    preVote: r.bool("pre-vote"),
    cipherSuites: tls.cipherSuites,
    tlsMinVersion: tls.min,
    tlsMaxVersion: tls.max,
    // etcd's transport.SelfCert treats 0 years as 1.
    selfSignedCertValidityYears: r.uint("self-signed-cert-validity") || 1,
    walDir: r.str("wal-dir"),
    maxSnapshots: r.uint("max-snapshots"),
    maxWals: r.uint("max-wals"),
    forceNewCluster: r.bool("force-new-cluster"),
    initialCorruptCheck: r.bool("experimental-initial-corrupt-check"),
    corruptCheckTimeMs: r.ms("experimental-corrupt-check-time"),
    grpcKeepaliveMinTimeMs: r.ms("grpc-keepalive-min-time"),
    grpcKeepaliveIntervalMs: r.ms("grpc-keepalive-interval"),
    grpcKeepaliveTimeoutMs: r.ms("grpc-keepalive-timeout"),
    maxConcurrentStreams: toUint(r.raw("max-concurrent-streams"), 0xffff_ffff),
    cors: toOrigins(r.raw("cors")),
    hostWhitelist: toUniqueList(r.raw("host-whitelist")),
    discoverySrv: r.str("discovery-srv"),
    discoverySrvName: r.str("discovery-srv-name"),
    enablePprof: r.bool("enable-pprof"),
    logger: logging.logger,
    logOutputs: logging.outputs,
    metrics: readMetrics(r, warnings),
    initialElectionTickAdvance: r.bool("initial-election-tick-advance"),
    socketReusePort: r.bool("socket-reuse-port"),
    socketReuseAddress: r.bool("socket-reuse-address"),
    raftReadTimeoutMs: readRaftTimeout(r, "raft-read-timeout", warnings),
    raftWriteTimeoutMs: readRaftTimeout(r, "raft-write-timeout", warnings),
    enableGrpcGateway: r.bool("enable-grpc-gateway"),
    peerClientCertFile: r.str("peer-client-cert-file"),
    peerClientKeyFile: r.str("peer-client-key-file"),
    peerSkipClientSanVerification: r.bool("experimental-peer-skip-client-san-verification"),
    bcryptCost,
    authTokenTtlSeconds: r.uint("auth-token-ttl"),
    logRotation: logging.rotation,
    compactHashCheckEnabled: r.bool("experimental-compact-hash-check-enabled"),
    compactHashCheckTimeMs,
    leaseCheckpoint,
    leaseCheckpointPersist,
    // Unset is 0, as in etcd's embed.Config (whose mvcc reads 0 as its
    // defaults): the member then uses cairn's own (src/server/store_compaction.ts).
    compactionBatchLimit: r.has("experimental-compaction-batch-limit")
      ? r.int("experimental-compaction-batch-limit")
      : 0,
    compactionSleepIntervalMs: r.has("experimental-compaction-sleep-interval")
      ? r.ms("experimental-compaction-sleep-interval")
      : 0,
    downgradeCheckTimeMs: r.ms("experimental-downgrade-check-time"),
    warningApplyDurationMs: r.ms("experimental-warning-apply-duration"),
    snapshotCatchUpEntries: r.uint("experimental-snapshot-catchup-entries"),
    unsafeNoFsync: r.bool("unsafe-no-fsync"),
  };

  warnings.push(
    ...checkListenerTls({
      urls: [...listenClientUrls, ...listenClientHttpUrls, ...listenMetricsUrls],
      tls: config.clientTls,
      what: "client",
      flags: "--cert-file, --key-file",
    }),
    ...checkListenerTls({
      urls: listenPeerUrls,
      tls: config.peerTls,
      what: "peer",
      flags: "--peer-cert-file, --peer-key-file",
    }),
  );
  if ((config.peerClientCertFile === "") !== (config.peerClientKeyFile === "")) {
    throw new ConfigError(
      `--peer-client-cert-file, --peer-client-key-file: ClientKeyFile and ClientCertFile ` +
        `must both be present or both absent: ` +
        `key: ${config.peerClientKeyFile}, cert: ${config.peerClientCertFile}]`,
    );
  }
  return config;
}

/** True when two texts of a flag mean the same value ("0" and "false" for a bool, "60s" and "1m"). */
function sameValue(spec: FlagSpec, a: string, b: string): boolean {
  const raw = (value: string): Raw => ({ value, where: "" });
  switch (spec.kind) {
    case "bool":
      return toBool(raw(a)) === toBool(raw(b));
    case "duration":
      return toDurationMs(raw(a)) === toDurationMs(raw(b));
    case "uint":
    case "uint32":
    case "int":
      return toInt(raw(a)) === toInt(raw(b));
    default:
      return a === b;
  }
}

/** etcd's Validate on the Raft timing flags. */
function checkTiming(hb: number, el: number): void {
  if (hb <= 0) throw new ConfigError(`--heartbeat-interval must be >0 (set to ${hb}ms)`);
  if (el <= 0) throw new ConfigError(`--election-timeout must be >0 (set to ${el}ms)`);
  if (5 * hb > el) {
    throw new ConfigError(
      `--election-timeout[${el}ms] should be at least as 5 times as --heartbeat-interval[${hb}ms]`,
    );
  }
  if (el > MAX_ELECTION_MS) {
    throw new ConfigError(
      `--election-timeout[${el}ms] is too long, and should be set less than ${MAX_ELECTION_MS}ms`,
    );
  }
}

/**
 * The `--initial-cluster` text to parse. etcd: naming a member without an
 * initial cluster means "a cluster of just me"; DNS discovery replaces the
 * default cluster and may not be combined with an explicit one; v2
 * discovery (`--discovery`) is refused, as cairn does not implement it.
 */
function readClusterText(r: Reader, name: string, advertisePeerUrls: URL[]): string {
  const discovery = r.str("discovery");
  const srv = r.str("discovery-srv");
  const explicit = r.has("initial-cluster");
  const set = [discovery !== "", explicit, srv !== ""].filter(Boolean).length;
  if (set > 1) throw new ConfigError(CONFLICT_BOOTSTRAP);
  if (discovery !== "") {
    throw new ConfigError(
      `--discovery=${discovery}: the etcd v2 discovery service is not supported by cairn; ` +
        "bootstrap with --initial-cluster or --discovery-srv",
    );
  }
  if (!explicit && (srv !== "" || r.str("discovery-srv-name") !== "")) return "";
  let text = r.str("initial-cluster");
  if (!explicit && name !== FLAGS.name.def) {
    text = advertisePeerUrls.map((u) => `${name}=${formatUrl(u)}`).join(",");
  }
  return text;
}

/** `--auto-compaction-retention`: ms (periodic; a bare number means hours) or revisions. */
function readRetention(r: Reader, mode: "periodic" | "revision"): number {
  const raw = r.raw("auto-compaction-retention");
  if (mode === "revision") return toUint(raw);
  if (/^\d+$/.test(raw.value.trim())) return toUint(raw) * 3600e3;
  const ms = parseDurationMs(raw.value.trim());
  if (ms === undefined) throw invalid(raw, "parse error");
  return ms;
}

/** etcd's v3rpc: a non-positive interval keeps the default, a tiny one is raised (with a warning). */
function readProgressInterval(r: Reader, warnings: string[]): number {
  let ms = r.ms("experimental-watch-progress-notify-interval");
  if (ms <= 0) ms = DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS;
  if (ms < MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS) {
    warnings.push(
      `adjusting watch progress notify interval to minimum period ` +
        `${MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS}ms`,
    );
    ms = MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS;
  }
  return ms;
}

/** etcdmain raises peer connection timeouts below rafthttp's default to that default. */
function readRaftTimeout(r: Reader, name: string, warnings: string[]): number {
  const ms = r.ms(name);
  if (ms >= MIN_RAFT_CONN_TIMEOUT_MS) return ms;
  warnings.push(
    `${name} increased to minimum value: ${formatDurationMs(MIN_RAFT_CONN_TIMEOUT_MS)}`,
  );
  return MIN_RAFT_CONN_TIMEOUT_MS;
}

/** etcd only looks for "extensive"; any other word means basic metrics. */
function readMetrics(r: Reader, warnings: string[]): Config["metrics"] {
  const v = r.str("metrics");
  if (v === "extensive") return v;
  if (v !== "basic") {
    warnings.push(`--metrics=${v} is neither "basic" nor "extensive"; using basic`);
  }
  return "basic";
}

interface Logging {
  logger: Config["logger"];
  outputs: string[];
  level: Config["logLevel"];
  rotation: LogRotation | null;
}

/** `--logger`, `--log-outputs` (with 3.4's `--log-output`), `--log-level` (with 3.4's `--debug`), rotation. */
function readLogging(r: Reader, warnings: string[]): Logging {
  const logger = r.str("logger");
  let outputs = toUniqueList(r.raw("log-outputs"));
  if (r.has("log-output")) {
    const old = toUniqueList(r.raw("log-output"));
    const isDefault = (l: string[]) => l.length === 1 && l[0] === DEFAULT_LOG_OUTPUT;
    if (r.has("log-outputs") && (!isDefault(old) || !isDefault(outputs))) {
      throw new ConfigError(
        `'--log-output=${goQuoteList(old)}' and '--log-outputs=${goQuoteList(outputs)}' are ` +
          "incompatible; only set --log-outputs",
      );
    }
    warnings.push("--log-output is deprecated (etcd 3.4); use --log-outputs");
    outputs = old;
  }
  if (outputs.length === 0) outputs = [DEFAULT_LOG_OUTPUT];
  checkLogOutputs(logger, outputs);
  let level = r.choice("log-level");
  if (r.bool("debug")) {
    warnings.push("--debug is deprecated (etcd 3.4); use --log-level=debug");
    level = "debug";
  }
  const rotation = r.bool("enable-log-rotation")
    ? parseLogRotation(outputs, r.str("log-rotation-config-json"))
    : null;
  return {
    logger: logger as Config["logger"],
    outputs,
    level: isLogLevel(level) ? level : "info",
    rotation,
  };
}

/** Go's `%q` of a string slice: `["a" "b"]`. */
function goQuoteList(items: readonly string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(" ")}]`;
}

/** `--cipher-suites`, `--tls-min-version`, `--tls-max-version`, checked together. */
function readTls(r: Reader): { cipherSuites: string[]; min: TlsVersion; max: TlsVersion } {
  const version = (name: string): TlsVersion => {
    const v = parseTlsVersion(r.str(name));
    if (v instanceof Error) throw invalid(r.raw(name), v.message, 1);
    return v;
  };
  const min = version("tls-min-version");
  const max = version("tls-max-version");
  const raw = r.raw("cipher-suites");
  const cipherSuites = toList(raw).map((s) => s.trim());
  const unknown = unknownCipherSuite(cipherSuites);
  if (unknown !== undefined) throw invalid(raw, `unexpected TLS cipher suite "${unknown}"`, 1);
  checkTlsSettings(cipherSuites, min, max);
  return { cipherSuites, min, max };
}

/** etcd validates the sampling rate only when tracing is on. */
function checkTracing(r: Reader): void {
  if (!r.bool("experimental-enable-distributed-tracing")) return;
  const rate = r.int("experimental-distributed-tracing-sampling-rate");
  let reason = "";
  if (rate < 0) reason = "tracing sampling rate must be positive";
  if (rate > MAX_SAMPLING_RATE_PER_MILLION) {
    reason = `tracing sampling rate must be less than ${MAX_SAMPLING_RATE_PER_MILLION}`;
  }
  // "configurition" is etcd's spelling; operators may grep for it.
  if (reason) {
    throw new ConfigError(
      `--experimental-distributed-tracing-sampling-rate: distributed tracing configurition ` +
        `is not valid: (${reason})`,
    );
  }
}
