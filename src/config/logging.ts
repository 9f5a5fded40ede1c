/**
 * The logging settings with etcd's checks (embed/config_logging.go of 3.4
 * and 3.5): `--logger`, `--log-outputs` (and 3.4's `--log-output`),
 * `--enable-log-rotation` with `--log-rotation-config-json`.
 *
 * @module
 */
import { ConfigError } from "./error.ts";

/** The `--log-outputs` value that means "stderr" (and, under systemd, the journal). */
export const DEFAULT_LOG_OUTPUT = "default";
const STREAMS = new Set([DEFAULT_LOG_OUTPUT, "stderr", "stdout"]);

/** `--log-rotation-config-json`, lumberjack's settings. */
export interface LogRotation {
  /** Megabytes before a file is rotated (default 100). */
  maxSizeMb: number;
  /** Days to keep rotated files; 0 = no limit. */
  maxAgeDays: number;
  /** Rotated files to keep; 0 = no limit. */
  maxBackups: number;
  /** Name rotated files in local time instead of UTC. */
  localTime: boolean;
  /** gzip rotated files. */
  compress: boolean;
}

/** Go's `%q` of a string slice: `["a" "b"]`. */
function quoteList(items: readonly string[]): string {
  return `[${items.map((s) => JSON.stringify(s)).join(" ")}]`;
}

/**
 * Checks `--logger` and `--log-outputs` as etcd does for each logger.
 * @throws {ConfigError} with etcd's wording.
 */
export function checkLogOutputs(logger: string, outputs: readonly string[]): void {
  if (logger === "capnslog") {
    // etcd 3.4's capnslog writes one stream only.
    if (outputs.length !== 1) {
      throw new ConfigError(
        `--logger=capnslog supports only 1 value in '--log-outputs', got ${quoteList(outputs)}`,
      );
    }
    if (!STREAMS.has(outputs[0])) {
      throw new ConfigError(
        `--log-outputs: unknown log-output "${
          outputs[0]
        }" (only supports "default", "stderr", "stdout")`,
      );
    }
    return;
  }
  if (logger !== "zap") throw new ConfigError(`--logger: unknown logger option "${logger}"`);
  if (outputs.length > 1 && outputs.includes(DEFAULT_LOG_OUTPUT)) {
    throw new ConfigError(
      `--log-outputs: multi logoutput for "${DEFAULT_LOG_OUTPUT}" is not supported yet`,
    );
  }
}

const ROTATION_FIELDS: Record<string, [keyof LogRotation, "number" | "boolean"]> = {
  maxsize: ["maxSizeMb", "number"],
  maxage: ["maxAgeDays", "number"],
  maxbackups: ["maxBackups", "number"],
  localtime: ["localTime", "boolean"],
  compress: ["compress", "boolean"],
};

/**
 * etcd's setupLogRotation: rotation needs exactly one file among the
 * outputs, and the JSON must parse into lumberjack's fields (matched
 * case-insensitively, unknown keys ignored, as Go's encoding/json does).
 * @throws {ConfigError} with etcd's wording.
 */
export function parseLogRotation(outputs: readonly string[], json: string): LogRotation {
  const files = outputs.filter((o) => !STREAMS.has(o)).length;
  if ((outputs.length === 1 && files === 0) || files > 1) {
    throw new ConfigError(
      "--log-outputs requires a single file path when --log-rotate-config-json is defined",
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ConfigError(
      `--log-rotation-config-json: improperly formatted log rotation config: ${
        (e as Error).message
      }`,
    );
  }
  const out: LogRotation = {
    maxSizeMb: 100,
    maxAgeDays: 0,
    maxBackups: 0,
    localTime: false,
    compress: false,
  };
  if (doc === null) return out;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(
      `--log-rotation-config-json: invalid log rotation config: json: cannot unmarshal ${
        Array.isArray(doc) ? "array" : typeof doc
      } into Go value of type embed.logRotationConfig`,
    );
  }
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const field = ROTATION_FIELDS[key.toLowerCase()];
    if (!field || value === null) continue;
    const [name, type] = field;
    const ok = type === "boolean"
      ? typeof value === "boolean"
      : typeof value === "number" && Number.isInteger(value);
    if (!ok) {
      const goType = type === "boolean" ? "bool" : "int";
      const got = Array.isArray(value) ? "array" : typeof value;
      throw new ConfigError(
        `--log-rotation-config-json: invalid log rotation config: json: cannot unmarshal ${got} into Go struct field ` +
          `logRotationConfig.${key.toLowerCase()} of type ${goType}`,
      );
    }
    (out as unknown as Record<string, unknown>)[name] = value;
  }
  return out;
}
