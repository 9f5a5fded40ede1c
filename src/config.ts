/**
 * Turns command-line flags, `ETCD_*` environment variables or a YAML config
 * file into one typed {@link Config}, the way etcd 3.4/3.5 does:
 *
 * - Flags follow Go's `flag` package: `-name x`, `--name x`, `--name=x`;
 *   boolean flags take no separate value (`--client-cert-auth`,
 *   `--client-cert-auth=false`); parsing stops at `--` or the first
 *   non-flag argument, which is then an error.
 * - Flag `--initial-cluster-token` is also read from
 *   `ETCD_INITIAL_CLUSTER_TOKEN`. Setting both is an error, as in etcd
 *   (which exits with "conflicting environment variable ... is shadowed by
 *   corresponding command-line flag"); unknown `ETCD_*` variables only warn.
 * - With `--config-file` (or `ETCD_CONFIG_FILE`) every other flag and
 *   variable is ignored and settings come from the YAML file, whose keys are
 *   the flag names (`listen-client-urls: http://10.0.0.1:2379`).
 *
 * Error messages reuse etcd's wording so operators recognise them.
 *
 * @module
 */
import { isLogLevel, LOG_LEVELS, type LogLevel } from "./log.ts";

export type { LogLevel } from "./log.ts";

/** Certificate settings of one listener family (client or peer). */
export interface TlsFiles {
  /** PEM certificate (`--cert-file` / `--peer-cert-file`); "" when unset. */
  certFile: string;
  /** PEM private key (`--key-file` / `--peer-key-file`); "" when unset. */
  keyFile: string;
  /** CA bundle for verifying remote certificates; "" when unset. */
  trustedCaFile: string;
  /** Require and verify remote certificates. */
  clientCertAuth: boolean;
  /** `--client-crl-file` / `--peer-crl-file`; "" when unset. */
  crlFile: string;
  /** `--auto-tls` / `--peer-auto-tls`: generate a self-signed certificate when no files are given. */
  autoTls: boolean;
  /** `--peer-cert-allowed-cn` as given (comma-separated in etcd 3.5); always "" on the client side. */
  allowedCn: string;
  /** `--client-cert-allowed-hostname` / `--peer-cert-allowed-hostname` as given; "" when unset. */
  allowedHostname: string;
}

/**
 * A member's complete, validated configuration. URL lists are never shared
 * between fields. Note that WHATWG `URL` drops a default port
 * (`http://h:80` has `port === ""`): use {@link formatUrl} to print one.
 */
