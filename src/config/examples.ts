/**
 * An etcd-style example value for every flag, as an operator would write it
 * for etcd. The flag-surface tests set each flag to its example (on the
 * command line, as `ETCD_*` and as a config key) and expect cairn to accept
 * it; `refused` marks the one flag cairn refuses on purpose.
 *
 * @module
 */

/** An example setting of one flag. */
export interface FlagExample {
  /** The flag's value. */
  value: string;
  /** Other flags etcd requires alongside (e.g. a key file with a cert file). */
  with?: Record<string, string>;
  /** cairn refuses this flag's example with a message matching this (nothing else may). */
  refused?: RegExp;
}

const ex = (value: string, more?: Omit<FlagExample, "value">): FlagExample => ({ value, ...more });

/** Example values by flag name; every flag cairn accepts has one. */
export const FLAG_EXAMPLES: Readonly<Record<string, FlagExample>> = {
  "name": ex("infra1"),
  "data-dir": ex("/var/lib/etcd"),
  "wal-dir": ex("/var/lib/etcd-wal"),
  "snapshot-count": ex("10000"),
  "heartbeat-interval": ex("200"),
  "election-timeout": ex("2000"),
  "initial-election-tick-advance": ex("false"),
  "listen-peer-urls": ex("http://127.0.0.1:12380"),
  "listen-client-urls": ex("http://127.0.0.1:12379,unix://localhost:12379", {
    with: { "advertise-client-urls": "http://127.0.0.1:12379" },
  }),
  "listen-client-http-urls": ex("http://127.0.0.1:12381"),
  "max-snapshots": ex("10"),
  "max-wals": ex("0"),
  "quota-backend-bytes": ex("8589934592"),
  "backend-bbolt-freelist-type": ex("array"),
  "backend-batch-interval": ex("10ms"),
  "backend-batch-limit": ex("10000"),
  "max-txn-ops": ex("256"),
  "max-request-bytes": ex("10485760"),
  "max-concurrent-streams": ex("1000"),
  "enable-grpc-gateway": ex("false"),
  "grpc-keepalive-min-time": ex("10s"),
  "grpc-keepalive-interval": ex("1h"),
  "grpc-keepalive-timeout": ex("30s"),
  "socket-reuse-port": ex("true"),
  "socket-reuse-address": ex("true"),
  "raft-read-timeout": ex("10s"),
  "raft-write-timeout": ex("10s"),
  "initial-advertise-peer-urls": ex("http://127.0.0.1:2380"),
  "initial-cluster": ex("default=http://127.0.0.1:2380"),
  "initial-cluster-state": ex("existing"),
  "initial-cluster-token": ex("etcd-cluster-1"),
  "advertise-client-urls": ex("http://10.0.0.1:2379"),
  "discovery": ex("https://discovery.etcd.io/3e86b59982e49066c5d813af1c2e2579", {
    refused: /the etcd v2 discovery service is not supported by cairn/,
  }),
  "discovery-fallback": ex("exit"),
  "discovery-proxy": ex("http://10.0.0.9:3128"),
  "discovery-srv": ex("example.com"),
  "discovery-srv-name": ex("prod", { with: { "discovery-srv": "example.com" } }),
  "strict-reconfig-check": ex("false"),
  "pre-vote": ex("false"),
  "auto-compaction-retention": ex("1h"),
  "auto-compaction-mode": ex("revision"),
  "enable-v2": ex("true"),
  "v2-deprecation": ex("write-only"),
  "next-cluster-version-compatible": ex("true"),
  "cert-file": ex("/etc/etcd/server.crt", { with: { "key-file": "/etc/etcd/server.key" } }),
  "key-file": ex("/etc/etcd/server.key", { with: { "cert-file": "/etc/etcd/server.crt" } }),
  "client-cert-auth": ex("true"),
  "client-cert-file": ex("/etc/etcd/client.crt"),
  "client-key-file": ex("/etc/etcd/client.key"),
  "client-crl-file": ex("/etc/etcd/client.crl"),
  "client-cert-allowed-hostname": ex("client.example.com"),
  "trusted-ca-file": ex("/etc/etcd/ca.crt"),
  "auto-tls": ex("true"),
  "peer-cert-file": ex("/etc/etcd/peer.crt", { with: { "peer-key-file": "/etc/etcd/peer.key" } }),
  "peer-key-file": ex("/etc/etcd/peer.key", { with: { "peer-cert-file": "/etc/etcd/peer.crt" } }),
  "peer-client-cert-auth": ex("true"),
  "peer-trusted-ca-file": ex("/etc/etcd/ca.crt"),
  "peer-cert-allowed-cn": ex("etcd-peer"),
  "peer-cert-allowed-hostname": ex("peer.example.com"),
  "peer-auto-tls": ex("true"),
  "peer-client-cert-file": ex("/etc/etcd/peer-client.crt", {
    with: { "peer-client-key-file": "/etc/etcd/peer-client.key" },
  }),
  "peer-client-key-file": ex("/etc/etcd/peer-client.key", {
    with: { "peer-client-cert-file": "/etc/etcd/peer-client.crt" },
  }),
  "self-signed-cert-validity": ex("3"),
  "peer-crl-file": ex("/etc/etcd/peer.crl"),
  "cipher-suites": ex(
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
  ),
  "cors": ex("http://example.com:8080,https://dashboard.example.com:443"),
  "host-whitelist": ex("example.com,127.0.0.1"),
  "tls-min-version": ex("TLS1.2"),
  "tls-max-version": ex("TLS1.3"),
  "experimental-peer-skip-client-san-verification": ex("true"),
  "auth-token": ex("jwt,pub-key=/etc/etcd/jwt.pub,priv-key=/etc/etcd/jwt.key,sign-method=RS256"),
  "bcrypt-cost": ex("12"),
  "auth-token-ttl": ex("600"),
  "enable-pprof": ex("true"),
  "metrics": ex("extensive"),
  "listen-metrics-urls": ex("http://127.0.0.1:12382"),
  "logger": ex("zap"),
  "log-outputs": ex("stderr"),
  "log-level": ex("debug"),
  "enable-log-rotation": ex("true", { with: { "log-outputs": "/var/log/etcd/etcd.log" } }),
  "log-rotation-config-json": ex('{"maxsize": 50, "maxbackups": 3, "compress": true}'),
  "experimental-enable-distributed-tracing": ex("true"),
  "experimental-distributed-tracing-address": ex("localhost:4317"),
  "experimental-distributed-tracing-service-name": ex("etcd"),
  "experimental-distributed-tracing-instance-id": ex("infra1"),
  "experimental-distributed-tracing-sampling-rate": ex("100"),
  "proxy": ex("readonly"),
  "proxy-failure-wait": ex("3000"),
  "proxy-refresh-interval": ex("10000"),
  "proxy-dial-timeout": ex("500"),
  "proxy-write-timeout": ex("3000"),
  "proxy-read-timeout": ex("1000"),
  "experimental-initial-corrupt-check": ex("true"),
  "experimental-corrupt-check-time": ex("5m"),
  "experimental-compact-hash-check-enabled": ex("true"),
  "experimental-compact-hash-check-time": ex("2m"),
  "experimental-enable-v2v3": ex("/v2/"),
  "experimental-backend-bbolt-freelist-type": ex("map"),
  "experimental-enable-lease-checkpoint": ex("true"),
  "experimental-enable-lease-checkpoint-persist": ex("true", {
    with: { "experimental-enable-lease-checkpoint": "true" },
  }),
  "experimental-compaction-batch-limit": ex("500"),
  "experimental-compaction-sleep-interval": ex("20ms"),
  "experimental-watch-progress-notify-interval": ex("5m"),
  "experimental-downgrade-check-time": ex("10s"),
  "experimental-memory-mlock": ex("true"),
  "experimental-warning-apply-duration": ex("200ms"),
  "experimental-txn-mode-write-with-shared-buffer": ex("false"),
  "experimental-bootstrap-defrag-threshold-megabytes": ex("100"),
  "experimental-stop-grpc-service-on-defrag": ex("true"),
  "experimental-snapshot-catchup-entries": ex("10000"),
  "force-new-cluster": ex("true"),
  "unsafe-no-fsync": ex("true"),
  "debug": ex("true"),
  "log-package-levels": ex("etcdserver=DEBUG"),
  "log-output": ex("stderr"),
  "config-file": ex("/etc/etcd/etcd.conf.yml"),
  "version": ex("false"),
};
