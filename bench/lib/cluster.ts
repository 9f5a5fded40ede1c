/**
 * Starting and stopping a multi-member cluster (etcd or cairn, which take the
 * same flags) on loopback for the benchmark, and finding its leader with
 * `etcdctl endpoint status`.
 *
 * @module
 */

import { join } from "node:path";
import { stopTree, treeRss } from "./proc.ts";
import type { Rss } from "./proc.ts";
import { freePort, readLog, type ServerSpec, spawnLogged } from "./server.ts";
import { tail } from "./tools.ts";

/** Ports of one member. */
export interface MemberPorts {
  client: number;
  peer: number;
}

/**
 * The etcd flags of member `i` (0-based) of a new cluster whose members are
 * named `<prefix>1..n` and listen on `ports`.
 */
export function clusterMemberFlags(
  prefix: string,
  i: number,
  ports: MemberPorts[],
  dataDir: string,
  token: string,
): string[] {
  const peerUrl = (p: MemberPorts) => `http://127.0.0.1:${p.peer}`;
  const c = `http://127.0.0.1:${ports[i].client}`;
  const p = peerUrl(ports[i]);
  return [
    "--name",
    `${prefix}${i + 1}`,
    "--data-dir",
    dataDir,
    "--listen-client-urls",
    c,
    "--advertise-client-urls",
    c,
    "--listen-peer-urls",
    p,
    "--initial-advertise-peer-urls",
    p,
    "--initial-cluster",
    ports.map((m, j) => `${prefix}${j + 1}=${peerUrl(m)}`).join(","),
    "--initial-cluster-token",
    token,
    "--initial-cluster-state",
    "new",
  ];
}

/** One line of `etcdctl endpoint status` (simple format). */
export interface EndpointStatus {
  endpoint: string;
  /** Member id, hex. */
  id: string;
  isLeader: boolean;
  raftTerm: number;
}

/**
 * Parses etcdctl's simple `endpoint status` output, one member a line:
 * `endpoint, id, version, db size, is leader, is learner, term, index, applied, errors`.
 * Lines that do not have that shape (warnings) are skipped.
 */
export function parseEndpointStatus(text: string): EndpointStatus[] {
  const out: EndpointStatus[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(",").map((x) => x.trim());
    if (f.length < 9 || !/^[0-9a-f]+$/.test(f[1])) continue;
    if (f[4] !== "true" && f[4] !== "false") continue;
    out.push({ endpoint: f[0], id: f[1], isLeader: f[4] === "true", raftTerm: Number(f[6]) });
  }
  return out;
}

/**
 * The leader's endpoint once every one of `endpoints` answered and exactly
 * one of them says it leads, all in the same term; null otherwise.
 */
export function agreedLeader(endpoints: string[], statuses: EndpointStatus[]): string | null {
  if (statuses.length !== endpoints.length) return null;
  if (!endpoints.every((e) => statuses.some((s) => s.endpoint === e))) return null;
  if (new Set(statuses.map((s) => s.raftTerm)).size !== 1) return null;
  const leaders = statuses.filter((s) => s.isLeader);
  return leaders.length === 1 ? leaders[0].endpoint : null;
}

/** A running cluster with an agreed leader. */
export interface Cluster {
  /** host:port of every member, member 1 first. */
  endpoints: string[];
  /** host:port of the leader when it was found. */
  leader: string;
  /** Spawn of the first member -> leader agreed by all, ms. */
  readyMs: number;
  /** Each member's log file. */
  logFiles: string[];
  /** Resident memory of all members together. */
  rss(): Rss;
  /** Whether any member has exited. */
  exited(): boolean;
  /** Stops every member. */
  stop(): Promise<void>;
}

async function endpointStatus(etcdctl: string, endpoints: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(etcdctl, {
      args: [
        `--endpoints=${endpoints.join(",")}`,
        "--dial-timeout=1s",
        "--command-timeout=2s",
        "endpoint",
        "status",
      ],
      env: { ETCDCTL_API: "3" },
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    // etcdctl exits 1 when some endpoint failed but still prints the others.
    return new TextDecoder().decode(out.stdout);
  } catch (e) {
    throw new Error(`cannot run ${etcdctl}: ${(e as Error).message}`);
  }
}

function sumRss(xs: Rss[]): Rss {
  const t: Rss = { rssKiB: 0, anonKiB: 0, fileKiB: 0, peakKiB: 0, processes: 0 };
  for (const x of xs) {
    t.rssKiB += x.rssKiB;
    t.anonKiB += x.anonKiB;
    t.fileKiB += x.fileKiB;
    t.peakKiB += x.peakKiB;
    t.processes += x.processes;
  }
  return t;
}

/**
 * Starts `size` members of a new cluster at once, each with a fresh data
 * dir under `workDir`, and resolves once `etcdctl endpoint status` shows
 * every member answering with one agreed leader. Rejects, with log tails,
 * if a member exits or no leader is agreed within `timeoutMs`.
 */
export async function startCluster(
  spec: ServerSpec,
  workDir: string,
  run: string,
  size: number,
  timeoutMs: number,
  etcdctl = "etcdctl",
): Promise<Cluster> {
  const used = new Set<number>();
  const ports: MemberPorts[] = [];
  for (let i = 0; i < size; i++) {
    const client = freePort(used);
    used.add(client);
    const peer = freePort(used);
    used.add(peer);
    ports.push({ client, peer });
  }
  const endpoints = ports.map((p) => `127.0.0.1:${p.client}`);
  const base = join(workDir, `${spec.name}-${run}`);
  const logFiles = ports.map((_, i) => `${base}-m${i + 1}.log`);
  const token = `${spec.name}-${run}-${ports[0].client}`;
  const t0 = performance.now();
  const children = ports.map((_, i) =>
    spawnLogged(
      [...spec.argv, ...clusterMemberFlags("m", i, ports, `${base}-m${i + 1}.data`, token)],
      logFiles[i],
    )
  );
  let exitedCount = 0;
  for (const c of children) c.status.then(() => exitedCount++);
  const cluster: Omit<Cluster, "leader" | "readyMs"> = {
    endpoints,
    logFiles,
    rss: () => sumRss(children.map((c) => treeRss(c.pid))),
    exited: () => exitedCount > 0,
    stop: async () => {
      await Promise.all(children.map((c) => stopTree(c)));
    },
  };
  const logs = async () =>
    (await Promise.all(
      logFiles.map(async (f) => `${f}:\n${tail(await readLog(f), 6)}`),
    )).join("\n");
  let last = "";
  while (performance.now() - t0 < timeoutMs) {
    if (cluster.exited()) {
      await cluster.stop();
      await new Promise((r) => setTimeout(r, 100)); // let the log pumps flush
      throw new Error(`a ${spec.name} member exited before a leader was agreed\n${await logs()}`);
    }
    last = await endpointStatus(etcdctl, endpoints);
    const leader = agreedLeader(endpoints, parseEndpointStatus(last));
    if (leader) return { ...cluster, leader, readyMs: performance.now() - t0 };
    await new Promise((r) => setTimeout(r, 100));
  }
  await cluster.stop();
  throw new Error(
    `${spec.name}: no leader agreed by all ${size} members within ${timeoutMs} ms ` +
      `(last status: ${last.trim() || "none"})\n${await logs()}`,
  );
}