export interface Config {
  /** `--name`, default "default". */
  name: string;
  /** `--data-dir`; default `${name}.cairn` (etcd's is `${name}.etcd`). */
  dataDir: string;
  /** `--listen-client-urls`; cairn's default is `http://127.0.0.1:2379` (etcd: localhost). */
  listenClientUrls: URL[];
  /** `--advertise-client-urls`; default `http://127.0.0.1:2379`. */
  advertiseClientUrls: URL[];
  /** `--listen-client-http-urls` (etcd 3.5): extra listeners serving HTTP/1.1 only; default none. */
  listenClientHttpUrls: URL[];
  /** `--listen-metrics-urls`: extra listeners for /metrics and /health; default none. */
  listenMetricsUrls: URL[];
  /** `--listen-peer-urls`; default `http://127.0.0.1:2380`. */
  listenPeerUrls: URL[];
  /** `--initial-advertise-peer-urls`; default `http://127.0.0.1:2380`. */
  initialAdvertisePeerUrls: URL[];
  /** `--initial-cluster` as member name -> peer URLs; default `${name}=<advertise peer urls>`. */
  initialCluster: Map<string, URL[]>;
  /** `--initial-cluster-state`. */
  initialClusterState: "new" | "existing";
  /** `--initial-cluster-token`, default "etcd-cluster". */
  initialClusterToken: string;
  /** `--snapshot-count`: applied entries between snapshots, default 100000. */
  snapshotCount: number;
  /** `--quota-backend-bytes`; 0 means {@link DEFAULT_QUOTA_BACKEND_BYTES}. */
  quotaBackendBytes: number;
  /** `--max-txn-ops`, default 128. */
  maxTxnOps: number;
  /** `--max-request-bytes`, default 1572864 (1.5 MiB). */
  maxRequestBytes: number;
  /** `--heartbeat-interval` in milliseconds, default 100. */
  heartbeatIntervalMs: number;
  /** `--election-timeout` in milliseconds, default 1000. */
  electionTimeoutMs: number;
  /** `--log-level`, default "info". */
  logLevel: LogLevel;
  /** `--auto-compaction-mode`, default "periodic". */
  autoCompactionMode: "periodic" | "revision";
  /** `--auto-compaction-retention`: milliseconds (periodic) or revisions (revision); 0 = off. */
  autoCompactionRetention: number;
  /** `--auth-token` as given, e.g. "simple" or "jwt,pub-key=...,sign-method=RS256". */
  authToken: string;
  /** `--cert-file`, `--key-file`, `--trusted-ca-file`, `--client-cert-auth`. */
  clientTls: TlsFiles;
  /** `--peer-cert-file`, `--peer-key-file`, `--peer-trusted-ca-file`, `--peer-client-cert-auth`. */
  peerTls: TlsFiles;
  /**
   * `--experimental-watch-progress-notify-interval` in milliseconds: how often
   * watchers created with progress_notify get an empty progress response.
   * Default 600000 (10m); 0 or negative keeps the default and values under
   * 100 ms are raised to 100 ms, as etcd does.
   */
  watchProgressNotifyIntervalMs: number;
  /** `--pre-vote`: a member asks whether it could win before disrupting a term (default on). */
  preVote: boolean;
  /** `--cipher-suites` as given (Go/IANA names), validated against Go's list; [] = defaults. */
  cipherSuites: string[];
  /** `--tls-min-version`: "" (default), "TLS1.2" or "TLS1.3". */
  tlsMinVersion: TlsVersion;
  /** `--tls-max-version`: "" (default: the highest available), "TLS1.2" or "TLS1.3". */
  tlsMaxVersion: TlsVersion;
  /** `--self-signed-cert-validity` in years (default 1) for `--auto-tls` certificates. */
  selfSignedCertValidityYears: number;
  /** `--wal-dir`; "" = the WAL stays inside the data directory. */
  walDir: string;
  /** `--max-snapshots` (default 5); 0 = unlimited. */
  maxSnapshots: number;
  /** `--max-wals` (default 5); 0 = unlimited. */
  maxWals: number;
  /** `--force-new-cluster`: restart as a one-member cluster keeping the data. */
  forceNewCluster: boolean;
  /** `--experimental-initial-corrupt-check`: compare hashes with peers before serving. */
  initialCorruptCheck: boolean;
  /** `--experimental-corrupt-check-time` in ms; 0 = off. */
  corruptCheckTimeMs: number;
  /** `--grpc-keepalive-min-time` in ms (default 5s): pings from clients closer than this are abuse. */
  grpcKeepaliveMinTimeMs: number;
  /** `--grpc-keepalive-interval` in ms (default 2h); 0 disables server pings. */
  grpcKeepaliveIntervalMs: number;
  /** `--grpc-keepalive-timeout` in ms (default 20s); 0 disables. */
  grpcKeepaliveTimeoutMs: number;
  /** `--max-concurrent-streams` per client connection (etcd default math.MaxUint32). */
  maxConcurrentStreams: number;
  /** `--cors`: allowed origins; ["*"] (the default) allows all. */
  cors: string[];
  /** `--host-whitelist`: accepted Host headers on insecure listeners; ["*"] (the default) allows all. */
  hostWhitelist: string[];
  /** `--discovery-srv`: DNS domain whose SRV records name the initial cluster; "" when unset. */
  discoverySrv: string;
  /** `--discovery-srv-name`: suffix of the SRV service name; "" when unset. */
  discoverySrvName: string;
  /** `--enable-pprof` */
  enablePprof: boolean;
  /** `--logger` ("zap", the default, or etcd 3.4's "capnslog"). */
  logger: "zap" | "capnslog";
  /** `--log-outputs` (default ["default"], i.e. stderr; also "stderr", "stdout", file paths). */
  logOutputs: string[];
  /** `--metrics`: "basic" (default) or "extensive". */
  metrics: "basic" | "extensive";
}

/** A `--tls-min-version` / `--tls-max-version` value; "" lets the TLS library choose. */
export type TlsVersion = "" | "TLS1.2" | "TLS1.3";

/** What the command line asks for: run a member, print the version, or print help. */
export type ParseOutcome =
  | { kind: "run"; config: Config; warnings: string[] }
  | { kind: "version" }
  | { kind: "help"; text: string };

/**
 * A configuration problem; `message` is what the user should see.
 * `exitCode` follows etcd: 2 for command-line syntax errors (after which etcd
 * prints usage), 1 for everything else.
 */
export class ConfigError extends Error {
  /** Suggested process exit code. */
  readonly exitCode: 1 | 2;
  /** Creates an error with the user-facing `message`. */
  constructor(message: string, exitCode: 1 | 2 = 1) {
    super(message);
    this.name = "ConfigError";
    this.exitCode = exitCode;
  }
}

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

type Kind = "string" | "bool" | "uint" | "duration" | "urls" | "bindurls" | "enum";
type Group = "Member" | "Clustering" | "Security" | "Logging" | "Other";
interface Spec {
  kind: Kind;
  def: string;
  help: string;
  group: Group;
  choices?: readonly string[];
  /** URL list may be empty. */
  optional?: boolean;
  /** Accepted for etcd compatibility, has no effect; warns when not the default. */
  compat?: boolean;
}

function spec(kind: Kind, def: string, group: Group, help: string, more?: Partial<Spec>): Spec {
  return { kind, def, group, help, ...more };
}

const OPT = { optional: true } as const;
const COMPAT = { compat: true } as const;
const LOCAL_PEER = "http://127.0.0.1:2380";
const LOCAL_CLIENT = "http://127.0.0.1:2379";

