/**
 * Where settings come from, each turned into raw `flag name -> text`
 * settings that remember their origin:
 *
 * - the command line, read with Go `flag` semantics: `-name x`, `--name x`,
 *   `--name=x`; boolean flags take no separate value (`--auto-tls`,
 *   `--auto-tls=false`); parsing stops at `--` or the first non-flag
 *   argument, which is then an error;
 * - `ETCD_*` environment variables, one per flag (`--initial-cluster-token`
 *   is `ETCD_INITIAL_CLUSTER_TOKEN`); setting a flag and its variable
 *   together is an error, unknown `ETCD_*` variables only warn;
 * - an etcd YAML config file, whose keys are the flag names, except that TLS
 *   settings sit in `client-transport-security` / `peer-transport-security`
 *   sections and socket options in `socket-options`, as in etcd's
 *   embed.Config. Flat TLS keys (`cert-file: ...`) are accepted too.
 *
 * @module
 */
import { ConfigError } from "./error.ts";
import { allFlagNames, flagToEnv, lookupFlag } from "./flags.ts";
import { isGoBool, type Raw } from "./values.ts";

/** Raw settings by flag name, in the order they were given. */
export type Settings = Map<string, Raw>;

/** Parses YAML text (the `yaml` package's `parse`). */
export type YamlParser = (text: string) => unknown;

/** Reads `--flag value` style arguments with Go `flag` semantics. */
export function readArgs(args: string[]): { set: Settings; help: boolean } {
  const set: Settings = new Map();
  let i = 0;
  for (; i < args.length; i++) {
    const s = args[i];
    if (s.length < 2 || s[0] !== "-") break;
    if (s === "--") {
      i++;
      break;
    }
    const body = s.slice(s[1] === "-" ? 2 : 1);
    if (body === "" || body[0] === "-" || body[0] === "=") {
      throw new ConfigError(`bad flag syntax: ${s}`, 2);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = lookupFlag(name);
    if (!spec) {
      if (name === "h" || name === "help") return { set, help: true };
      throw new ConfigError(`flag provided but not defined: -${name}`, 2);
    }
    const boolLike = spec.kind === "bool" || spec.kind === "legacy";
    let value: string;
    if (eq >= 0) {
      value = body.slice(eq + 1);
    } else if (boolLike) {
      value = "true";
    } else if (i + 1 < args.length) {
      value = args[++i];
    } else {
      throw new ConfigError(`flag needs an argument: -${name}`, 2);
    }
    if (spec.kind === "bool" && !isGoBool(value)) {
      throw new ConfigError(`invalid boolean value "${value}" for -${name}: parse error`, 2);
    }
    set.set(name, { value, where: `flag -${name}` });
  }
  if (i < args.length) throw new ConfigError(`'${args[i]}' is not a valid flag`);
  return { set, help: false };
}

/**
 * Adds the `ETCD_*` variable of every flag to `settings` (a copy of the
 * command-line flags); empty variables count as unset. Unknown `ETCD_*`
 * variables become warnings.
 * @throws {ConfigError} when a flag and its variable are both set, as etcd refuses.
 */
export function readEnv(
  flags: Settings,
  env: Record<string, string | undefined>,
  warnings: string[],
): Settings {
  const settings: Settings = new Map(flags);
  const known = new Set<string>();
  for (const name of allFlagNames()) {
    const key = flagToEnv(name);
    known.add(key);
    const value = env[key];
    if (value === undefined) continue;
    if (flags.has(name)) {
      throw new ConfigError(
        `conflicting environment variable "${key}" is shadowed by corresponding ` +
          `command-line flag (either unset environment variable or disable flag)`,
      );
    }
    if (value !== "") settings.set(name, { value, where: key });
  }
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith("ETCD_") && v !== undefined && !known.has(k)) {
      warnings.push(`unrecognized environment variable ${k}=${v}`);
    }
  }
  return settings;
}

/** True when `args` or `env` name a config file. */
export function wantsConfigFile(args: string[], env: Record<string, string | undefined>): boolean {
  return !!env.ETCD_CONFIG_FILE || args.some((a) => /^--?config-file(=|$)/.test(a));
}

