/**
 * Joining an existing cluster (`--initial-cluster-state existing`): like
 * etcd, a new member asks the members named in `--initial-cluster` for the
 * current membership, learns the cluster id, and finds its own id (assigned
 * by MemberAdd) by its peer URLs.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { type MemberRecord, MemberRecordSchema } from "../gen/cairn/internal_pb.ts";
import type { PeerCaller } from "./env.ts";

/** The membership as a member's peer port publishes it at `GET /members`. */
export interface PublishedMembership {
  clusterId: string;
  members: {
    id: string;
    name: string;
    peerURLs: string[];
    clientURLs: string[];
    isLearner: boolean;
  }[];
}

/** Encodes the membership for `GET /members` (ids as hex, like etcd prints them). */
export function publishMembership(clusterId: bigint, records: MemberRecord[]): PublishedMembership {
  return {
    clusterId: clusterId.toString(16),
    members: records.map((r) => ({
      id: r.id.toString(16),
      name: r.name,
      peerURLs: r.peerUrls,
      clientURLs: r.clientUrls,
      isLearner: r.isLearner,
    })),
  };
}

/** What a joining member needs to start. */
export interface JoinInfo {
  clusterId: bigint;
  memberId: bigint;
  members: MemberRecord[];
}

/**
 * Asks each peer URL in turn for the membership and returns the first
 * answer that lists a member with exactly `selfPeerUrls`. `connect` makes
 * the client the peers are asked through.
 */
export async function discoverCluster(
  peerUrls: string[],
  selfPeerUrls: string[],
  connect: () => PeerCaller,
  timeoutMs = 5000,
): Promise<JoinInfo> {
  const errors: string[] = [];
  const self = [...selfPeerUrls].sort().join(",");
  for (const url of peerUrls) {
    try {
      const published = await getMembers(url, connect, timeoutMs);
      const members = published.members.map((m) =>
        create(MemberRecordSchema, {
          id: BigInt(`0x${m.id}`),
          name: m.name,
          peerUrls: m.peerURLs,
          clientUrls: m.clientURLs,
          isLearner: m.isLearner,
        })
      );
      const me = members.find((m) => [...m.peerUrls].sort().join(",") === self);
      if (!me) {
        errors.push(`${url}: no member with peer URLs ${self} (was it added with 'member add'?)`);
        continue;
      }
      return { clusterId: BigInt(`0x${published.clusterId}`), memberId: me.id, members };
    } catch (err) {
      errors.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`could not join the existing cluster: ${errors.join("; ")}`);
}

async function getMembers(
  base: string,
  connect: () => PeerCaller,
  timeoutMs: number,
): Promise<PublishedMembership> {
  const client = connect();
  try {
    const reply = await client.call(base, "/members", undefined, timeoutMs, "GET");
    if (reply.status !== 200) throw new Error(`GET /members answered ${reply.status}`);
    return JSON.parse(new TextDecoder().decode(reply.body)) as PublishedMembership;
  } finally {
    client.close();
  }
}