/** Every flag cairn accepts, in help order. Defaults are etcd's, except 127.0.0.1 URLs. */
const FLAGS: Record<string, Spec> = {
  "name": spec("string", "default", "Member", "Human-readable name for this member."),
  "data-dir": spec("string", "", "Member", 'Path to the data directory (default "${name}.cairn").'),
  "snapshot-count": spec("uint", "100000", "Member", "Applied entries between snapshots."),
  "pre-vote": spec("bool", "true", "Member", "Enable Raft's Pre-Vote (etcd's --pre-vote)."),
  "heartbeat-interval": spec("uint", "100", "Member", "Time (ms) of a heartbeat interval."),
  "election-timeout": spec("uint", "1000", "Member", "Time (ms) for an election to time out."),
  "listen-peer-urls": spec("bindurls", LOCAL_PEER, "Member", "URLs to listen on for peers."),
  "listen-client-urls": spec("bindurls", LOCAL_CLIENT, "Member", "URLs to listen on for clients."),
  "listen-client-http-urls": spec(
    "bindurls",
    "",
    "Member",
    "Extra HTTP/1.1-only client URLs.",
    OPT,
  ),
  "listen-metrics-urls": spec("bindurls", "", "Member", "Extra /metrics and /health URLs.", OPT),
  "quota-backend-bytes": spec("uint", "0", "Member", "Backend size limit; 0 means 2 GiB."),
  "max-txn-ops": spec("uint", "128", "Member", "Maximum operations in one transaction."),
  "max-request-bytes": spec("uint", "1572864", "Member", "Maximum client request size in bytes."),
  "initial-advertise-peer-urls": spec("urls", LOCAL_PEER, "Clustering", "Peer URLs to advertise."),
  "initial-cluster": spec(
    "string",
    "default=" + LOCAL_PEER,
    "Clustering",
    "Bootstrap members, name=url,... (default ${name}=<initial-advertise-peer-urls>).",
  ),
  "initial-cluster-state": spec("enum", "new", "Clustering", "'new' or 'existing'.", {
    choices: ["new", "existing"],
  }),
  "initial-cluster-token": spec("string", "etcd-cluster", "Clustering", "Bootstrap cluster token."),
  "advertise-client-urls": spec("urls", LOCAL_CLIENT, "Clustering", "Client URLs to advertise."),
  "auto-compaction-mode": spec("enum", "periodic", "Clustering", "'periodic' or 'revision'.", {
    choices: ["periodic", "revision"],
  }),
  "auto-compaction-retention": spec(
    "string",
    "0",
    "Clustering",
    "History to keep: '1h', '30m', '5' (hours) or a revision count; 0 disables.",
  ),
  "cert-file": spec("string", "", "Security", "Client server TLS certificate file."),
  "key-file": spec("string", "", "Security", "Client server TLS key file."),
  "trusted-ca-file": spec("string", "", "Security", "CA bundle for client certificates."),
  "client-cert-auth": spec("bool", "false", "Security", "Require client certificates."),
  "peer-cert-file": spec("string", "", "Security", "Peer TLS certificate file."),
  "peer-key-file": spec("string", "", "Security", "Peer TLS key file."),
  "peer-trusted-ca-file": spec("string", "", "Security", "CA bundle for peer certificates."),
  "peer-client-cert-auth": spec("bool", "false", "Security", "Require peer certificates."),
  "auth-token": spec("string", "simple", "Security", "'simple' or 'jwt,pub-key=...,...'."),
  "log-level": spec("enum", "info", "Logging", LOG_LEVELS.join(", ") + ".", {
    choices: LOG_LEVELS,
  }),
  "logger": spec("enum", "zap", "Logging", "'zap' or etcd 3.4's 'capnslog'.", {
    choices: ["zap", "capnslog"],
  }),
  "log-outputs": spec(
    "string",
    "default",
    "Logging",
    "'default' (stderr), 'stderr', 'stdout' or files.",
  ),
  "enable-v2": spec("bool", "false", "Other", "Ignored: the v2 API is not served.", COMPAT),
  "enable-pprof": spec("bool", "false", "Other", "Enable profiling under /debug/pprof/."),
  "metrics": spec("string", "basic", "Other", "'basic' or 'extensive' (adds histograms)."),
  "wal-dir": spec("string", "", "Member", "Path to the dedicated wal directory."),
  "max-snapshots": spec("uint", "5", "Member", "Snapshot files to retain (0 is unlimited)."),
  "max-wals": spec("uint", "5", "Member", "WAL files to retain (0 is unlimited)."),
  "max-concurrent-streams": spec("uint", "4294967295", "Member", "Streams per client connection."),
  "grpc-keepalive-min-time": spec("duration", "5s", "Member", "Minimum client ping interval."),
  "grpc-keepalive-interval": spec("duration", "2h", "Member", "Server ping interval (0 disables)."),
  "grpc-keepalive-timeout": spec("duration", "20s", "Member", "Ping ack timeout (0 disables)."),
  "discovery-srv": spec("string", "", "Clustering", "DNS srv domain used to bootstrap."),
  "discovery-srv-name": spec("string", "", "Clustering", "Suffix to the dns srv name."),
  "client-crl-file": spec("string", "", "Security", "Client certificate revocation list."),
  "client-cert-allowed-hostname": spec("string", "", "Security", "Allowed client SAN hostname."),
  "auto-tls": spec("bool", "false", "Security", "Client TLS using generated certificates."),
  "peer-crl-file": spec("string", "", "Security", "Peer certificate revocation list."),
  "peer-cert-allowed-cn": spec("string", "", "Security", "Required CN for peer certificates."),
  "peer-cert-allowed-hostname": spec("string", "", "Security", "Allowed peer SAN hostname."),
  "peer-auto-tls": spec("bool", "false", "Security", "Peer TLS using generated certificates."),
  "self-signed-cert-validity": spec("uint", "1", "Security", "Years auto-TLS certificates last."),
  "cipher-suites": spec("string", "", "Security", "Comma-separated Go TLS cipher suite names."),
  "tls-min-version": spec("string", "", "Security", "Minimum TLS version: TLS1.2 or TLS1.3."),
  "tls-max-version": spec("string", "", "Security", "Maximum TLS version: TLS1.2 or TLS1.3."),
  "cors": spec("string", "*", "Security", "Comma-separated CORS origins ('*' allows all)."),
  "host-whitelist": spec("string", "*", "Security", "Acceptable Host headers ('*' allows all)."),
  "experimental-initial-corrupt-check": spec(
    "bool",
    "false",
    "Other",
    "Check data before serving.",
  ),
  "experimental-corrupt-check-time": spec("duration", "0s", "Other", "Corruption check period."),
  "force-new-cluster": spec("bool", "false", "Other", "Force to create a new one-member cluster."),
  "experimental-watch-progress-notify-interval": spec(
    "duration",
    "10m",
    "Other",
    "Duration of periodical watch progress notification.",
  ),
  "strict-reconfig-check": spec("bool", "true", "Other", "Ignored: always strict.", COMPAT),
  "config-file": spec("string", "", "Other", "YAML file; other flags and ETCD_* are then ignored."),
  "version": spec("bool", "false", "Other", "Print the version and exit."),
};

