/**
 * etcd's pre-bootstrap checks on the initial cluster
 * (ServerConfig.VerifyBootstrap / VerifyJoinExisting).
 *
 * @module
 */
import { ConfigError } from "./error.ts";
import type { Config } from "./types.ts";
import { clusterString, formatUrl } from "./urls.ts";

/**
 * Checks that the initial cluster names this member, lists no URL twice, and
 * for a new cluster gives this member exactly its advertised peer URLs.
 * Compared as written: cairn does not resolve host names here, so
 * `localhost` and `127.0.0.1` differ. With `--discovery-srv`, parseConfig
 * leaves this to the caller once the SRV records have been resolved.
 * @throws {ConfigError} when a check fails.
 */
export function verifyBootstrap(
  config: Pick<
    Config,
    "name" | "initialCluster" | "initialClusterState" | "initialAdvertisePeerUrls"
  >,
): void {
  const { name, initialCluster } = config;
  const seen = new Set<string>();
  for (const urls of initialCluster.values()) {
    for (const u of urls) {
      if (seen.has(formatUrl(u))) {
        throw new ConfigError(`initial cluster ${clusterString(initialCluster)} has duplicate url`);
      }
      seen.add(formatUrl(u));
    }
  }
  if (initialCluster.size === 0 && config.initialClusterState === "new") {
    throw new ConfigError("initial cluster unset and no discovery URL found");
  }
  const mine = initialCluster.get(name);
  if (!mine) {
    throw new ConfigError(
      `couldn't find local name "${name}" in the initial cluster configuration`,
    );
  }
  if (config.initialClusterState !== "new") return;
  const ap = config.initialAdvertisePeerUrls.map(formatUrl).sort();
  const init = mine.map(formatUrl);
  const missingFromAp = init.filter((u) => !ap.includes(u));
  if (missingFromAp.length > 0) {
    throw new ConfigError(
      `--initial-cluster has ${missingFromAp.map((u) => `${name}=${u}`).join(",")} ` +
        `but missing from --initial-advertise-peer-urls=${ap.join(",")}`,
    );
  }
  const missingFromInit = ap.filter((u) => !init.includes(u));
  if (missingFromInit.length > 0) {
    throw new ConfigError(
      `--initial-advertise-peer-urls has ${missingFromInit.join(",")} but missing from ` +
        `--initial-cluster=${ap.map((u) => `${name}=${u}`).join(",")}`,
    );
  }
}
