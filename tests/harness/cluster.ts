/**
 * A multi-member cairn cluster on loopback for integration tests: start the
 * members bootstrapped together, find the leader over gRPC (Maintenance
 * Status), and tear everything down.
 *
 * Leader discovery talks gRPC directly rather than spawning etcdctl, so a
 * test can poll it often without burning the machine's two cores.
 */

import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Maintenance } from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Member, sleep } from "./member.ts";

/** Starts `n` cairn members bootstrapped together and waits until each is healthy. */
export async function startCluster(n: number, extraArgs: string[] = []): Promise<Member[]> {
  const members: Member[] = [];
  for (let i = 1; i <= n; i++) {
    members.push(await Member.create({ kind: "cairn", name: `m${i}`, extraArgs }));
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  const token = `cluster-${members[0].clientPort}`;
  for (const m of members) m.options.cluster = { initialCluster, token };
  for (const m of members) m.launch();
  try {
    await Promise.all(members.map((m) => m.waitHealthy(30_000)));
  } catch (err) {
    await Promise.all(members.map((m) => m.destroy()));
    throw err;
  }
  return members;
}

/** What one member says about itself and its leader (0n: none known). */
export interface LeaderView {
  /** The member asked. */
  member: Member;
  /** Its own id. */
  memberId: bigint;
  /** The leader it follows, 0n when it knows none. */
  leader: bigint;
}

/** Maintenance.Status of one running member, or undefined if it does not answer in time. */
export async function leaderView(m: Member, timeoutMs = 1000): Promise<LeaderView | undefined> {
  const client = createClient(Maintenance, createGrpcTransport({ baseUrl: m.clientUrl }));
  try {
    const s = await client.status({}, { timeoutMs });
    return { member: m, memberId: s.header?.memberId ?? 0n, leader: s.leader };
  } catch {
    return undefined;
  }
}

/** Waits until every running member names the same, running leader; returns it. */
export async function waitForLeader(members: Member[], timeoutMs = 15_000): Promise<Member> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const live = members.filter((m) => m.running);
    const views = await Promise.all(live.map((m) => leaderView(m)));
    const leaders = new Set(views.map((v) => v?.leader ?? 0n));
    if (leaders.size === 1 && !leaders.has(0n)) {
      const leader = views.find((v) => v!.memberId === [...leaders][0]);
      if (leader) return leader.member;
    }
    last = views.map((v) => `${v?.member.name ?? "?"}->${v?.leader.toString(16) ?? "-"}`).join(
      " ",
    );
    await sleep(100);
  }
  throw new Error(`no single leader within ${timeoutMs} ms: ${last}`);
}

/** Destroys every member (processes and temp dirs), whatever state they are in. */
export async function destroyAll(members: Member[]): Promise<void> {
  await Promise.all(members.map((m) => m.destroy()));
}
