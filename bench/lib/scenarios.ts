/**
 * The load scenarios, run with identical kvbench parameters against etcd and
 * cairn. Totals are sized so each takes a couple of seconds on etcd on a
 * 2-core machine; kvbench's -timeout bounds a slower server.
 *
 * @module
 */

/** One kvbench invocation. */
export interface Scenario {
  /** Stable identifier, used as a key in results. */
  id: string;
  /** Human title for the table. */
  title: string;
  /**
   * kvbench -op: put | get (linearizable) | getser (serializable) | txn;
   * kvtool also auth, and gwput | gwget (put and linearizable get as JSON
   * to the grpc-gateway).
   */
  op: "put" | "get" | "getser" | "txn" | "auth" | "gwput" | "gwget";
  /** Concurrent requesters. */
  clients: number;
  /** gRPC connections the requesters share. */
  conns: number;
  /** Requests in all. */
  total: number;
  /** Distinct keys requests pick from at random (1 = every request hits one key). */
  keys: number;
}

/** The scenarios of the comparison table, in order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: "put1",
    title: "put, 1 client / 1 conn",
    op: "put",
    clients: 1,
    conns: 1,
    total: 3000,
    keys: 1000,
  },
  {
    id: "put100",
    title: "put, 100 clients / 10 conns",
    op: "put",
    clients: 100,
    conns: 10,
    total: 30000,
    keys: 1000,
  },
  {
    id: "get100",
    title: "linearizable get of one key, 100 clients / 10 conns",
    op: "get",
    clients: 100,
    conns: 10,
    total: 30000,
    keys: 1,
  },
  {
    id: "getser100",
    title: "serializable get of one key, 100 clients / 10 conns",
    op: "getser",
    clients: 100,
    conns: 10,
    total: 30000,
    keys: 1,
  },
  {
    id: "txn100",
    title: "txn (mod_revision compare, then put), 100 clients / 10 conns",
    op: "txn",
    clients: 100,
    conns: 10,
    total: 20000,
    keys: 1000,
  },
  {
    // The round trip half of put1's physical floor (lib/floor.ts); last, so
    // the TLS rows' indices into this list stay put.
    id: "getser1",
    title: "serializable get of one key, 1 client / 1 conn",
    op: "getser",
    clients: 1,
    conns: 1,
    total: 5000,
    keys: 1,
  },
];

/**
 * The TLS rows: the same loads with the server's client URL on https and
 * the same certificate for etcd and cairn, driven by kvtool's kv mode
 * (kvbench has no TLS options). Only the server certificate: the clients
 * verify it against the test CA and present none.
 */
export const TLS_SCENARIOS: readonly Scenario[] = [
  { ...SCENARIOS[0], id: "tls-put1", title: "TLS: put, 1 client / 1 conn" },
  { ...SCENARIOS[1], id: "tls-put100", title: "TLS: put, 100 clients / 10 conns" },
  {
    ...SCENARIOS[2],
    id: "tls-get100",
    title: "TLS: linearizable get of one key, 100 clients / 10 conns",
  },
];

/**
 * The auth rows, on a fresh member with auth enabled (kvtool -mode
 * authsetup), driven by kvtool's kv mode as user "bench": Authenticate
 * itself (every request a new login with the same password, as clients do
 * after a leader election), then puts with the token clientv3 got when it
 * connected.
 */
export const AUTH_SCENARIOS: readonly Scenario[] = [
  {
    id: "auth-authenticate100",
    title: "auth: Authenticate, 100 clients / 10 conns",
    op: "auth",
    clients: 100,
    conns: 10,
    // etcd 3.4 runs bcrypt inside its apply loop: about 9 logins/s here.
    total: 300,
    keys: 1,
  },
  { ...SCENARIOS[1], id: "auth-put100", title: "auth: put with a token, 100 clients / 10 conns" },
];

/**
 * The gateway rows: put and linearizable get as JSON over HTTP/1.1 to the
 * grpc-gateway (`/v3/kv/put`, `/v3/kv/range`), as curl scripts and gateway
 * clients (etcd3gw, Patroni, APISIX) send them, driven by kvtool's kv mode.
 * HTTP/1.1 carries one request at a time per connection: each of the 100
 * clients keeps its own connection (`conns` only applies to the preload).
 */
export const GATEWAY_SCENARIOS: readonly Scenario[] = [
  {
    id: "gw-put100",
    title: "JSON gateway: put, 100 clients",
    op: "gwput",
    clients: 100,
    conns: 10,
    total: 20000,
    keys: 1000,
  },
  {
    id: "gw-get100",
    title: "JSON gateway: linearizable get of one key, 100 clients",
    op: "gwget",
    clients: 100,
    conns: 10,
    total: 20000,
    keys: 1,
  },
];

/** Unmeasured load before the gateway rows: the same path, warmed as {@link WARMUP} warms gRPC. */
export const GATEWAY_WARMUP: Scenario = {
  id: "gw-warmup",
  title: "JSON gateway warm-up (not reported)",
  op: "gwput",
  clients: 100,
  conns: 10,
  total: 5000,
  keys: 1000,
};

/**
 * Unmeasured load every server gets right before its measured scenarios (and
 * before the cluster row): the same for etcd and cairn. Without it the first
 * row measures a cold process: cairn's JIT compiler has not yet optimised the
 * request path (put, 1 client: about 1,950/s cold against 2,640/s warm in
 * one run), and etcd also fills its connection pools and buffers.
 */
export const WARMUP: Scenario = {
  id: "warmup",
  title: "warm-up (not reported): put, 10 clients / 2 conns",
  op: "put",
  clients: 10,
  conns: 2,
  total: 5000,
  keys: 1000,
};

/** kvbench arguments for a scenario against `endpoint`, bounded by `timeoutS` seconds. */
export function kvbenchArgs(
  s: Scenario,
  endpoint: string,
  timeoutS: number,
  label: string,
): string[] {
  return [
    "-endpoint",
    endpoint,
    "-op",
    s.op,
    "-clients",
    String(s.clients),
    "-conns",
    String(s.conns),
    "-total",
    String(s.total),
    "-keys",
    String(s.keys),
    "-val",
    "256",
    "-timeout",
    `${timeoutS}s`,
    "-label",
    label,
  ];
}
