/**
 * Every flag etcd 3.4 and 3.5 accept, in the order and groups of etcd's
 * `--help`, with cairn's default, its value type, and, for flags that only
 * tune parts of etcd cairn does not have (bbolt, the v2 store and API, the v2
 * proxy, OpenTelemetry), the reason cairn gives them no effect.
 *
 * Defaults are etcd's, except that URLs use 127.0.0.1 instead of localhost
 * and the data directory is `${name}.cairn`.
 *
 * @module
 */
import { LOG_LEVELS } from "../log.ts";

/**
 * How a flag's text is read: Go `flag` types (`uint` is ParseUint 64-bit,
 * `uint32` etcd's Uint32Value, `int` ParseInt 64-bit), URL lists (`bindurls`
 * must be IP addresses or localhost), a fixed set of words (`enum`), or
 * `legacy`: one of the pre-v3 names etcd still accepts and ignores, which
 * like a boolean takes no separate value.
 */
export type FlagKind =
  | "string"
  | "bool"
  | "uint"
  | "uint32"
  | "int"
  | "duration"
  | "urls"
  | "bindurls"
  | "enum"
  | "legacy";

/** The sections of `--help`, as etcd names them. */
export type FlagGroup =
  | "Member"
  | "Clustering"
  | "Security"
  | "Auth"
  | "Profiling and Monitoring"
  | "Logging"
  | "Experimental distributed tracing"
  | "v2 Proxy"
  | "Experimental feature"
  | "Unsafe feature"
  | "Deprecated"
  | "Other";

/** Why a flag has no effect in cairn, and for which values. */
export interface Ignored {
  /** Completes "--x has no effect in cairn: ...". */
  reason: string;
  /** The one value that matches cairn's behaviour (so setting it is not worth a note). */
  unless?: string;
}

/** One flag: its type, default, help line and group. */
export interface FlagSpec {
  kind: FlagKind;
  /** The default, written as the flag's text would be. */
  def: string;
  /** What `--help` shows as the default when it differs from `def`. */
  shownDef?: string;
  help: string;
  group: FlagGroup;
  /** The accepted words of an `enum` flag. */
  choices?: readonly string[];
  /** A URL list that may be empty. */
  optional?: boolean;
  /** Set when cairn accepts the flag for compatibility but it changes nothing. */
  ignored?: Ignored;
  /**
   * Set when the flag has meaning for cairn and is parsed into Config, but
   * nothing acts on it yet: why, for the start-up note. Delete it when the
   * setting is wired.
   */
  notYet?: string;
  /** The etcd version(s) that define the flag, when not both. */
  since?: "3.4" | "3.5";
}

/** Options of {@link flag}. */
type More = Partial<Omit<FlagSpec, "kind" | "def" | "group" | "help">>;

function flag(kind: FlagKind, def: string, group: FlagGroup, help: string, more?: More): FlagSpec {
  return { kind, def, group, help, ...more };
}

const LOCAL_PEER = "http://127.0.0.1:2380";
const LOCAL_CLIENT = "http://127.0.0.1:2379";
const OPT = { optional: true } as const;

const BBOLT = "it tunes etcd's bbolt backend; cairn keeps its store in memory, " +
  "persisted by its WAL and snapshots";
const V2 = "cairn serves only the v3 API; there is no v2 store";
const PROXY = "cairn does not implement etcd's v2 proxy mode and always runs a member";
const TRACING = "cairn does not export OpenTelemetry traces";
const ig = (reason: string, unless?: string): More => ({ ignored: { reason, unless } });
const notYet = (reason: string): More => ({ notYet: reason });

