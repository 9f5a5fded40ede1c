/**
 * The seams a member reaches the world through: the clock, the disk, the
 * peer network and its randomness. Production passes nothing and gets the
 * real ones ({@link realEnv}); the whole-member simulation (./sim) passes
 * virtual ones so that several members run in one process under one
 * seeded scheduler (DESIGN.md: "Member reaches the disk, the clock and the
 * network through small interfaces").
 *
 * @module
 */
import { type Clock, REAL_CLOCK } from "../clock.ts";
import type { Message } from "../raft/types.ts";
import { type Disk, REAL_DISK } from "../storage/disk.ts";
import { PeerClient, type PeerReply } from "../transport/peer_client.ts";
import {
  CLEARTEXT_PEERS,
  type PeerNetwork,
  Transport,
  type TransportOptions,
} from "../transport/transport.ts";

export type { PeerReply } from "../transport/peer_client.ts";
export type { TransportOptions } from "../transport/transport.ts";

/** The part of the peer transport a member drives ({@link Transport} is one). */
export interface PeerTransport {
  /** Adds a peer or updates its URLs. */
  setPeer(id: bigint, urls: string[]): void;
  /** Forgets a peer and what was queued for it. */
  removePeer(id: bigint): void;
  /** Queues messages for their `to` peers; never blocks, never throws. */
  send(msgs: readonly Message[]): void;
  /** Whether a connection to `id` is up. */
  isActive(id: bigint): boolean;
  /** Messages waiting to be sent to `id`. */
  queued(id: bigint): number;
  /** Closes every connection and listener. */
  stop(): Promise<void>;
}

/** Calls to member endpoints on other members ({@link PeerClient} is one). */
export interface PeerCaller {
  /** `method path` on the peer at `url`; rejects on network failure or timeout. */
  call(
    url: string,
    path: string,
    body: Uint8Array | undefined,
    timeoutMs: number,
    method?: string,
    headers?: [string, string][],
  ): Promise<PeerReply>;
  /** Closes its connections. */
  close(): void;
}

/** How a member meets its peers. */
export interface MemberNetwork {
  /** Listens on the peer port and starts messaging. */
  startTransport(opts: TransportOptions): Promise<PeerTransport>;
  /** A new client for member-endpoint calls. */
  caller(): PeerCaller;
}

/**
 * Sizes and intervals production leaves at their defaults, which a short
 * simulated run sets small so that WAL segments roll and old files are
 * purged within seconds.
 */
export interface MemberTuning {
  /** WAL segment size (default 64 MiB, as etcd). */
  walSegmentBytes?: number;
  /** WAL fsync style (default "blocking", see wal.ts). */
  walSyncMode?: "blocking" | "async";
  /** Time between purge rounds (default 30 s, as etcd). */
  purgeIntervalMs?: number;
  /**
   * Bytes from which a restart checks its snapshot body and its older WAL
   * segments on another thread (default 32 MiB each; see
   * off_thread_check.ts; tests set 0 to take that path with small files).
   */
  offThreadCheckBytes?: number;
  /** Store bytes per chunk of a periodic snapshot (default 256 KiB, STORE_CHUNK_BYTES). */
  snapshotChunkBytes?: number;
  /**
   * Awaited at every pause of a snapshot being written (tests hold one
   * mid-way with it to show the member keeps serving meanwhile).
   */
  onSnapshotPause?: () => Promise<void> | void;
}

/** Everything a member takes from outside itself. */
export interface MemberEnv {
  clock: Clock;
  disk: Disk;
  network: MemberNetwork;
  /** Randomness for Raft's election timeouts. */
  random: () => number;
  /** Defaults overridden (the simulation's); empty in production. */
  tuning: MemberTuning;
}

/** The real peer network: HTTP/2 over `peers.dial`, TLS listeners per `peers.tls`. */
export function realNetwork(peers: PeerNetwork = CLEARTEXT_PEERS): MemberNetwork {
  return {
    startTransport: (opts) => Transport.start({ ...opts, tls: peers.tls, dial: peers.dial }),
    caller: () => new PeerClient(peers.dial),
  };
}

/** `env` with the real clock, disk, network and randomness wherever it names none. */
export function realEnv(env: Partial<MemberEnv> = {}, peers?: PeerNetwork): MemberEnv {
  return {
    clock: env.clock ?? REAL_CLOCK,
    disk: env.disk ?? REAL_DISK,
    network: env.network ?? realNetwork(peers),
    random: env.random ?? Math.random,
    tuning: env.tuning ?? {},
  };
}