/** The `ETCD_*` variable for a flag name: `initial-cluster-token` -> `ETCD_INITIAL_CLUSTER_TOKEN`. */
export function flagToEnv(flag: string): string {
  return "ETCD_" + flag.toUpperCase().replaceAll("-", "_");
}

/** A raw setting and where it came from, for error messages. */
interface Raw {
  value: string;
  /** "flag -name", "ETCD_NAME" or "config key name". */
  where: string;
}

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

function invalid(raw: Raw, reason: string): ConfigError {
  const code = raw.where.startsWith("flag ") ? 2 : 1;
  return new ConfigError(`invalid value "${raw.value}" for ${raw.where}: ${reason}`, code);
}

/** Go's `strconv.ParseUint(s, 0, 64)` for the forms people use, capped at 2^53-1. */
function toUint(raw: Raw): number {
  const s = raw.value.trim();
  if (!/^(\d+|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$/.test(s)) {
    throw invalid(raw, "parse error");
  }
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw invalid(raw, "value out of range");
  return n;
}

/** Go's `time.ParseDuration` (as Go's `flag` applies it) in milliseconds; may be negative. */
function toDurationMs(raw: Raw): number {
  const s = raw.value.trim();
  if (s === "0" || s === "+0" || s === "-0") return 0;
  const sign = s.startsWith("-") ? -1 : 1;
  const ms = parseDurationMs(s.replace(/^[-+]/, ""));
  if (ms === undefined) throw invalid(raw, "parse error");
  return sign * ms;
}

function toBool(raw: Raw): boolean {
  if (TRUE.has(raw.value)) return true;
  if (FALSE.has(raw.value)) return false;
  throw invalid(raw, "parse error");
}

/** The URL as `scheme://host:port` with the port always spelled out and no trailing slash. */
export function formatUrl(u: URL): string {
  // A unix socket URL names a file, not a TCP port: keep its host as written.
  if (u.protocol === "unix:" || u.protocol === "unixs:") return `${u.protocol}//${u.host}`;
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return `${u.protocol}//${u.hostname}:${port}`;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Parses one URL with etcd's rules (types.NewURLs): http or https, an
 * explicit host:port, no path. `bind` adds etcd's listener rule that the host
 * be an IP address or "localhost"; otherwise the host must not be empty.
 * Throws a plain Error whose message is the reason.
 */
function parseUrl(text: string, bind: boolean): URL {
  const s = text.trim();
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(s);
  const scheme = m?.[1].toLowerCase();
  if (!m || !["http", "https", "unix", "unixs"].includes(scheme ?? "")) {
    throw new Error(`URL scheme must be http, https, unix, or unixs: ${s}`);
  }
  if (scheme === "unix" || scheme === "unixs") {
    // etcd listens on a socket file named by the URL's host[:port] (unix://localhost:2379).
    if (m[2] === "" || m[3] !== "") throw new Error(`URL must name a socket as host[:port]: ${s}`);
    try {
      return new URL(s);
    } catch {
      throw new Error(`URL must name a socket as host[:port]: ${s}`);
    }
  }
  const hp = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]@]*):(\d{1,5})$/.exec(m[2]);
  if (!hp || Number(hp[2]) > 65535) {
    throw new Error(`URL address does not have the form "host:port": ${s}`);
  }
  if (m[3] !== "") throw new Error(`URL must not contain a path: ${s}`);
  const host = hp[1];
  if (bind && host !== "localhost" && !IPV4.test(host) && !host.startsWith("[")) {
    throw new Error(`expected IP in URL for binding (${s})`);
  }
  if (host === "") throw new Error(`unexpected empty host (${s})`);
  try {
    return new URL(s);
  } catch {
    throw new Error(`URL address does not have the form "host:port": ${s}`);
  }
}

