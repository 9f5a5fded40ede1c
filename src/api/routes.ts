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
import { Streams } from "../gen/cairn/streams_pb.ts";
import { Election } from "../gen/etcd/server/etcdserver/api/v3election/v3electionpb/v3election_pb.ts";
import { Lock } from "../gen/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock_pb.ts";
import { decodePutRequest, encodePutResponse, writePutResponseEnvelope } from "../fast_codec.ts";
import { GatewayServices } from "../http/gateway/services.ts";
import { BidiRoutes } from "../http/grpc_bidi.ts";
import { UnaryRoutes } from "../http/grpc_unary.ts";
import type { Member } from "../server/member.ts";
import { authService } from "./auth.ts";
import { clusterService } from "./cluster.ts";
import { electionService } from "./election.ts";
import { kvService, putAnswer, txnAnswer } from "./kv.ts";
import { leaseService } from "./lease.ts";
import { LocalClient } from "./local_client.ts";
import { lockService } from "./lock.ts";
import { maintenanceService } from "./maintenance.ts";
import { streamsService } from "./streams.ts";
import { watchBidi, watchService } from "./watch.ts";

/** The services of one member, in the two forms the client port needs. */
export interface EtcdServices {
  /** For connect-node's adapter. */
  connect: (router: ConnectRouter) => void;
  /** For the direct unary gRPC path. */
  unary: UnaryRoutes;
  /** For the direct bidi-streaming gRPC path. */
  bidi: BidiRoutes;
  /** For the JSON gateway (`/v3/...`): the same implementation objects. */
  gateway: GatewayServices;
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
  unary.setEnvelopeWriter(KV.method.put, writePutResponseEnvelope);
  unary.setDecoder(KV.method.put, decodePutRequest);
  unary.setAnswer(KV.method.put, putAnswer(member));
  unary.setAnswer(KV.method.txn, txnAnswer(member));
  const watchOpts = { progressIntervalMs: member.config.watchProgressNotifyIntervalMs };
  const bidi = new BidiRoutes();
  bidi.add(Watch.method.watch, watchBidi(member, watchOpts));
  const watch = watchService(member, watchOpts);
  // etcd's v3lock and v3election run on an in-process client of these services.
  const local = { kv, lease, watch };
  const lock = lockService((ctx) => new LocalClient(local, ctx));
  const election = electionService((ctx) => new LocalClient(local, ctx));
  const gateway = new GatewayServices(() => member.leader !== 0n);
  gateway.add(KV, kv);
  gateway.add(Watch, watch);
  gateway.add(Lease, lease);
  gateway.add(Cluster, cluster);
  gateway.add(Maintenance, maintenance);
  gateway.add(Auth, auth);
  gateway.add(Lock, lock);
  gateway.add(Election, election);
  return {
    connect: (router) => {
      router.service(KV, kv);
      router.service(Maintenance, maintenance);
      router.service(Cluster, cluster);
      router.service(Lease, lease);
      router.service(Auth, auth);
      // Streaming only: the direct unary path never sees it.
      router.service(Watch, watch);
      // Connect's handlers only: their context ends when the caller goes
      // away, which is what withdraws a waiting Lock or Campaign.
      router.service(Lock, lock);
      router.service(Election, election);
      // cairn's server-streaming Watch and LeaseKeepAlive, for browsers.
      router.service(Streams, streamsService({ watch, lease }));
    },
    unary,
    bidi,
    gateway,
  };
}
