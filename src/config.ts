/**
 * Turns command-line flags, `ETCD_*` environment variables or a YAML config
 * file into one typed {@link Config}, the way etcd 3.4/3.5 does. Every flag
 * of etcd 3.4 and 3.5 is accepted under its etcd name, as its `ETCD_*`
 * variable and as a config file key.
 *
 * - With `--config-file` (or `ETCD_CONFIG_FILE`) every other flag and
 *   variable is ignored and settings come from the YAML file.
 * - Otherwise flags and variables are merged; setting a flag and its
 *   variable together is an error, as in etcd.
 * - Error messages reuse etcd's wording so operators recognise them.
 * - Flags cairn accepts only for compatibility (bbolt tuning, the v2 API and
 *   proxy, tracing) each add one warning naming the flag and the reason.
 *
 * This module is the entry point; the pieces live in `src/config/`: the flag
 * table (flags.ts), where settings come from (sources.ts), value types
 * (values.ts, urls.ts, tls.ts, logging.ts), building and checking the
 * Config (build.ts), the bootstrap checks (bootstrap.ts) and `--help`
 * (help.ts).
 *
 * @module
 */
import { verifyBootstrap } from "./config/bootstrap.ts";
import { buildConfig } from "./config/build.ts";
import { ConfigError } from "./config/error.ts";
import { readArgs, readConfigFile, readEnv, type YamlParser } from "./config/sources.ts";
import { helpText } from "./config/help.ts";
import type { ParseOutcome } from "./config/types.ts";
import { toBool } from "./config/values.ts";

export type { LogLevel } from "./log.ts";
export type { Config, ParseOutcome } from "./config/types.ts";
export type { TlsFiles, TlsVersion } from "./config/tls.ts";
export type { LogRotation } from "./config/logging.ts";
export type { YamlParser } from "./config/sources.ts";
export { ConfigError } from "./config/error.ts";
export { verifyBootstrap } from "./config/bootstrap.ts";
export { helpText } from "./config/help.ts";
export { flagToEnv } from "./config/flags.ts";
export { formatUrl } from "./config/urls.ts";
export { wantsConfigFile } from "./config/sources.ts";
export {
  DEFAULT_QUOTA_BACKEND_BYTES,
  DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS,
} from "./config/build.ts";

function noYamlParser(): never {
  throw new ConfigError("internal error: a config file was given but no YAML parser was loaded");
}

/**
 * Parses a command line and environment into what to do. Pure apart from
 * `readFile` (default `Deno.readTextFileSync`), used only for the config file,
 * which `parseYaml` parses (see {@link wantsConfigFile}: the `yaml` package
 * costs about a tenth of a member's start-up, so callers load it only then).
 * Besides flag syntax and values it checks what etcd checks before
 * bootstrapping ({@link verifyBootstrap}); unlike etcd it does so even when
 * the data directory already holds a member, which etcd would not re-check.
 * With `--discovery-srv` the initial cluster comes from DNS, so those checks
 * are left to the caller, after resolving.
 * @throws {ConfigError} with etcd's wording for any invalid setting.
 */
export function parseConfig(
  args: string[],
  env: Record<string, string | undefined>,
  readFile: (p: string) => string = (p) => Deno.readTextFileSync(p),
  parseYaml: YamlParser = noYamlParser,
): ParseOutcome {
  const { set: flags, help } = readArgs(args);
  if (help) return { kind: "help", text: helpText() };
  if (flags.has("version") && toBool(flags.get("version")!)) return { kind: "version" };

  const warnings: string[] = [];
  let settings;
  const configFile = flags.get("config-file")?.value || env.ETCD_CONFIG_FILE || "";
  if (configFile !== "") {
    settings = readConfigFile(configFile, readFile, parseYaml, warnings);
    const ignored = [
      ...[...flags.keys()].filter((k) => k !== "config-file").map((k) => `-${k}`),
      ...Object.keys(env).filter((k) =>
        k.startsWith("ETCD_") && env[k] !== undefined && k !== "ETCD_CONFIG_FILE"
      ),
    ];
    if (ignored.length > 0) {
      warnings.push(
        `loaded server configuration from "${configFile}"; other command-line flags and ` +
          `environment variables are ignored: ${ignored.join(", ")}`,
      );
    }
  } else {
    settings = readEnv(flags, env, warnings);
    if (settings.has("version")) toBool(settings.get("version")!); // validated, like etcd
    // etcd drops the default advertise URLs once listeners are chosen, unless it may be a proxy.
    const proxy = settings.get("proxy")?.value ?? "off";
    if (
      settings.has("listen-client-urls") && !settings.has("advertise-client-urls") &&
      proxy === "off"
    ) {
      throw new ConfigError(
        "--advertise-client-urls is required when --listen-client-urls is set explicitly",
      );
    }
  }
  const config = buildConfig(settings, warnings);
  if (config.discoverySrv === "") verifyBootstrap(config);
  return { kind: "run", config, warnings };
}