/** A comma-separated URL list, duplicates dropped (etcd's UniqueURLsFromFlag). */
function toUrls(raw: Raw, spec: Spec): URL[] {
  if (spec.optional && raw.value.trim() === "") return [];
  const out = new Map<string, URL>();
  for (const part of raw.value.split(",")) {
    try {
      const u = parseUrl(part, spec.kind === "bindurls");
      if (!out.has(formatUrl(u))) out.set(formatUrl(u), u);
    } catch (e) {
      throw invalid(raw, (e as Error).message);
    }
  }
  return [...out.values()];
}

/** Parses `--initial-cluster` ("a=http://h1:2380,a=http://h1b:2380,b=http://h2:2380"). */
function parseInitialCluster(text: string): Map<string, URL[]> {
  const m = new Map<string, URL[]>();
  if (text.trim() === "") return m;
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    let u: URL;
    try {
      u = parseUrl(eq < 0 ? "" : part.slice(eq + 1), false);
    } catch (e) {
      throw new ConfigError(`error setting up initial cluster: ${(e as Error).message}`);
    }
    m.set(name, [...(m.get(name) ?? []), u]);
  }
  return m;
}

function clusterString(m: Map<string, URL[]>): string {
  const parts: string[] = [];
  for (const [name, urls] of m) for (const u of urls) parts.push(`${name}=${formatUrl(u)}`);
  return parts.sort().join(",");
}

/** Go-style duration ("1h30m", "90s", "1.5h") in milliseconds, or undefined. */
function parseDurationMs(s: string): number | undefined {
  const unit: Record<string, number> = { h: 3600e3, m: 60e3, s: 1e3, ms: 1, us: 1e-3, "µs": 1e-3 };
  if (!/^((\d+(\.\d+)?)(h|ms|m|s|us|µs|ns))+$/.test(s)) return undefined;
  let total = 0;
  for (const [, n, , u] of s.matchAll(/(\d+(\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) {
    total += Number(n) * (unit[u] ?? 1e-6);
  }
  return Math.round(total);
}

/** Reads `--flag value` style arguments with Go `flag` semantics. */
function readArgs(args: string[]): { set: Map<string, Raw>; help: boolean } {
  const set = new Map<string, Raw>();
  let i = 0;
  for (; i < args.length; i++) {
    const s = args[i];
    if (s.length < 2 || s[0] !== "-") break;
    if (s === "--") {
      i++;
      break;
    }
    const body = s.slice(s[1] === "-" ? 2 : 1);
    if (body === "" || body[0] === "-" || body[0] === "=") {
      throw new ConfigError(`bad flag syntax: ${s}`, 2);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = FLAGS[name];
    if (!spec) {
      if (name === "h" || name === "help") return { set, help: true };
      throw new ConfigError(`flag provided but not defined: -${name}`, 2);
    }
    let value: string;
    if (eq >= 0) {
      value = body.slice(eq + 1);
    } else if (spec.kind === "bool") {
      value = "true";
    } else if (i + 1 < args.length) {
      value = args[++i];
    } else {
      throw new ConfigError(`flag needs an argument: -${name}`, 2);
    }
    if (spec.kind === "bool" && !TRUE.has(value) && !FALSE.has(value)) {
      throw new ConfigError(`invalid boolean value "${value}" for -${name}: parse error`, 2);
    }
    set.set(name, { value, where: `flag -${name}` });
  }
  if (i < args.length) throw new ConfigError(`'${args[i]}' is not a valid flag`);
  return { set, help: false };
}

/** Turns a YAML scalar into the string a flag would carry. */
function yamlToString(key: string, v: unknown): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
  // etcd wants comma-separated strings; a YAML list of strings is an easy mistake to forgive.
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join(",");
  throw new ConfigError(`invalid value for config key ${key}: expected a string or number`);
}

/** Settings from the YAML config file; unknown keys only warn, as etcd ignores them. */
function readConfigFile(
  path: string,
  readFile: (p: string) => string,
  parseYaml: YamlParser,
  warnings: string[],
): Map<string, Raw> {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new ConfigError(`cannot read config file "${path}": ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`cannot parse config file "${path}": ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`config file "${path}" must be a YAML mapping of etcd flag names`);
  }
  const set = new Map<string, Raw>();
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!FLAGS[key] || key === "config-file" || key === "version") {
      warnings.push(`unrecognized config file key "${key}" ignored`);
      continue;
    }
    const value = yamlToString(key, v);
    if (value !== undefined) set.set(key, { value, where: `config key ${key}` });
  }
  return set;
}

/** Parses YAML text (the `yaml` package's `parse`). */
export type YamlParser = (text: string) => unknown;

/**
 * True when `args` or `env` name a config file: only then does the caller
 * need to load a YAML parser (the `yaml` package costs about a tenth of a
 * member's start-up, so it is not loaded otherwise).
 */
export function wantsConfigFile(args: string[], env: Record<string, string | undefined>): boolean {
  return !!env.ETCD_CONFIG_FILE || args.some((a) => /^--?config-file(=|$)/.test(a));
}

