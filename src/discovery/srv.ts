/**
 * DNS SRV bootstrap (`--discovery-srv`, `--discovery-srv-name`): the initial
 * cluster is read from SRV records instead of `--initial-cluster`, with
 * etcd 3.5's rules (client/pkg/srv GetCluster, embed.Config
 * GetDNSClusterNames and PeerURLsMapAndToken):
 *
 * - `_etcd-server-ssl._tcp.<domain>` gives https peers and
 *   `_etcd-server._tcp.<domain>` http peers; `--discovery-srv-name x` looks
 *   up `_etcd-server-ssl-x._tcp` and `_etcd-server-x._tcp` instead. The
 *   answers of both are combined; discovery fails only when neither gives a
 *   usable peer.
 * - An SRV target whose resolved address equals that of one of the member's
 *   own `--initial-advertise-peer-urls` is the member itself and takes its
 *   `--name`; every other target is named "0", "1", ... in answer order (each
 *   service counts from 0, so a host listed under both services keeps both
 *   URLs under one name, as etcd's URL map merges them). The real names
 *   arrive later, when each member publishes itself through the log.
 * - Peer URLs use the SRV target as written (trailing dot dropped), so every
 *   member derives the same member ids from the same records.
 *
 * Everything here is pure over an injected {@link SrvResolver}, so it is
 * tested with fake answers; `system_resolver.ts` is the real one.
 *
 * @module
 */
import { formatUrl } from "../config.ts";
import type { Logger } from "../log.ts";

/** One SRV answer (RFC 2782), as `Deno.resolveDns(name, "SRV")` gives it. */
export interface SrvAnswer {
  priority: number;
  weight: number;
  port: number;
  /** Target host name, usually with a trailing dot. */
  target: string;
}

/**
 * The two lookups SRV discovery needs. Failures throw an Error whose message
 * reads like Go's resolver errors (`lookup <name> on <server>: no such host`),
 * because etcd shows them to the operator inside its own messages.
 */
export interface SrvResolver {
  /** The SRV records of `name` (`_service._tcp.domain`), never an empty list. */
  lookupSrv(name: string): Promise<SrvAnswer[]>;
  /** The IPv4 and IPv6 addresses of host name `host`, as the system resolver orders them. */
  lookupHost(host: string): Promise<string[]>;
}

/** What SRV discovery needs to know about the member. */
export interface SrvDiscoveryOptions {
  /** `--name`. */
  name: string;
  /** `--discovery-srv`: the DNS domain. */
  domain: string;
  /** `--discovery-srv-name`: service name suffix, "" for none. */
  serviceName: string;
  /** `--initial-advertise-peer-urls`. */
  advertisePeerUrls: readonly URL[];
  /** Source of randomness in [0, 1) for Go's weighted SRV order; default Math.random. */
  random?: () => number;
}

/** SRV discovery found no usable peer, or not this member; `message` is etcd's. */
export class SrvDiscoveryError extends Error {
  /** Creates an error with the user-facing `message`. */
  constructor(message: string) {
    super(message);
    this.name = "SrvDiscoveryError";
  }
}

/**
 * The SRV service for a scheme (etcd's GetSRVService): `etcd-server` or
 * `etcd-server-ssl`, with `-<serviceName>` appended when one is given.
 */
export function srvService(scheme: "http" | "https", serviceName: string): string {
  const base = scheme === "https" ? "etcd-server-ssl" : "etcd-server";
  return serviceName === "" ? base : `${base}-${serviceName}`;
}

/**
 * Orders SRV answers as Go's net.LookupSRV does (RFC 2782): by priority, and
 * within one priority in a random order weighted by `weight`. The order
 * decides which peer gets which temporary name.
 */
export function orderSrv(answers: readonly SrvAnswer[], random: () => number): SrvAnswer[] {
  const sorted = [...answers].sort((a, b) => a.priority - b.priority || a.weight - b.weight);
  const out: SrvAnswer[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j < sorted.length && sorted[j].priority === sorted[i].priority) j++;
    out.push(...shuffleByWeight(sorted.slice(i, j), random));
    i = j;
  }
  return out;
}