/** Keys of etcd's `client-transport-security` section -> flag names. */
const CLIENT_SECURITY: Record<string, string> = {
  "cert-file": "cert-file",
  "key-file": "key-file",
  "client-cert-file": "client-cert-file",
  "client-key-file": "client-key-file",
  "client-cert-auth": "client-cert-auth",
  "trusted-ca-file": "trusted-ca-file",
  "auto-tls": "auto-tls",
  "allowed-hostname": "client-cert-allowed-hostname",
  "crl-file": "client-crl-file",
};

/** Keys of etcd's `peer-transport-security` section -> flag names. */
const PEER_SECURITY: Record<string, string> = {
  "cert-file": "peer-cert-file",
  "key-file": "peer-key-file",
  "client-cert-file": "peer-client-cert-file",
  "client-key-file": "peer-client-key-file",
  "client-cert-auth": "peer-client-cert-auth",
  "trusted-ca-file": "peer-trusted-ca-file",
  "auto-tls": "peer-auto-tls",
  "allowed-cn": "peer-cert-allowed-cn",
  "allowed-hostname": "peer-cert-allowed-hostname",
  "crl-file": "peer-crl-file",
};

/** Keys of etcd's `socket-options` section -> flag names. */
const SOCKET_OPTIONS: Record<string, string> = {
  "reuse-port": "socket-reuse-port",
  "reuse-address": "socket-reuse-address",
};

/** Sections of the YAML file that hold further keys. */
const SECTIONS: Record<string, Record<string, string>> = {
  "client-transport-security": CLIENT_SECURITY,
  "peer-transport-security": PEER_SECURITY,
  "socket-options": SOCKET_OPTIONS,
};

/**
 * Turns a YAML scalar into the text a flag would carry. etcd decodes a
 * duration given as a number as nanoseconds (Go's time.Duration in JSON).
 */
function yamlToString(key: string, v: unknown, duration: boolean): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "number" && duration) return `${v}ns`;
  if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
  // etcd's lists (log-outputs, cipher-suites, allowed-cn) are YAML sequences; others are strings.
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v.join(",");
  throw new ConfigError(`invalid value for config key ${key}: expected a string or number`);
}

/** Settings from the YAML config file; unknown keys only warn, as etcd ignores them. */
export function readConfigFile(
  path: string,
  readFile: (p: string) => string,
  parseYaml: YamlParser,
  warnings: string[],
): Settings {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new ConfigError(`cannot read config file "${path}": ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`cannot parse config file "${path}": ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`config file "${path}" must be a YAML mapping of etcd flag names`);
  }
  const set: Settings = new Map();
  const put = (name: string, key: string, v: unknown) => {
    const kind = lookupFlag(name)?.kind;
    const value = yamlToString(key, v, kind === "duration");
    if (value === undefined) return;
    // etcd reads these keys as strings and keeps its default when one is empty.
    const emptyIsUnset = kind === "urls" || kind === "bindurls" || name === "cors" ||
      name === "host-whitelist";
    if (value === "" && emptyIsUnset) return;
    set.set(name, { value, where: `config key ${key}` });
  };
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    const section = Object.hasOwn(SECTIONS, key) ? SECTIONS[key] : undefined;
    if (section) {
      if (v === null || v === undefined) continue;
      if (typeof v !== "object" || Array.isArray(v)) {
        throw new ConfigError(`invalid value for config key ${key}: expected a mapping`);
      }
      for (const [sub, sv] of Object.entries(v as Record<string, unknown>)) {
        const name = Object.hasOwn(section, sub) ? section[sub] : undefined;
        if (name) put(name, `${key}.${sub}`, sv);
        else warnings.push(`unrecognized config file key "${key}.${sub}" ignored`);
      }
      continue;
    }
    if (!lookupFlag(key) || key === "config-file" || key === "version") {
      warnings.push(`unrecognized config file key "${key}" ignored`);
      continue;
    }
    put(key, key, v);
  }
  return set;
}