function noYamlParser(): never {
  throw new ConfigError("internal error: a config file was given but no YAML parser was loaded");
}

/**
 * Parses a command line and environment into what to do. Pure apart from
 * `readFile` (default `Deno.readTextFileSync`), used only for the config file,
 * which `parseYaml` parses (see {@link wantsConfigFile}).
 * Besides flag syntax and values it checks what etcd checks before
 * bootstrapping ({@link verifyBootstrap}); unlike etcd it does so even when
 * the data directory already holds a member, which etcd would not re-check.
 * @throws {ConfigError} with etcd's wording for any invalid setting.
 */
export function parseConfig(
  args: string[],
  env: Record<string, string | undefined>,
  readFile: (p: string) => string = (p) => Deno.readTextFileSync(p),
  parseYaml: YamlParser = noYamlParser,
): ParseOutcome {
  const { set: flags, help } = readArgs(args);
  if (help) return { kind: "help", text: helpText() };
  if (flags.has("version") && toBool(flags.get("version")!)) return { kind: "version" };

  const warnings: string[] = [];
  const envKeys = Object.keys(env).filter((k) => k.startsWith("ETCD_") && env[k] !== undefined);
  let settings: Map<string, Raw>;
  const configFile = flags.get("config-file")?.value || env.ETCD_CONFIG_FILE || "";
  if (configFile !== "") {
    settings = readConfigFile(configFile, readFile, parseYaml, warnings);
    const ignored = [
      ...[...flags.keys()].filter((k) => k !== "config-file").map((k) => `-${k}`),
      ...envKeys.filter((k) => k !== "ETCD_CONFIG_FILE"),
    ];
    if (ignored.length > 0) {
      warnings.push(
        `loaded server configuration from "${configFile}"; other command-line flags and ` +
          `environment variables are ignored: ${ignored.join(", ")}`,
      );
    }
  } else {
    settings = new Map(flags);
    const known = new Set<string>();
    for (const name of Object.keys(FLAGS)) {
      const key = flagToEnv(name);
      known.add(key);
      const value = env[key];
      if (value === undefined) continue;
      if (flags.has(name)) {
        throw new ConfigError(
          `conflicting environment variable "${key}" is shadowed by corresponding ` +
            `command-line flag (either unset environment variable or disable flag)`,
        );
      }
      if (value !== "") settings.set(name, { value, where: key });
    }
    for (const k of envKeys) {
      if (!known.has(k)) warnings.push(`unrecognized environment variable ${k}=${env[k]}`);
    }
    if (settings.has("version")) toBool(settings.get("version")!); // validated, like etcd
    if (settings.has("listen-client-urls") && !settings.has("advertise-client-urls")) {
      throw new ConfigError(
        "--advertise-client-urls is required when --listen-client-urls is set explicitly",
      );
    }
  }
  const config = buildConfig(settings, warnings);
  // With --discovery-srv the initial cluster comes from DNS; the resolver checks it afterwards.
  if (config.discoverySrv === "") verifyBootstrap(config);
  return { kind: "run", config, warnings };
}