/** Every flag cairn accepts, keyed by name, in `--help` order. */
export const FLAGS: Readonly<Record<string, FlagSpec>> = {
  // Member
  "name": flag("string", "default", "Member", "Human-readable name for this member."),
  "data-dir": flag("string", "", "Member", "Path to the data directory.", {
    shownDef: "${name}.cairn",
  }),
  "wal-dir": flag("string", "", "Member", "Path to the dedicated wal directory."),
  "snapshot-count": flag(
    "uint",
    "100000",
    "Member",
    "Number of committed transactions to trigger a snapshot to disk.",
  ),
  "heartbeat-interval": flag(
    "uint",
    "100",
    "Member",
    "Time (in milliseconds) of a heartbeat interval.",
  ),
  "election-timeout": flag(
    "uint",
    "1000",
    "Member",
    "Time (in milliseconds) for an election to timeout.",
  ),
  "initial-election-tick-advance": flag(
    "bool",
    "true",
    "Member",
    "Whether to fast-forward initial election ticks on boot for faster election.",
    notYet("the Raft core does not read it yet"),
  ),
  "listen-peer-urls": flag(
    "bindurls",
    LOCAL_PEER,
    "Member",
    "List of URLs to listen on for peer traffic.",
  ),
  "listen-client-urls": flag(
    "bindurls",
    LOCAL_CLIENT,
    "Member",
    "List of URLs to listen on for client traffic (http, https, unix or unixs).",
  ),
  "listen-client-http-urls": flag(
    "bindurls",
    "",
    "Member",
    "List of URLs to listen on for http only client traffic.",
    { ...OPT, since: "3.5" },
  ),
  "max-snapshots": flag(
    "uint",
    "5",
    "Member",
    "Maximum number of snapshot files to retain (0 is unlimited).",
  ),
  "max-wals": flag(
    "uint",
    "5",
    "Member",
    "Maximum number of wal files to retain (0 is unlimited).",
  ),
  "quota-backend-bytes": flag(
    "int",
    "0",
    "Member",
    "Raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB).",
  ),
  "backend-bbolt-freelist-type": flag(
    "string",
    "map",
    "Member",
    "Type of freelist that boltdb backend uses (array and map).",
    { ...ig(BBOLT), since: "3.5" },
  ),
  "backend-batch-interval": flag(
    "duration",
    "0",
    "Member",
    "Maximum time before commit the backend transaction.",
    { ...ig(BBOLT), shownDef: "" },
  ),
  "backend-batch-limit": flag(
    "int",
    "0",
    "Member",
    "Maximum operations before commit the backend transaction.",
    ig(BBOLT),
  ),
  "max-txn-ops": flag(
    "uint",
    "128",
    "Member",
    "Maximum number of operations permitted in a transaction.",
  ),
  "max-request-bytes": flag(
    "uint",
    "1572864",
    "Member",
    "Maximum client request size in bytes the server will accept.",
  ),
  "max-concurrent-streams": flag(
    "uint32",
    "4294967295",
    "Member",
    "Maximum concurrent streams that each client can open at a time.",
    { shownDef: "math.MaxUint32" },
  ),
  "enable-grpc-gateway": flag(
    "bool",
    "true",
    "Member",
    "Enable the /v3 JSON gateway (grpc-gateway) on client URLs.",
    { since: "3.5", ...notYet("the /v3 JSON gateway is always served") },
  ),
  "grpc-keepalive-min-time": flag(
    "duration",
    "5s",
    "Member",
    "Minimum duration interval that a client should wait before pinging server.",
  ),
  "grpc-keepalive-interval": flag(
    "duration",
    "2h",
    "Member",
    "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).",
  ),
  "grpc-keepalive-timeout": flag(
    "duration",
    "20s",
    "Member",
    "Additional duration of wait before closing a non-responsive connection (0 to disable).",
  ),
  "socket-reuse-port": flag(
    "bool",
    "false",
    "Member",
    "Enable to set socket option SO_REUSEPORT on listeners.",
    { since: "3.5", ...notYet("listeners do not set socket options yet") },
  ),
  "socket-reuse-address": flag(
    "bool",
    "false",
    "Member",
    "Enable to set socket option SO_REUSEADDR on listeners.",
    { since: "3.5", ...notYet("listeners do not set socket options yet") },
  ),
  "raft-read-timeout": flag(
    "duration",
    "5s",
    "Member",
    "Read timeout set on each peer connection (at least 5s).",
    { since: "3.5", ...notYet("peer connections do not read it yet") },
  ),
  "raft-write-timeout": flag(
    "duration",
    "5s",
    "Member",
    "Write timeout set on each peer connection (at least 5s).",
    { since: "3.5", ...notYet("peer connections do not read it yet") },
  ),

  // Clustering
  "initial-advertise-peer-urls": flag(
    "urls",
    LOCAL_PEER,
    "Clustering",
    "List of this member's peer URLs to advertise to the rest of the cluster.",
  ),
  "initial-cluster": flag(
    "string",
    "default=" + LOCAL_PEER,
    "Clustering",
    "Initial cluster configuration for bootstrapping (default ${name}=<initial-advertise-peer-urls>).",
  ),
  "initial-cluster-state": flag(
    "enum",
    "new",
    "Clustering",
    "Initial cluster state ('new' or 'existing').",
    { choices: ["new", "existing"] },
  ),
  "initial-cluster-token": flag(
    "string",
    "etcd-cluster",
    "Clustering",
    "Initial cluster token for the etcd cluster during bootstrap.",
  ),
  "advertise-client-urls": flag(
    "urls",
    LOCAL_CLIENT,
    "Clustering",
    "List of this member's client URLs to advertise to the public.",
  ),
  "discovery": flag(
    "string",
    "",
    "Clustering",
    "Discovery URL used to bootstrap the cluster (not supported by cairn: refused when set).",
  ),
  "discovery-fallback": flag(
    "enum",
    "proxy",
    "Clustering",
    "Expected behavior ('exit' or 'proxy') when discovery services fails.",
    { choices: ["proxy", "exit"], ...ig("it only applies to --discovery, which cairn refuses") },
  ),
  "discovery-proxy": flag(
    "string",
    "",
    "Clustering",
    "HTTP proxy to use for traffic to discovery service.",
    ig("it only applies to --discovery, which cairn refuses"),
  ),
  "discovery-srv": flag(
    "string",
    "",
    "Clustering",
    "DNS srv domain used to bootstrap the cluster.",
  ),
  "discovery-srv-name": flag(
    "string",
    "",
    "Clustering",
    "Suffix to the dns srv name queried when bootstrapping.",
  ),
  "strict-reconfig-check": flag(
    "bool",
    "true",
    "Clustering",
    "Reject reconfiguration requests that would cause quorum loss.",
    ig("cairn always rejects reconfiguration that would cause quorum loss", "true"),
  ),
  "pre-vote": flag(
    "bool",
    "true",
    "Clustering",
    "Enable to run an additional Raft election phase.",
  ),
  "auto-compaction-retention": flag(
    "string",
    "0",
    "Clustering",
    "Auto compaction retention length. 0 means disable auto compaction.",
  ),
  "auto-compaction-mode": flag(
    "string",
    "periodic",
    "Clustering",
    "Interpret 'auto-compaction-retention' one of: periodic|revision.",
  ),
  "enable-v2": flag(
    "bool",
    "false",
    "Clustering",
    "Accept etcd V2 client requests.",
    ig(V2, "false"),
  ),
  "v2-deprecation": flag(
    "enum",
    "not-yet",
    "Clustering",
    "Phase of v2store deprecation.",
    {
      choices: ["not-yet", "write-only", "write-only-skip-check", "write-only-drop-data", "gone"],
      ...ig(V2),
      since: "3.5",
    },
  ),
  "next-cluster-version-compatible": flag(
    "bool",
    "false",
    "Clustering",
    "Enable 3.4 to be compatible with next version 3.5.",
    { ...ig("cairn already speaks etcd 3.5's API"), since: "3.4" },
  ),

  // Security
  "cert-file": flag("string", "", "Security", "Path to the client server TLS cert file."),
  "key-file": flag("string", "", "Security", "Path to the client server TLS key file."),
  "client-cert-auth": flag("bool", "false", "Security", "Enable client cert authentication."),
  "client-cert-file": flag(
    "string",
    "",
    "Security",
    "Path to an explicit client TLS cert file for etcd's own gRPC gateway client.",
    {
      ...ig("cairn's JSON gateway calls its services in-process, without a TLS client"),
      since: "3.5",
    },
  ),
  "client-key-file": flag(
    "string",
    "",
    "Security",
    "Path to an explicit client TLS key file for etcd's own gRPC gateway client.",
    {
      ...ig("cairn's JSON gateway calls its services in-process, without a TLS client"),
      since: "3.5",
    },
  ),
  "client-crl-file": flag(
    "string",
    "",
    "Security",
    "Path to the client certificate revocation list file.",
  ),
  "client-cert-allowed-hostname": flag(
    "string",
    "",
    "Security",
    "Allowed TLS hostname for client cert authentication.",
  ),
  "trusted-ca-file": flag(
    "string",
    "",
    "Security",
    "Path to the client server TLS trusted CA cert file.",
  ),
  "auto-tls": flag("bool", "false", "Security", "Client TLS using generated certificates."),
  "peer-cert-file": flag("string", "", "Security", "Path to the peer server TLS cert file."),
  "peer-key-file": flag("string", "", "Security", "Path to the peer server TLS key file."),
  "peer-client-cert-auth": flag(
    "bool",
    "false",
    "Security",
    "Enable peer client cert authentication.",
  ),
  "peer-trusted-ca-file": flag(
    "string",
    "",
    "Security",
    "Path to the peer server TLS trusted CA file.",
  ),
  "peer-cert-allowed-cn": flag(
    "string",
    "",
    "Security",
    "Required CN for client certs connecting to the peer endpoint.",
  ),
  "peer-cert-allowed-hostname": flag(
    "string",
    "",
    "Security",
    "Allowed TLS hostname for inter peer authentication.",
  ),
  "peer-auto-tls": flag(
    "bool",
    "false",
    "Security",
    "Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided.",
  ),
  "peer-client-cert-file": flag(
    "string",
    "",
    "Security",
    "Path to an explicit peer client TLS cert file (default: --peer-cert-file).",
    { since: "3.5" },
  ),
  "peer-client-key-file": flag(
    "string",
    "",
    "Security",
    "Path to an explicit peer client TLS key file (default: --peer-key-file).",
    { since: "3.5" },
  ),
  "self-signed-cert-validity": flag(
    "uint",
    "1",
    "Security",
    "Validity in years of the certificates --auto-tls and --peer-auto-tls generate.",
    { since: "3.5" },
  ),
  "peer-crl-file": flag(
    "string",
    "",
    "Security",
    "Path to the peer certificate revocation list file.",
  ),
  "cipher-suites": flag(
    "string",
    "",
    "Security",
    "Comma-separated list of supported TLS cipher suites between client/server and peers " +
      "(empty will be auto-populated).",
  ),
  "cors": flag(
    "string",
    "*",
    "Security",
    "Comma-separated whitelist of origins for CORS, or cross-origin resource sharing, " +
      "(empty or * means allow all).",
  ),
  "host-whitelist": flag(
    "string",
    "*",
    "Security",
    "Acceptable hostnames from HTTP client requests, if server is not secure " +
      "(empty or * means allow all).",
  ),
  "tls-min-version": flag(
    "string",
    "",
    "Security",
    "Minimum TLS version supported. Possible values: TLS1.2, TLS1.3 (empty: TLS1.2).",
    { since: "3.5" },
  ),
  "tls-max-version": flag(
    "string",
    "",
    "Security",
    "Maximum TLS version supported. Possible values: TLS1.2, TLS1.3 (empty: the highest).",
    { since: "3.5" },
  ),
  "experimental-peer-skip-client-san-verification": flag(
    "bool",
    "false",
    "Security",
    "Skip verification of SAN field in client certificate for peer connections.",
  ),

  // Auth
  "auth-token": flag(
    "string",
    "simple",
    "Auth",
    "Specify a v3 authentication token type and its options ('simple' or 'jwt').",
  ),
  "bcrypt-cost": flag(
    "uint",
    "10",
    "Auth",
    "Cost of the bcrypt algorithm for hashing auth passwords (4 to 31).",
  ),
  "auth-token-ttl": flag(
    "uint",
    "300",
    "Auth",
    "Time (in seconds) of the auth-token-ttl.",
  ),

  // Profiling and Monitoring
  "enable-pprof": flag(
    "bool",
    "false",
    "Profiling and Monitoring",
    'Enable runtime profiling data via HTTP server. Address is at client URL + "/debug/pprof/"',
  ),
  "metrics": flag(
    "string",
    "basic",
    "Profiling and Monitoring",
    "Set level of detail for exported metrics, specify 'extensive' to include histogram metrics.",
  ),
  "listen-metrics-urls": flag(
    "bindurls",
    "",
    "Profiling and Monitoring",
    "List of URLs to listen on for the /metrics and /health endpoints.",
    OPT,
  ),

  // Logging
  "logger": flag(
    "string",
    "zap",
    "Logging",
    "Currently only supports 'zap' for structured logging (etcd 3.4's 'capnslog' is refused, " +
      "as in etcd 3.5).",
  ),
  "log-outputs": flag(
    "string",
    "default",
    "Logging",
    "Specify 'stdout' or 'stderr', or list of comma separated output targets.",
  ),
  "log-level": flag(
    "enum",
    "info",
    "Logging",
    `Configures log level. Only supports ${LOG_LEVELS.join(", ")}.`,
    { choices: LOG_LEVELS },
  ),
  "enable-log-rotation": flag(
    "bool",
    "false",
    "Logging",
    "Enable log rotation of a single log-outputs file target.",
    { since: "3.5", ...notYet("log files are not rotated yet") },
  ),
  "log-rotation-config-json": flag(
    "string",
    '{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}',
    "Logging",
    "Configures log rotation if enabled with a JSON logger config.",
    { since: "3.5", ...notYet("log files are not rotated yet") },
  ),

  // Experimental distributed tracing
  "experimental-enable-distributed-tracing": flag(
    "bool",
    "false",
    "Experimental distributed tracing",
    "Enable experimental distributed tracing.",
    { ...ig(TRACING), since: "3.5" },
  ),
  "experimental-distributed-tracing-address": flag(
    "string",
    "localhost:4317",
    "Experimental distributed tracing",
    "Distributed tracing collector address.",
    { ...ig(TRACING), since: "3.5" },
  ),
  "experimental-distributed-tracing-service-name": flag(
    "string",
    "etcd",
    "Experimental distributed tracing",
    "Distributed tracing service name, must be same across all etcd instances.",
    { ...ig(TRACING), since: "3.5" },
  ),
  "experimental-distributed-tracing-instance-id": flag(
    "string",
    "",
    "Experimental distributed tracing",
    "Distributed tracing instance ID, must be unique per each etcd instance.",
    { ...ig(TRACING), since: "3.5" },
  ),
  "experimental-distributed-tracing-sampling-rate": flag(
    "int",
    "0",
    "Experimental distributed tracing",
    "Number of samples to collect per million spans for distributed tracing.",
    { ...ig(TRACING), since: "3.5" },
  ),

  // v2 Proxy
  "proxy": flag("enum", "off", "v2 Proxy", "Proxy mode setting ('off', 'readonly' or 'on').", {
    choices: ["off", "readonly", "on"],
    ...ig(PROXY, "off"),
  }),
  "proxy-failure-wait": flag(
    "uint",
    "5000",
    "v2 Proxy",
    "Time (in milliseconds) an endpoint will be held in a failed state.",
    ig(PROXY),
  ),
  "proxy-refresh-interval": flag(
    "uint",
    "30000",
    "v2 Proxy",
    "Time (in milliseconds) of the endpoints refresh interval.",
    ig(PROXY),
  ),
  "proxy-dial-timeout": flag(
    "uint",
    "1000",
    "v2 Proxy",
    "Time (in milliseconds) for a dial to timeout.",
    ig(PROXY),
  ),
  "proxy-write-timeout": flag(
    "uint",
    "5000",
    "v2 Proxy",
    "Time (in milliseconds) for a write to timeout.",
    ig(PROXY),
  ),
  "proxy-read-timeout": flag(
    "uint",
    "0",
    "v2 Proxy",
    "Time (in milliseconds) for a read to timeout.",
    ig(PROXY),
  ),

  // Experimental feature
  "experimental-initial-corrupt-check": flag(
    "bool",
    "false",
    "Experimental feature",
    "Enable to check data corruption before serving any client/peer traffic.",
  ),
  "experimental-corrupt-check-time": flag(
    "duration",
    "0s",
    "Experimental feature",
    "Duration of time between cluster corruption check passes.",
  ),
  "experimental-compact-hash-check-enabled": flag(
    "bool",
    "false",
    "Experimental feature",
    "Enable leader to periodically check followers compaction hashes.",
    { since: "3.5" },
  ),
  "experimental-compact-hash-check-time": flag(
    "duration",
    "1m",
    "Experimental feature",
    "Duration of time between leader checks followers compaction hashes.",
    { since: "3.5" },
  ),
  "experimental-enable-v2v3": flag(
    "string",
    "",
    "Experimental feature",
    "Serve v2 requests through the v3 backend under a given prefix.",
    ig(V2),
  ),
  "experimental-backend-bbolt-freelist-type": flag(
    "string",
    "array",
    "Experimental feature",
    "Type of freelist that boltdb backend uses (array and map).",
    { ...ig(BBOLT), since: "3.4" },
  ),
  "experimental-enable-lease-checkpoint": flag(
    "bool",
    "false",
    "Experimental feature",
    "Enable leader to send regular checkpoints of lease remaining TTLs to other members.",
    notYet("cairn's leader always checkpoints remaining lease TTLs"),
  ),
  "experimental-enable-lease-checkpoint-persist": flag(
    "bool",
    "false",
    "Experimental feature",
    "Enable persisting remainingTTL to prevent indefinite auto-renewal of long lived leases. " +
      "Requires experimental-enable-lease-checkpoint.",
    { since: "3.5", ...notYet("cairn's leader always checkpoints remaining lease TTLs") },
  ),
  "experimental-compaction-batch-limit": flag(
    "int",
    "1000",
    "Experimental feature",
    "Maximum revisions deleted in each compaction batch.",
  ),
  "experimental-compaction-sleep-interval": flag(
    "duration",
    "10ms",
    "Experimental feature",
    "Sleep interval between each compaction batch.",
    { since: "3.5" },
  ),
  "experimental-watch-progress-notify-interval": flag(
    "duration",
    "10m",
    "Experimental feature",
    "Duration of periodical watch progress notification.",
  ),
  "experimental-downgrade-check-time": flag(
    "duration",
    "5s",
    "Experimental feature",
    "Duration of time between two downgrade status checks.",
    { since: "3.5", ...notYet("cairn does not implement downgrades yet") },
  ),
  "experimental-memory-mlock": flag(
    "bool",
    "false",
    "Experimental feature",
    "Enable to enforce etcd pages (in particular bbolt) to stay in RAM.",
    { ...ig(BBOLT), since: "3.5" },
  ),
  "experimental-warning-apply-duration": flag(
    "duration",
    "100ms",
    "Experimental feature",
    "Warning is generated if requests take more than this duration.",
  ),
  "experimental-txn-mode-write-with-shared-buffer": flag(
    "bool",
    "true",
    "Experimental feature",
    "Enable the write transaction to use a shared buffer in its readonly check operations.",
    { ...ig(BBOLT), since: "3.5" },
  ),
  "experimental-bootstrap-defrag-threshold-megabytes": flag(
    "uint",
    "0",
    "Experimental feature",
    "Defragment during bootstrap when that frees at least this many megabytes.",
    { ...ig(BBOLT), since: "3.5" },
  ),
  "experimental-stop-grpc-service-on-defrag": flag(
    "bool",
    "false",
    "Experimental feature",
    "Enable etcd gRPC service to stop serving client requests on defragmentation.",
    {
      ...ig("cairn's Defragment has no bbolt file to rewrite and never pauses serving"),
      since: "3.5",
    },
  ),
  "experimental-snapshot-catchup-entries": flag(
    "uint",
    "5000",
    "Experimental feature",
    "Number of entries for a slow follower to catch up after compacting the raft storage entries.",
    { since: "3.5", ...notYet("cairn keeps 5000 entries after a snapshot") },
  ),

  // Unsafe feature
  "force-new-cluster": flag(
    "bool",
    "false",
    "Unsafe feature",
    "Force to create a new one-member cluster.",
  ),
  "unsafe-no-fsync": flag(
    "bool",
    "false",
    "Unsafe feature",
    "Disables fsync, unsafe, will cause data loss.",
    { since: "3.5", ...notYet("cairn always fsyncs its WAL") },
  ),

  // etcd 3.4's deprecated logging flags
  "debug": flag(
    "bool",
    "false",
    "Deprecated",
    "Enable debug-level logging. Use '--log-level=debug' instead.",
    { since: "3.4" },
  ),
  "log-package-levels": flag(
    "string",
    "",
    "Deprecated",
    "Specify a particular log level for each etcd package (eg: 'etcdmain=CRITICAL,etcdserver=DEBUG').",
    { ...ig("cairn has one --log-level for the whole member"), since: "3.4" },
  ),
  "log-output": flag("string", "default", "Deprecated", "Use '--log-outputs'.", { since: "3.4" }),

  // Other
  "config-file": flag(
    "string",
    "",
    "Other",
    "Path to the server configuration file; other flags and ETCD_* variables are then ignored.",
  ),
  "version": flag("bool", "false", "Other", "Print the version and exit."),
};

