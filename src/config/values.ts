/**
 * Scalar settings as Go's `flag` package reads them: booleans, unsigned and
 * signed integers (`strconv.ParseUint/ParseInt(s, 0, bits)`), durations
 * (`time.ParseDuration`) and comma-separated lists. Every reader takes a
 * {@link Raw} setting so that its error names where the value came from.
 *
 * @module
 */
import { ConfigError } from "./error.ts";

/** A raw setting and where it came from, for error messages. */
export interface Raw {
  value: string;
  /** "flag -name", "ETCD_NAME" or "config key name". */
  where: string;
}

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** True when `s` is one of the spellings Go's `strconv.ParseBool` accepts. */
export function isGoBool(s: string): boolean {
  return TRUE.has(s) || FALSE.has(s);
}

/**
 * The error Go's flag package prints for a bad value: "invalid value "x" for
 * flag -name: reason". A bad command-line flag exits 2 as in etcd (which
 * prints usage then); a bad variable or config key exits 1, and so does a
 * value that passes the flag parser but fails etcd's later checks
 * (`exitCode` 1).
 */
export function invalid(raw: Raw, reason: string, exitCode?: 1 | 2): ConfigError {
  const code = exitCode ?? (raw.where.startsWith("flag ") ? 2 : 1);
  return new ConfigError(`invalid value "${raw.value}" for ${raw.where}: ${reason}`, code);
}

const UNSIGNED = /^(\d+|0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+)$/;

/**
 * Go's `strconv.ParseUint(s, 0, bits)` for the forms people use; `max`
 * defaults to 2^53-1 (the largest integer a number holds exactly).
 */
export function toUint(raw: Raw, max = Number.MAX_SAFE_INTEGER): number {
  const s = raw.value.trim();
  if (!UNSIGNED.test(s)) throw invalid(raw, "parse error");
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n > max) throw invalid(raw, "value out of range");
  return n;
}

/** Go's `strconv.ParseInt(s, 0, 64)`: {@link toUint} with an optional sign. */
export function toInt(raw: Raw): number {
  const s = raw.value.trim();
  const sign = s.startsWith("-") ? -1 : 1;
  const body = s.replace(/^[-+]/, "");
  if (!UNSIGNED.test(body)) throw invalid(raw, "parse error");
  const n = Number(body);
  if (!Number.isSafeInteger(n)) throw invalid(raw, "value out of range");
  return sign * n;
}

/** Go's `strconv.ParseBool`. */
export function toBool(raw: Raw): boolean {
  if (TRUE.has(raw.value)) return true;
  if (FALSE.has(raw.value)) return false;
  throw invalid(raw, "parse error");
}

/** Go's `time.ParseDuration` in milliseconds (sub-millisecond parts rounded); may be negative. */
export function toDurationMs(raw: Raw): number {
  const s = raw.value.trim();
  if (s === "0" || s === "+0" || s === "-0") return 0;
  const sign = s.startsWith("-") ? -1 : 1;
  const ms = parseDurationMs(s.replace(/^[-+]/, ""));
  if (ms === undefined) throw invalid(raw, "parse error");
  return sign * ms;
}

const UNIT_MS: Record<string, number> = {
  h: 3600e3,
  m: 60e3,
  s: 1e3,
  ms: 1,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ns: 1e-6,
};

/** An unsigned Go-style duration ("1h30m", "90s", "1.5h") in milliseconds, or undefined. */
export function parseDurationMs(s: string): number | undefined {
  if (!/^((\d+\.?\d*|\.\d+)(h|ms|m|s|us|µs|μs|ns))+$/.test(s)) return undefined;
  let total = 0;
  for (const [, n, u] of s.matchAll(/(\d+\.?\d*|\.\d+)(h|ms|m|s|us|µs|μs|ns)/g)) {
    total += Number(n) * UNIT_MS[u];
  }
  return Math.round(total);
}

/** Go's `time.Duration.String()` for a whole number of milliseconds: "0s", "500ms", "1m30s", "2h0m0s". */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  if (rest < 1000) return `${sign}${rest}ms`;
  const h = Math.floor(rest / 3600e3);
  rest -= h * 3600e3;
  const m = Math.floor(rest / 60e3);
  rest -= m * 60e3;
  const s = String(rest / 1000);
  if (h > 0) return `${sign}${h}h${m}m${s}s`;
  if (m > 0) return `${sign}${m}m${s}s`;
  return `${sign}${s}s`;
}

/**
 * A comma-separated list as etcd's `StringsValue` splits it: every part kept,
 * in order; an empty value is an empty list.
 */
export function toList(raw: Raw): string[] {
  return raw.value === "" ? [] : raw.value.split(",");
}

/** {@link toList} without repeats (etcd's `UniqueStringsValue`), first occurrence kept. */
export function toUniqueList(raw: Raw): string[] {
  return [...new Set(toList(raw))];
}
