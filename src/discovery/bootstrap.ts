/**
 * Where `--discovery-srv` meets the member's start: before a new member
 * bootstraps, its `--initial-cluster` is replaced by the one read from DNS
 * SRV records (srv.ts), then checked as etcd checks a bootstrap
 * configuration. A member whose data directory already holds a WAL skips
 * all of this, as etcd does: its membership is on disk, and a restart must
 * not depend on DNS.
 *
 * @module
 */
import { join } from "node:path";
import { type Config, ConfigError, verifyBootstrap } from "../config.ts";
import type { Logger } from "../log.ts";
import {
  initialClusterFromSrv,
  SrvDiscoveryError,
  type SrvResolver,
  urlsEqualResolved,
} from "./srv.ts";

/** True when the member's WAL already exists (etcd's isMemberInitialized). */
export async function memberInitialized(
  config: Pick<Config, "dataDir" | "walDir">,
): Promise<boolean> {
  const walDir = config.walDir || join(config.dataDir, "member", "wal");
  try {
    for await (const ent of Deno.readDir(walDir)) {
      if (ent.isFile && ent.name.endsWith(".wal")) return true;
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  return false;
}

/**
 * `config` with its initial cluster read from SRV records when
 * `--discovery-srv` is set and the member is new; `config` itself otherwise.
 * The result passes etcd's bootstrap checks, except that this member's
 * advertise peer URLs and its SRV entries are compared after resolving host
 * names (etcd's URLStringsEqual), since the records name hosts where the
 * flags often give addresses.
 * @throws {SrvDiscoveryError} with etcd's message when discovery or the check fails.
 */
export async function resolveSrvBootstrap(
  config: Config,
  log: Logger,
  resolver?: SrvResolver,
): Promise<Config> {
  if (config.discoverySrv === "" || await memberInitialized(config)) return config;
  // Loaded only here: members without --discovery-srv need no resolver code (node:dns).
  resolver ??= (await import("./system_resolver.ts")).systemResolver();
  const cluster = await initialClusterFromSrv(resolver, {
    name: config.name,
    domain: config.discoverySrv,
    serviceName: config.discoverySrvName,
    advertisePeerUrls: config.initialAdvertisePeerUrls,
  }, log);
  const resolved: Config = { ...config, initialCluster: cluster };
  const mine = cluster.get(config.name) ?? [];
  const sameHosts = await urlsEqualResolved(resolver, config.initialAdvertisePeerUrls, mine);
  try {
    // verifyBootstrap compares URLs as written; once they matched resolved, let it check the rest.
    verifyBootstrap(sameHosts ? { ...resolved, initialAdvertisePeerUrls: mine } : resolved);
  } catch (err) {
    if (err instanceof ConfigError) throw new SrvDiscoveryError(err.message);
    throw err;
  }
  return resolved;
}

/**
 * main.ts's hook: {@link resolveSrvBootstrap}, with a failure logged as etcd
 * logs it ("discovery failed") and reported as undefined, after which the
 * process should exit 1.
 */
export async function configFromSrv(config: Config, log: Logger): Promise<Config | undefined> {
  try {
    return await resolveSrvBootstrap(config, log);
  } catch (err) {
    log.error("discovery failed", { error: err instanceof Error ? err.message : String(err) });
    return undefined;
  }
}
