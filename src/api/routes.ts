/**
 * Registers every etcd service cairn implements: on a Connect router (gRPC,
 * gRPC-Web and the Connect protocol) and, for unary methods, on the direct
 * gRPC path. Both call the same implementation objects.
 *
 * @module
 */
import type { ConnectRouter } from "@connectrpc/connect";
import {
  Auth,
  Cluster,
  KV,
  Lease,
  Maintenance,
  Watch,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { encodePutResponse } from "../fast_codec.ts";
import { BidiRoutes } from "../http/grpc_bidi.ts";
import { UnaryRoutes } from "../http/grpc_unary.ts";
import type { Member } from "../server/member.ts";
import { authService } from "./auth.ts";
import { clusterService } from "./cluster.ts";
import { kvService } from "./kv.ts";
import { leaseService } from "./lease.ts";
import { maintenanceService } from "./maintenance.ts";
import { watchBidi, watchService } from "./watch.ts";

/** The services of one member, in the two forms the client port needs. */
export interface EtcdServices {
  /** For connect-node's adapter. */
  connect: (router: ConnectRouter) => void;
  /** For the direct unary gRPC path. */
  unary: UnaryRoutes;
  /** For the direct bidi-streaming gRPC path. */
  bidi: BidiRoutes;
}

/** Builds the service implementations for `member` once and registers them on both paths. */
export function etcdServices(member: Member): EtcdServices {
  const kv = kvService(member);
  const maintenance = maintenanceService(member);
  const cluster = clusterService(member);
  const lease = leaseService(member);
  const auth = authService(member);
  const unary = new UnaryRoutes();
  unary.addService(KV, kv);
  unary.addService(Maintenance, maintenance);
  unary.addService(Cluster, cluster);
  unary.addService(Lease, lease);
  unary.addService(Auth, auth);
  unary.setEncoder(KV.method.put, encodePutResponse);
  const watchOpts = { progressIntervalMs: member.config.watchProgressNotifyIntervalMs };
  const bidi = new BidiRoutes();
  bidi.add(Watch.method.watch, watchBidi(member, watchOpts));
  return {
    connect: (router) => {
      router.service(KV, kv);
      router.service(Maintenance, maintenance);
      router.service(Cluster, cluster);
      router.service(Lease, lease);
      router.service(Auth, auth);
      // Streaming only: the direct unary path never sees it.
      router.service(Watch, watchService(member, watchOpts));
    },
    unary,
    bidi,
  };
}