/** Go's byPriorityWeight.shuffleByWeight: repeatedly draws one answer with probability weight/sum. */
function shuffleByWeight(group: SrvAnswer[], random: () => number): SrvAnswer[] {
  const rest = [...group];
  const out: SrvAnswer[] = [];
  let sum = rest.reduce((s, a) => s + a.weight, 0);
  while (sum > 0 && rest.length > 1) {
    const n = Math.floor(random() * sum);
    let s = 0;
    let pick = 0;
    for (let i = 0; i < rest.length; i++) {
      s += rest[i].weight;
      if (s > n) {
        pick = i;
        break;
      }
    }
    const [chosen] = rest.splice(pick, 1);
    // Go swaps the chosen answer to the front, moving the old front to its slot.
    if (pick > 0) rest.splice(pick - 1, 0, rest.shift()!);
    out.push(chosen);
    sum -= chosen.weight;
  }
  return [...out, ...rest];
}

/** The port of a URL, spelled out even when it is the scheme's default. */
function portOf(u: URL): string {
  return u.port || (u.protocol === "https:" ? "443" : "80");
}

/** Joins host and port the way Go's net.JoinHostPort does (brackets around IPv6). */
function joinHostPort(host: string, port: string): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The address a host:port dials, written like Go's TCPAddr.String(): an IP
 * literal as is, a host name resolved to its first IPv4 address (or its first
 * address when it has no IPv4 one), as net.ResolveTCPAddr("tcp", ...) picks.
 */
async function resolveTcpAddr(
  resolver: SrvResolver,
  host: string,
  port: string,
): Promise<string> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  if (isIpLiteral(bare)) return joinHostPort(bare.toLowerCase(), port);
  const addrs = await resolver.lookupHost(bare);
  const ip = addrs.find((a) => !a.includes(":")) ?? addrs[0];
  if (ip === undefined) throw new Error(`lookup ${bare}: no such host`);
  return joinHostPort(ip, port);
}

