/**
 * Registers every etcd service cairn implements on a Connect router; the
 * same router serves gRPC, gRPC-Web and the Connect protocol.
 *
 * @module
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { Cluster, KV, Maintenance } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Member } from "../server/member.ts";
import { clusterService } from "./cluster.ts";
import { kvService } from "./kv.ts";
import { maintenanceService } from "./maintenance.ts";

/** Returns the route registration function for a member's services. */
export function etcdRoutes(member: Member): (router: ConnectRouter) => void {
  return (router) => {
    router.service(KV, kvService(member));
    router.service(Maintenance, maintenanceService(member));
    router.service(Cluster, clusterService(member));
  };
}