/** Converts raw settings (defaults filled in) into a Config and checks etcd's rules. */
function buildConfig(settings: Map<string, Raw>, warnings: string[]): Config {
  const get = (name: string): Raw =>
    settings.get(name) ?? { value: FLAGS[name].def, where: `flag -${name}` };
  const str = (name: string) => get(name).value;
  const uint = (name: string) => toUint(get(name));
  const bool = (name: string) => toBool(get(name));
  const urls = (name: string) => toUrls(get(name), FLAGS[name]);
  const choice = (name: string): string => {
    const raw = get(name);
    const choices = FLAGS[name].choices ?? [];
    if (!choices.includes(raw.value)) {
      throw invalid(raw, `valid values are ${choices.join(", ")}`);
    }
    return raw.value;
  };

  const list = (name: string): string[] => {
    const v = str(name);
    return v === "" ? [] : v.split(",").map((x) => x.trim());
  };
  const uint32 = (name: string): number => {
    const n = uint(name);
    if (n > 0xffffffff) throw invalid(get(name), "value out of range");
    return n;
  };
  const tlsVersion = (name: string): TlsVersion => {
    const raw = get(name);
    if (raw.value === "" || raw.value === "TLS1.2" || raw.value === "TLS1.3") return raw.value;
    throw invalid(raw, `unexpected TLS version "${raw.value}" (must be one of: TLS1.2, TLS1.3)`);
  };

  const check = (name: string): unknown => {
    const kind = FLAGS[name].kind;
    if (kind === "uint") return uint(name);
    if (kind === "duration") return toDurationMs(get(name));
    if (kind === "bool") return bool(name);
    if (kind === "enum") return choice(name);
    if (kind === "urls" || kind === "bindurls") return urls(name);
    return str(name);
  };
  // Check in the order given, as Go's flag package does, so the first bad setting is reported.
  for (const name of settings.keys()) {
    const value = String(check(name));
    const spec = FLAGS[name];
    if (spec.compat && value !== spec.def) {
      warnings.push(`--${name}=${value} is accepted for etcd compatibility but ignored`);
    }
  }

  const name = str("name");
  const logLevel = choice("log-level");
  const initialAdvertisePeerUrls = urls("initial-advertise-peer-urls");
  const advertiseClientUrls = urls("advertise-client-urls");
  // etcd: naming a member without giving --initial-cluster means "a cluster of just me".
  let clusterText = str("initial-cluster");
  if (clusterText === FLAGS["initial-cluster"].def && name !== FLAGS.name.def) {
    clusterText = initialAdvertisePeerUrls.map((u) => `${name}=${formatUrl(u)}`).join(",");
  }
  // etcd: DNS discovery replaces the default initial cluster, and may not be combined with one.
  if (str("discovery-srv") !== "" || str("discovery-srv-name") !== "") {
    if (str("discovery-srv") !== "" && settings.has("initial-cluster")) {
      throw new ConfigError(
        'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", ' +
          '"discovery" or "discovery-srv"',
      );
    }
    if (!settings.has("initial-cluster")) clusterText = "";
  }
  const mode = choice("auto-compaction-mode") as Config["autoCompactionMode"];
  const retentionRaw = get("auto-compaction-retention");
  let retention: number;
  if (mode === "revision") {
    retention = toUint(retentionRaw);
  } else if (/^\d+$/.test(retentionRaw.value.trim())) {
    retention = toUint(retentionRaw) * 3600e3; // a bare number means hours
  } else {
    const ms = parseDurationMs(retentionRaw.value.trim());
    if (ms === undefined) throw invalid(retentionRaw, "parse error");
    retention = ms;
  }

  // etcd's v3rpc: a non-positive interval keeps the default, a tiny one is raised (with a warning).
  let progressMs = toDurationMs(get("experimental-watch-progress-notify-interval"));
  if (progressMs <= 0) progressMs = DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS;
  if (progressMs < MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS) {
    warnings.push(
      `adjusting watch progress notify interval to minimum period ` +
        `${MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS}ms`,
    );
    progressMs = MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS;
  }

  const config: Config = {
    name,
    dataDir: str("data-dir") || `${name}.cairn`,
    listenClientUrls: urls("listen-client-urls"),
    advertiseClientUrls,
    listenClientHttpUrls: urls("listen-client-http-urls"),
    listenMetricsUrls: urls("listen-metrics-urls"),
    listenPeerUrls: urls("listen-peer-urls"),
    initialAdvertisePeerUrls,
    initialCluster: parseInitialCluster(clusterText),
    initialClusterState: choice("initial-cluster-state") as Config["initialClusterState"],
    initialClusterToken: str("initial-cluster-token"),
    snapshotCount: uint("snapshot-count"),
    quotaBackendBytes: uint("quota-backend-bytes"),
    maxTxnOps: uint("max-txn-ops"),
    maxRequestBytes: uint("max-request-bytes"),
    heartbeatIntervalMs: uint("heartbeat-interval"),
    electionTimeoutMs: uint("election-timeout"),
    logLevel: isLogLevel(logLevel) ? logLevel : "info",
    autoCompactionMode: mode,
    autoCompactionRetention: retention,
    authToken: str("auth-token"),
    clientTls: {
      certFile: str("cert-file"),
      keyFile: str("key-file"),
      trustedCaFile: str("trusted-ca-file"),
      clientCertAuth: bool("client-cert-auth"),
      crlFile: str("client-crl-file"),
      autoTls: bool("auto-tls"),
      allowedCn: "",
      allowedHostname: str("client-cert-allowed-hostname"),
    },
    peerTls: {
      certFile: str("peer-cert-file"),
      keyFile: str("peer-key-file"),
      trustedCaFile: str("peer-trusted-ca-file"),
      clientCertAuth: bool("peer-client-cert-auth"),
      crlFile: str("peer-crl-file"),
      autoTls: bool("peer-auto-tls"),
      allowedCn: str("peer-cert-allowed-cn"),
      allowedHostname: str("peer-cert-allowed-hostname"),
    },
    watchProgressNotifyIntervalMs: progressMs,
    preVote: bool("pre-vote"),
    cipherSuites: list("cipher-suites"),
    tlsMinVersion: tlsVersion("tls-min-version"),
    tlsMaxVersion: tlsVersion("tls-max-version"),
    selfSignedCertValidityYears: uint("self-signed-cert-validity") || 1,
    walDir: str("wal-dir"),
    maxSnapshots: uint("max-snapshots"),
    maxWals: uint("max-wals"),
    forceNewCluster: bool("force-new-cluster"),
    initialCorruptCheck: bool("experimental-initial-corrupt-check"),
    corruptCheckTimeMs: toDurationMs(get("experimental-corrupt-check-time")),
    grpcKeepaliveMinTimeMs: toDurationMs(get("grpc-keepalive-min-time")),
    grpcKeepaliveIntervalMs: toDurationMs(get("grpc-keepalive-interval")),
    grpcKeepaliveTimeoutMs: toDurationMs(get("grpc-keepalive-timeout")),
    maxConcurrentStreams: uint32("max-concurrent-streams"),
    cors: list("cors"),
    hostWhitelist: list("host-whitelist"),
    discoverySrv: str("discovery-srv"),
    discoverySrvName: str("discovery-srv-name"),
    enablePprof: bool("enable-pprof"),
    logger: choice("logger") as Config["logger"],
    logOutputs: [...new Set(list("log-outputs"))],
    metrics: str("metrics") === "extensive" ? "extensive" : "basic",
  };

  const { heartbeatIntervalMs: hb, electionTimeoutMs: el } = config;
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
  if (config.quotaBackendBytes > MAX_QUOTA_BACKEND_BYTES) {
    warnings.push(
      `--quota-backend-bytes ${config.quotaBackendBytes} exceeds the recommended maximum ` +
        `${MAX_QUOTA_BACKEND_BYTES} (8 GiB)`,
    );
  }
  const needTls = (urls: URL[], tls: TlsFiles, flags: string, what: string) => {
    for (const u of urls) {
      const noFiles = tls.certFile === "" || tls.keyFile === "";
      // etcd's rule: --auto-tls / --peer-auto-tls stand in for missing files.
      const secure = u.protocol === "https:" || u.protocol === "unixs:";
      if (secure && noFiles && !tls.autoTls) {
        throw new ConfigError(
          `TLS key/cert (${flags}) must be provided for ${what} url ${
            formatUrl(u)
          } with HTTPS scheme`,
        );
      }
    }
  };
  needTls(
    [...config.listenClientUrls, ...config.listenClientHttpUrls],
    config.clientTls,
    "--cert-file, --key-file",
    "client",
  );
  needTls(config.listenPeerUrls, config.peerTls, "--peer-cert-file, --peer-key-file", "peer");
  const order = { "": 0, "TLS1.2": 1, "TLS1.3": 2 };
  if (config.tlsMaxVersion !== "" && order[config.tlsMinVersion] > order[config.tlsMaxVersion]) {
    throw new ConfigError(
      `min version (${config.tlsMinVersion}) is greater than max version (${config.tlsMaxVersion})`,
    );
  }
  if (config.tlsMinVersion === "TLS1.3" && config.cipherSuites.length > 0) {
    throw new ConfigError("cipher suites cannot be configured when only TLS1.3 is enabled");
  }
  return config;
}

