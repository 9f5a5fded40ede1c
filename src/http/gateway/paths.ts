/**
 * The routes of etcd 3.5's gRPC gateway: every path it serves under `/v3/`
 * (each a POST whose whole body is the request message) and the gRPC
 * method behind it, from the `google.api.http` options of etcd's .proto
 * files (rpc.proto, v3lock.proto, v3election.proto).
 *
 * @module
 */

/** One gateway route: `/v3/<path>` calls `<service>/<method>`. */
export interface GatewayPath {
  /** Below `/v3/`. */
  readonly path: string;
  /** Fully qualified service name, e.g. `etcdserverpb.KV`. */
  readonly service: string;
  /** Method name as in the .proto, e.g. `Range`. */
  readonly method: string;
}

function routes(service: string, table: Record<string, string>): GatewayPath[] {
  return Object.entries(table).map(([path, method]) => ({ path, service, method }));
}

/** Every route, etcd 3.5's set. */
export const GATEWAY_PATHS: readonly GatewayPath[] = [
  ...routes("etcdserverpb.KV", {
    "kv/range": "Range",
    "kv/put": "Put",
    "kv/deleterange": "DeleteRange",
    "kv/txn": "Txn",
    "kv/compaction": "Compact",
  }),
  ...routes("etcdserverpb.Watch", { "watch": "Watch" }),
  ...routes("etcdserverpb.Lease", {
    "lease/grant": "LeaseGrant",
    "lease/revoke": "LeaseRevoke",
    "kv/lease/revoke": "LeaseRevoke",
    "lease/keepalive": "LeaseKeepAlive",
    "lease/timetolive": "LeaseTimeToLive",
    "kv/lease/timetolive": "LeaseTimeToLive",
    "lease/leases": "LeaseLeases",
    "kv/lease/leases": "LeaseLeases",
  }),
  ...routes("etcdserverpb.Cluster", {
    "cluster/member/add": "MemberAdd",
    "cluster/member/remove": "MemberRemove",
    "cluster/member/update": "MemberUpdate",
    "cluster/member/list": "MemberList",
    "cluster/member/promote": "MemberPromote",
  }),
  ...routes("etcdserverpb.Maintenance", {
    "maintenance/alarm": "Alarm",
    "maintenance/status": "Status",
    "maintenance/defragment": "Defragment",
    "maintenance/hash": "Hash",
    "maintenance/hashkv": "HashKV",
    "maintenance/snapshot": "Snapshot",
    "maintenance/transfer-leadership": "MoveLeader",
    "maintenance/downgrade": "Downgrade",
  }),
  ...routes("etcdserverpb.Auth", {
    "auth/enable": "AuthEnable",
    "auth/disable": "AuthDisable",
    "auth/status": "AuthStatus",
    "auth/authenticate": "Authenticate",
    "auth/user/add": "UserAdd",
    "auth/user/get": "UserGet",
    "auth/user/list": "UserList",
    "auth/user/delete": "UserDelete",
    "auth/user/changepw": "UserChangePassword",
    "auth/user/grant": "UserGrantRole",
    "auth/user/revoke": "UserRevokeRole",
    "auth/role/add": "RoleAdd",
    "auth/role/get": "RoleGet",
    "auth/role/list": "RoleList",
    "auth/role/delete": "RoleDelete",
    "auth/role/grant": "RoleGrantPermission",
    "auth/role/revoke": "RoleRevokePermission",
  }),
  ...routes("v3lockpb.Lock", { "lock/lock": "Lock", "lock/unlock": "Unlock" }),
  ...routes("v3electionpb.Election", {
    "election/campaign": "Campaign",
    "election/proclaim": "Proclaim",
    "election/leader": "Leader",
    "election/observe": "Observe",
    "election/resign": "Resign",
  }),
];