function isIpLiteral(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/**
 * etcd's srv.GetCluster for one service: looks up `_<service>._tcp.<domain>`
 * and returns `name=scheme://target:port` entries, naming this member by its
 * resolved advertise peer URLs. Throws when the member's own advertise URLs
 * do not resolve, or (wrapped in "error querying DNS SRV records for
 * _<service> ...") when the lookup fails or yields no usable peer.
 */
export async function getCluster(
  resolver: SrvResolver,
  scheme: "http" | "https",
  service: string,
  opts: SrvDiscoveryOptions,
): Promise<string[]> {
  // Which resolved address is which of my advertise URLs (a later URL wins, as in etcd's map).
  const mine = new Map<string, URL>();
  for (const u of opts.advertisePeerUrls) {
    mine.set(await resolveTcpAddr(resolver, u.hostname, portOf(u)), u);
  }
  const parts: string[] = [];
  let tempName = 0;
  let lastError: unknown;
  try {
    const answers = orderSrv(
      await resolver.lookupSrv(`_${service}._tcp.${opts.domain}`),
      opts.random ?? Math.random,
    );
    for (const srv of answers) {
      const port = String(srv.port);
      let addr: string;
      try {
        addr = await resolveTcpAddr(resolver, srv.target, port);
      } catch (err) {
        lastError = err;
        continue;
      }
      const own = mine.get(addr);
      const name = own ? opts.name : String(tempName++);
      const url = `${scheme}://${joinHostPort(srv.target.replace(/\.$/, ""), port)}`;
      if (own && own.protocol !== `${scheme}:`) {
        lastError = new Error(
          `bootstrap at ${url} from DNS for ${service} has scheme mismatch with expected peer ${
            formatUrl(own)
          }`,
        );
      } else {
        parts.push(`${name}=${url}`);
      }
    }
  } catch (err) {
    lastError = err;
  }
  // Go returns no error for an answer without records; the caller then finds no member.
  if (parts.length === 0 && lastError !== undefined) {
    throw new Error(`error querying DNS SRV records for _${service} ${messageOf(lastError)}`);
  }
  return parts;
}

/** The result of querying both SRV services. */
export interface DnsClusterNames {
  /** `name=url` entries from `etcd-server-ssl` then `etcd-server`. */
  entries: string[];
  /** Why a service gave nothing (etcd joins them with "; "), or undefined when both answered. */
  error: Error | undefined;
}

/**
 * etcd's GetDNSClusterNames: both services, their entries combined. A
 * service that fails contributes nothing; its error is reported, and only
 * matters when no entry was found at all.
 */
export async function dnsClusterNames(
  resolver: SrvResolver,
  opts: SrvDiscoveryOptions,
  log?: Logger,
): Promise<DnsClusterNames> {
  const entries: string[] = [];
  const errors: string[] = [];
  for (const scheme of ["https", "http"] as const) {
    const service = srvService(scheme, opts.serviceName);
    let found: string[] = [];
    let error: string | undefined;
    try {
      found = await getCluster(resolver, scheme, service, opts);
    } catch (err) {
      error = messageOf(err);
      errors.push(error);
    }
    entries.push(...found);
    // etcd names the base service here even when --discovery-srv-name adds a suffix.
    log?.info(`get cluster for ${srvService(scheme, "")} SRV`, {
      "service-scheme": scheme,
      "service-name": service,
      "server-name": opts.name,
      "discovery-srv": opts.domain,
      "advertise-peer-urls": opts.advertisePeerUrls.map(formatUrl),
      "found-cluster": [...entries],
      ...(error === undefined ? {} : { error }),
    });
  }
  return { entries, error: errors.length > 0 ? new Error(errors.join("; ")) : undefined };
}

/**
 * The initial cluster from SRV records (etcd's PeerURLsMapAndToken for a
 * member): member name -> peer URLs, this member included under `opts.name`.
 * @throws {SrvDiscoveryError} "error setting up initial cluster: ..." with
 * etcd's reason when no peer was found or this member is not among them.
 */
export async function initialClusterFromSrv(
  resolver: SrvResolver,
  opts: SrvDiscoveryOptions,
  log?: Logger,
): Promise<Map<string, URL[]>> {
  const { entries, error } = await dnsClusterNames(resolver, opts, log);
  if (error) log?.warn("failed to resolve during SRV discovery", { error: error.message });
  if (entries.length === 0 && error) {
    throw new SrvDiscoveryError(`error setting up initial cluster: ${error.message}`);
  }
  const cluster = new Map<string, URL[]>();
  for (const entry of entries) {
    log?.info("got bootstrap from DNS for etcd-server", { node: entry });
    const eq = entry.indexOf("=");
    const name = entry.slice(0, eq);
    cluster.set(name, [...(cluster.get(name) ?? []), new URL(entry.slice(eq + 1))]);
  }
  if (!cluster.has(opts.name)) {
    throw new SrvDiscoveryError(
      `error setting up initial cluster: cannot find local etcd member ${
        JSON.stringify(opts.name)
      } in SRV records`,
    );
  }
  return cluster;
}

/**
 * etcd's netutil.URLStringsEqual as used by its bootstrap check: two URL
 * lists are equal when they match as written or, failing that, once every
 * host name other than "localhost" is resolved to its address. This is what
 * lets `--initial-advertise-peer-urls=http://10.0.0.1:2380` match the SRV
 * target `m0.example.com` that resolves to 10.0.0.1.
 */
export async function urlsEqualResolved(
  resolver: SrvResolver,
  a: readonly URL[],
  b: readonly URL[],
): Promise<boolean> {
  if (a.length !== b.length) return false;
  const written = (urls: readonly URL[]) => urls.map(formatUrl).sort();
  if (written(a).join(",") === written(b).join(",")) return true;
  const resolved = async (urls: readonly URL[]) => {
    const out: string[] = [];
    for (const u of urls) {
      const host = u.hostname === "localhost"
        ? joinHostPort("localhost", portOf(u))
        : await resolveTcpAddr(resolver, u.hostname, portOf(u));
      out.push(`${u.protocol}//${host}`);
    }
    return out.sort().join(",");
  };
  try {
    return (await resolved(a)) === (await resolved(b));
  } catch {
    return false;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
