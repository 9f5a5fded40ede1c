/**
 * A tiny structured logger that writes one JSON object per line, shaped like
 * the zap production logs etcd prints:
 *
 * ```json
 * {"level":"info","ts":"2026-01-02T03:04:05.678Z","caller":"server/node.ts","msg":"ready","member-id":"8e9e05c52164694d"}
 * ```
 *
 * Lines are written synchronously to stderr so that nothing buffered is lost
 * when the process crashes right after logging.
 *
 * @module
 */

/** etcd's `--log-level` values, from most to least verbose. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "panic", "fatal"] as const;

/** One of etcd's log levels. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Extra key/value pairs attached to a log line (zap "fields"). */
export type LogFields = Record<string, unknown>;

/** Logs one message at a fixed level. */
export type LogFn = (msg: string, fields?: LogFields) => void;

/** The logger handed around the server. */
export interface Logger {
  /** Verbose diagnostics; off unless `--log-level debug`. */
  debug: LogFn;
  /** Normal operational events. */
  info: LogFn;
  /** Something unexpected that the member survives. */
  warn: LogFn;
  /** A failed operation. */
  error: LogFn;
  /** True when a line at `level` would be written (to skip building costly fields). */
  enabled(level: LogLevel): boolean;
  /** A logger that adds `fields` to every line (a `caller` field is placed before `msg`). */
  with(fields: LogFields): Logger;
}

/** Knobs for {@link createLogger}; tests inject `writer` and `now`. */
export interface LoggerOptions {
  /** Receives each complete line, newline included. Default: synchronous write to stderr. */
  writer?: (line: string) => void;
  /** Clock for the `ts` field. Default: `new Date()`. */
  now?: () => Date;
  /** Fields added to every line. */
  fields?: LogFields;
}

/** True if `s` names a log level. */
export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

const encoder = new TextEncoder();
const bytesDecoder = new TextDecoder("utf-8", { fatal: false });

/** Writes all of `line` to stderr; `writeSync` may write only part of a buffer. */
function writeStderr(line: string): void {
  let buf = encoder.encode(line);
  while (buf.length > 0) {
    const n = Deno.stderr.writeSync(buf);
    buf = buf.subarray(n);
  }
}

/**
 * JSON replacer for field values. bigint is written as an unsigned 64-bit
 * lowercase hex string (no `0x`), because bigint in cairn holds member and
 * lease ids and etcd logs those in hex (`types.ID.String()`); revisions and
 * counts are plain numbers. Errors become their message (zap's `error`
 * field); byte arrays are decoded as UTF-8 as etcd logs keys as strings;
 * URLs print without the trailing slash, as etcd's do.
 */
function replacer(this: unknown, key: string, value: unknown): unknown {
  // URL.toJSON has already run by now; look at the original to drop the bare "/" path.
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof URL && raw.pathname === "/" && raw.search === "" && raw.hash === "") {
    return raw.origin;
  }
  if (typeof value === "bigint") return BigInt.asUintN(64, value).toString(16);
  if (value instanceof Error) return value.message;
  if (value instanceof Uint8Array) return bytesDecoder.decode(value);
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/** Serialises one line; never throws (a logger must not crash its caller). */
function formatLine(level: LogLevel, ts: Date, msg: string, bound: LogFields, fields?: LogFields) {
  const rec: Record<string, unknown> = { level, ts: ts.toISOString() };
  // zap puts caller before msg; keep that order so lines read the same as etcd's.
  const caller = fields?.caller ?? bound.caller;
  if (caller !== undefined) rec.caller = caller;
  rec.msg = msg;
  for (const src of [bound, fields]) {
    if (!src) continue;
    for (const k in src) {
      if (k !== "caller" && k !== "level" && k !== "ts" && k !== "msg") rec[k] = src[k];
    }
  }
  try {
    return JSON.stringify(rec, replacer) + "\n";
  } catch (e) {
    // Circular structures and the like: keep the message, report why fields were lost.
    return JSON.stringify({
      level,
      ts: rec.ts,
      msg,
      "log-error": `cannot serialise fields: ${e instanceof Error ? e.message : String(e)}`,
    }) + "\n";
  }
}

const noop: LogFn = () => {};

/**
 * Creates a logger that writes lines at `level` and above. Methods below the
 * threshold are a shared no-op function, so a skipped call costs one call.
 * `panic` and `fatal` thresholds silence all four methods; they exist so that
 * every etcd `--log-level` value is accepted.
 */
export function createLogger(level: LogLevel = "info", opts: LoggerOptions = {}): Logger {
  const writer = opts.writer ?? writeStderr;
  const now = opts.now ?? (() => new Date());
  const bound: LogFields = { ...opts.fields };
  const threshold = LOG_LEVELS.indexOf(level);
  const enabled = (l: LogLevel) => LOG_LEVELS.indexOf(l) >= threshold;
  const make = (l: LogLevel): LogFn =>
    enabled(l)
      ? (msg, fields) => {
        const line = formatLine(l, now(), msg, bound, fields);
        try {
          writer(line);
        } catch {
          // stderr closed or broken: there is nowhere left to report it.
        }
      }
      : noop;
  return {
    debug: make("debug"),
    info: make("info"),
    warn: make("warn"),
    error: make("error"),
    enabled,
    with: (fields) => createLogger(level, { writer, now, fields: { ...bound, ...fields } }),
  };
}