/**
 * Names etcd keeps from its v0.4/v2 days and ignores (etcdmain's `ignored`
 * list); each takes no separate value, as etcd's IgnoredFlag is boolean.
 */
export const LEGACY_IGNORED: readonly string[] = [
  "cluster-active-size",
  "cluster-remove-delay",
  "cluster-sync-interval",
  "config",
  "force",
  "max-result-buffer",
  "max-retry-attempts",
  "peer-heartbeat-interval",
  "peer-election-timeout",
  "retry-interval",
  "snapshot",
  "v",
  "vv",
  "test.coverprofile",
  "test.outputdir",
];

const LEGACY_SPEC: FlagSpec = flag("legacy", "", "Other", "Ignored, as etcd ignores it.", {
  ignored: { reason: "etcd no longer supports it either" },
});

/** The spec of a flag name, legacy ignored names included; undefined for unknown names. */
export function lookupFlag(name: string): FlagSpec | undefined {
  if (Object.hasOwn(FLAGS, name)) return FLAGS[name];
  return LEGACY_IGNORED.includes(name) ? LEGACY_SPEC : undefined;
}

/** Every accepted flag name: the table, then the legacy names. */
export function allFlagNames(): string[] {
  return [...Object.keys(FLAGS), ...LEGACY_IGNORED];
}

/** The `ETCD_*` variable for a flag name: `initial-cluster-token` -> `ETCD_INITIAL_CLUSTER_TOKEN`. */
export function flagToEnv(flag: string): string {
  return "ETCD_" + flag.toUpperCase().replaceAll("-", "_");
}
