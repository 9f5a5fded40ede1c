/**
 * cairn's TypeScript client, for web apps and scripts: the generated
 * descriptors of every service cairn serves and of their messages, and
 * {@link cairnClients}, which makes a client of each on one transport.
 *
 * - etcd's services: KV, Watch, Lease, Cluster, Maintenance, Auth
 *   (etcdserverpb), Lock (v3lockpb) and Election (v3electionpb);
 * - cairn's Streams: server-streaming Watch and LeaseKeepAlive, which a
 *   browser's fetch-based transport can call where etcd's Watch and
 *   LeaseKeepAlive (bidirectional) cannot be.
 *
 * In a browser, use a Connect-Web or gRPC-Web transport from
 * `@connectrpc/connect-web` with the member's client URL as base URL:
 *
 * ```ts
 * import { createConnectTransport } from "@connectrpc/connect-web";
 * import { cairnClients } from "@cairn/cairn/client";
 *
 * const cairn = cairnClients(createConnectTransport({ baseUrl: "http://127.0.0.1:2379" }));
 * const { kvs } = await cairn.kv.range({ key: new TextEncoder().encode("foo") });
 * for await (const resp of cairn.streams.watch({ key: new TextEncoder().encode("foo") })) {
 *   console.log(resp.events);
 * }
 * ```
 *
 * The module is published as the `./client` export of the repository's
 * deno.json; a bundler (`deno bundle --platform browser`) turns it into
 * one file for a web page.
 *
 * @module
 */
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { Streams } from "../gen/cairn/streams_pb.ts";
import {
  Auth,
  Cluster,
  KV,
  Lease,
  Maintenance,
  Watch,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Election } from "../gen/etcd/server/etcdserver/api/v3election/v3electionpb/v3election_pb.ts";
import { Lock } from "../gen/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock_pb.ts";

export * from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
export * from "../gen/etcd/api/mvccpb/kv_pb.ts";
export * from "../gen/etcd/api/authpb/auth_pb.ts";
export * from "../gen/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock_pb.ts";
export * from "../gen/etcd/server/etcdserver/api/v3election/v3electionpb/v3election_pb.ts";
export * from "../gen/cairn/streams_pb.ts";

/** A client of every service, on one transport. */
export interface CairnClients {
  kv: Client<typeof KV>;
  /** etcd's bidirectional Watch: needs a transport that streams both ways (not fetch). */
  watch: Client<typeof Watch>;
  lease: Client<typeof Lease>;
  cluster: Client<typeof Cluster>;
  maintenance: Client<typeof Maintenance>;
  auth: Client<typeof Auth>;
  lock: Client<typeof Lock>;
  election: Client<typeof Election>;
  /** Server-streaming Watch and LeaseKeepAlive, callable over fetch. */
  streams: Client<typeof Streams>;
}

/** Makes a client of each of cairn's services on `transport`. */
export function cairnClients(transport: Transport): CairnClients {
  return {
    kv: createClient(KV, transport),
    watch: createClient(Watch, transport),
    lease: createClient(Lease, transport),
    cluster: createClient(Cluster, transport),
    maintenance: createClient(Maintenance, transport),
    auth: createClient(Auth, transport),
    lock: createClient(Lock, transport),
    election: createClient(Election, transport),
    streams: createClient(Streams, transport),
  };
}
