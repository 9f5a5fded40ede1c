/**
 * Measures the round trip to every peer, as etcd's rafthttp prober does
 * for `etcd_network_peer_round_trip_time_seconds{To}`: each member serves
 * `GET /raft/probing` on its peer port and asks its peers for it every few
 * seconds. etcd observes a smoothed RTT every 30 s; cairn observes each
 * probe, which fills the same buckets more often.
 *
 * @module
 */
import type { MemberRecord } from "../gen/cairn/internal_pb.ts";
import type { HistogramChild } from "../metrics/registry.ts";
import type { PeerRouteHandler } from "../transport/transport.ts";

/** etcd's path of the probing endpoint on the peer port. */
export const PROBING_PATH = "/raft/probing";

/** How often each peer is probed (etcd: its connection read timeout less a second). */
export const PROBE_INTERVAL_MS = 4000;

/** What the prober needs from the member. */
export interface ProberOptions {
  selfId: bigint;
  /** The current members. */
  peers(): Iterable<MemberRecord>;
  /** One GET over the member's peer connections; rejects on failure or timeout. */
  get(url: string, path: string, timeoutMs: number): Promise<{ status: number }>;
  /** The series of peer `id` (bound once per peer by the caller). */
  rtt(id: bigint): HistogramChild;
}

/** The probing endpoint's handler: a tiny answer, like etcd's. */
export const probingRoute: PeerRouteHandler = () => ({
  status: 200,
  contentType: "application/json",
  body: new TextEncoder().encode('{"Health":true}'),
});

/** Probes each peer once; a failed probe records nothing. */
export async function probePeers(opts: ProberOptions): Promise<void> {
  const rounds: Promise<void>[] = [];
  for (const p of opts.peers()) {
    if (p.id === opts.selfId || p.peerUrls.length === 0) continue;
    rounds.push((async () => {
      const started = performance.now();
      try {
        const reply = await opts.get(p.peerUrls[0], PROBING_PATH, PROBE_INTERVAL_MS);
        if (reply.status === 200) opts.rtt(p.id).observe((performance.now() - started) / 1000);
      } catch {
        // An unreachable peer shows in the send-failure and active-peer series instead.
      }
    })());
  }
  await Promise.all(rounds);
}