/**
 * etcd's pre-bootstrap checks (ServerConfig.VerifyBootstrap / VerifyJoinExisting):
 * the initial cluster names this member, lists no URL twice, and for a new
 * cluster gives this member exactly its advertised peer URLs. Compared as
 * written: cairn does not resolve host names, so `localhost` and
 * `127.0.0.1` differ here.
 * @throws {ConfigError} when a check fails.
 */
export function verifyBootstrap(config: Config): void {
  const { name, initialCluster } = config;
  const seen = new Set<string>();
  for (const urls of initialCluster.values()) {
    for (const u of urls) {
      if (seen.has(formatUrl(u))) {
        throw new ConfigError(`initial cluster ${clusterString(initialCluster)} has duplicate url`);
      }
      seen.add(formatUrl(u));
    }
  }
  if (initialCluster.size === 0 && config.initialClusterState === "new") {
    throw new ConfigError("initial cluster unset and no discovery URL found");
  }
  const mine = initialCluster.get(name);
  if (!mine) {
    throw new ConfigError(
      `couldn't find local name "${name}" in the initial cluster configuration`,
    );
  }
  if (config.initialClusterState !== "new") return;
  const ap = config.initialAdvertisePeerUrls.map(formatUrl).sort();
  const init = mine.map(formatUrl);
  const missingFromAp = init.filter((u) => !ap.includes(u));
  if (missingFromAp.length > 0) {
    throw new ConfigError(
      `--initial-cluster has ${missingFromAp.map((u) => `${name}=${u}`).join(",")} ` +
        `but missing from --initial-advertise-peer-urls=${ap.join(",")}`,
    );
  }
  const missingFromInit = ap.filter((u) => !init.includes(u));
  if (missingFromInit.length > 0) {
    throw new ConfigError(
      `--initial-advertise-peer-urls has ${missingFromInit.join(",")} but missing from ` +
        `--initial-cluster=${ap.map((u) => `${name}=${u}`).join(",")}`,
    );
  }
}

/** The `--help` text: usage, then every flag with its default and environment variable. */
export function helpText(): string {
  const lines = [
    "Usage:",
    "",
    "  cairn [flags]",
    "    Start a cairn member (an etcd v3 compatible server).",
    "",
    "  cairn --version",
    "    Show the version of cairn.",
    "",
    "  cairn -h | --help",
    "    Show this help.",
    "",
    "Every flag can also be set by an environment variable: --initial-cluster-token is",
    "ETCD_INITIAL_CLUSTER_TOKEN. Setting a flag and its variable together is an error.",
    "With --config-file (or ETCD_CONFIG_FILE), settings come only from that YAML file,",
    "whose keys are the flag names, e.g. 'listen-client-urls: http://10.0.0.1:2379'.",
  ];
  let group = "";
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (spec.group !== group) {
      group = spec.group;
      lines.push("", `${group} flags:`, "");
    }
    const value = spec.kind === "bool" ? "" : ` '${spec.def}'`;
    lines.push(`  --${name}${value}`, `      ${spec.help} [$${flagToEnv(name)}]`);
  }
  return lines.join("\n") + "\n";
}
