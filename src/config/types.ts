/**
 * The typed result of configuration: {@link Config}, one member's complete
 * settings, and {@link ParseOutcome}, what the command line asks for.
 *
 * @module
 */
import type { LogLevel } from "../log.ts";
import type { LogRotation } from "./logging.ts";
import type { TlsFiles, TlsVersion } from "./tls.ts";

/**
 * A member's complete, validated configuration. URL lists are never shared
 * between fields. Note that WHATWG `URL` drops a default port
 * (`http://h:80` has `port === ""`): use `formatUrl` to print one.
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
  /** `--quota-backend-bytes`; 0 means the default 2 GiB (etcd: a negative value disables the quota). */
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
  /** `--logger` ("zap", the default, or etcd 3.4's "capnslog", which src/log.ts refuses as etcd 3.5 does). */
  logger: "zap" | "capnslog";
  /** `--log-outputs` (default ["default"], i.e. stderr; also "stderr", "stdout", file paths). */
  logOutputs: string[];
  /** `--metrics`: "basic" (default) or "extensive". */
  metrics: "basic" | "extensive";

  // Further etcd flags with meaning for cairn (beyond issue 10's contract).

  /** `--initial-election-tick-advance` (default true): a fresh member's first election comes sooner. */
  initialElectionTickAdvance: boolean;
  /** `--socket-reuse-port`: SO_REUSEPORT on listeners. */
  socketReusePort: boolean;
  /** `--socket-reuse-address`: SO_REUSEADDR on listeners. */
  socketReuseAddress: boolean;
  /** `--raft-read-timeout` in ms (default and minimum 5000): read deadline on peer connections. */
  raftReadTimeoutMs: number;
  /** `--raft-write-timeout` in ms (default and minimum 5000): write deadline on peer connections. */
  raftWriteTimeoutMs: number;
  /** `--enable-grpc-gateway` (default true): serve the /v3 JSON gateway on client URLs. */
  enableGrpcGateway: boolean;
  /** `--peer-client-cert-file`: certificate presented when dialing peers; "" = the peer cert file. */
  peerClientCertFile: string;
  /** `--peer-client-key-file`: key for {@link Config.peerClientCertFile}; "" = the peer key file. */
  peerClientKeyFile: string;
  /** `--experimental-peer-skip-client-san-verification`: do not check peer client certificates' SANs. */
  peerSkipClientSanVerification: boolean;
  /** `--bcrypt-cost` (4..31, default 10; out of range falls back to 10 with a warning, as in etcd). */
  bcryptCost: number;
  /** `--auth-token-ttl` in seconds (default 300): lifetime of a simple token. */
  authTokenTtlSeconds: number;
  /** `--enable-log-rotation` with `--log-rotation-config-json`; null when rotation is off. */
  logRotation: LogRotation | null;
  /** `--experimental-compact-hash-check-enabled`: the leader compares followers' compaction hashes. */
  compactHashCheckEnabled: boolean;
  /** `--experimental-compact-hash-check-time` in ms (default 60000, must be > 0). */
  compactHashCheckTimeMs: number;
  /** `--experimental-enable-lease-checkpoint`: the leader checkpoints remaining lease TTLs. */
  leaseCheckpoint: boolean;
  /** `--experimental-enable-lease-checkpoint-persist`: checkpoints are persisted (needs leaseCheckpoint). */
  leaseCheckpointPersist: boolean;
  /**
   * `--experimental-compaction-batch-limit`: versions per compaction step;
   * 0 (unset) = cairn's default (8192), negative = no limit.
   */
  compactionBatchLimit: number;
  /**
   * `--experimental-compaction-sleep-interval` in ms: pause between
   * compaction steps; 0 (unset) = cairn's default (a zero-delay yield).
   */
  compactionSleepIntervalMs: number;
  /** `--experimental-downgrade-check-time` in ms (default 5000). */
  downgradeCheckTimeMs: number;
  /** `--experimental-warning-apply-duration` in ms (default 100): slower applies are logged. */
  warningApplyDurationMs: number;
  /** `--experimental-snapshot-catchup-entries` (default 5000): log entries kept after a snapshot. */
  snapshotCatchUpEntries: number;
  /** `--unsafe-no-fsync`: skip fsync (data loss on a crash). */
  unsafeNoFsync: boolean;
}

/** What the command line asks for: run a member, print the version, or print help. */
export type ParseOutcome =
  | { kind: "run"; config: Config; warnings: string[] }
  | { kind: "version" }
  | { kind: "help"; text: string };
