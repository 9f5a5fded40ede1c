/**
 * The real {@link SrvResolver}: the machine's resolver configuration, as
 * etcd's Go resolver uses it.
 *
 * - SRV records come from `Deno.resolveDns`, which reads the name servers
 *   in /etc/resolv.conf (so `ip netns exec` with /etc/netns/<ns>/resolv.conf
 *   redirects it too).
 * - Host names go through `node:dns` lookup, i.e. the C library's
 *   getaddrinfo, which reads /etc/hosts before asking DNS, as Go's resolver
 *   does: `localhost` and names in /etc/hosts resolve without a name server.
 *
 * Errors are reworded the way Go prints them (`lookup <name> on
 * <server>:53: no such host`), because etcd embeds them in its messages.
 *
 * @module
 */
import dns from "node:dns";
import type { SrvAnswer, SrvResolver } from "./srv.ts";

/** How long one SRV lookup may take before it counts as failed. */
const LOOKUP_TIMEOUT_MS = 10_000;

/**
 * The first name server of /etc/resolv.conf as host:port, which Go names in
 * its lookup errors; Go's default (127.0.0.1:53) when none is listed.
 */
export function firstNameServer(resolvConf: string | undefined): string {
  for (const line of (resolvConf ?? "").split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) return m[1].includes(":") ? `[${m[1]}]:53` : `${m[1]}:53`;
  }
  return "127.0.0.1:53";
}

function readResolvConf(): string | undefined {
  try {
    return Deno.readTextFileSync("/etc/resolv.conf");
  } catch {
    return undefined;
  }
}

/** Go's wording for a failed lookup of `name`. */
function lookupError(name: string, reason: string): Error {
  return new Error(`lookup ${name} on ${firstNameServer(readResolvConf())}: ${reason}`);
}

/** The reason Go would give for a Deno.resolveDns failure. */
function dnsReason(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such host";
  if (err instanceof Deno.errors.TimedOut) return "i/o timeout";
  if (err instanceof DOMException && err.name === "TimeoutError") return "i/o timeout";
  return err instanceof Error ? err.message : String(err);
}

/** The reason Go would give for a getaddrinfo failure (node:dns error codes). */
function addrinfoReason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === "ENOTFOUND" || code === "ENODATA") return "no such host";
  if (code === "EAI_AGAIN" || code === "ETIMEOUT") return "server misbehaving";
  return err instanceof Error ? err.message : String(err);
}

/** A resolver that uses this machine's resolver configuration; see the module comment. */
export function systemResolver(): SrvResolver {
  return {
    async lookupSrv(name: string): Promise<SrvAnswer[]> {
      let answers: Deno.SrvRecord[];
      try {
        answers = await Deno.resolveDns(name, "SRV", {
          signal: AbortSignal.timeout(LOOKUP_TIMEOUT_MS),
        });
      } catch (err) {
        throw lookupError(name, dnsReason(err));
      }
      if (answers.length === 0) throw lookupError(name, "no such host");
      return answers.map((a) => ({
        priority: a.priority,
        weight: a.weight,
        port: a.port,
        target: a.target,
      }));
    },
    async lookupHost(host: string): Promise<string[]> {
      let found: dns.LookupAddress[];
      try {
        found = await dns.promises.lookup(host, { all: true });
      } catch (err) {
        throw lookupError(host, addrinfoReason(err));
      }
      if (found.length === 0) throw lookupError(host, "no such host");
      return found.map((a) => a.address);
    },
  };
}
