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

// --- etcd's --logger and --log-outputs ---

/** etcd's `--log-outputs` value meaning stderr (and alone only). */
export const DEFAULT_LOG_OUTPUT = "default";
/** etcd's `--log-outputs` value for the systemd journal. */
export const JOURNAL_LOG_OUTPUT = "systemd/journal";
/** The socket journald listens on (etcd dials it to see whether the journal exists). */
const JOURNAL_SOCKET = "/run/systemd/journal/socket";

/** A problem with --logger or --log-outputs; the message is etcd 3.5's. */
export class LogSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LogSetupError";
  }
}

/** Where log lines go, opened from etcd's --log-outputs. */
export interface LogOutputs {
  /** Writes one line to every output (synchronously). */
  writer: (line: string) => void;
  /** Things worth a warning once the logger exists. */
  warnings: string[];
  /** Closes the files opened. */
  close(): void;
}

/** Test seams for {@link openLogOutputs}. */
export interface OutputDeps {
  /** The journald socket path (tests point it elsewhere). */
  journalSocket?: string;
  stdout?: (bytes: Uint8Array) => number;
  stderr?: (bytes: Uint8Array) => number;
}

/**
 * Opens `--log-outputs` as etcd 3.5 does: "default" and "stderr" are
 * stderr, "stdout" is stdout, anything else a file opened for appending
 * (created 0666 less the umask), or a `file://` URL; duplicates are
 * written once, and "/dev/null" among them discards everything.
 * "systemd/journal" must stand alone and needs journald's socket; cairn
 * cannot send the journal's datagrams (Deno has no Unix datagram sockets
 * without unstable APIs), so it writes those lines to stderr, which is
 * what etcd itself falls back to when a journal write fails, and which
 * systemd collects for a service. Throws LogSetupError with etcd's
 * messages.
 */
export function openLogOutputs(outputs: readonly string[], deps: OutputDeps = {}): LogOutputs {
  const list = outputs.length === 0 ? [DEFAULT_LOG_OUTPUT] : [...outputs];
  if (list.length > 1 && list.includes(DEFAULT_LOG_OUTPUT)) {
    throw new LogSetupError(`multi logoutput for "${DEFAULT_LOG_OUTPUT}" is not supported yet`);
  }
  const stderr = deps.stderr ?? ((b: Uint8Array) => Deno.stderr.writeSync(b));
  const stdout = deps.stdout ?? ((b: Uint8Array) => Deno.stdout.writeSync(b));
  const warnings: string[] = [];
  if (list.includes(JOURNAL_LOG_OUTPUT)) {
    if (list.length > 1) {
      throw new LogSetupError(
        `running with systemd/journal but other '--log-outputs' values (${goStrings(list)}) ` +
          "are configured with 'default'; override 'default' value with something else",
      );
    }
    const socket = deps.journalSocket ?? JOURNAL_SOCKET;
    if (!isSocket(socket)) {
      throw new LogSetupError(
        `can't find journal (dial unixgram ${socket}: connect: no such file or directory)`,
      );
    }
    warnings.push(
      "cairn cannot write to the systemd journal socket; logging to stderr, which systemd collects",
    );
    return { writer: (line) => writeAll(stderr, encoder.encode(line)), warnings, close() {} };
  }
  // zap's MergeOutputPaths: each target once, and /dev/null discards all.
  const targets = [...new Set(list.map((o) => (o === DEFAULT_LOG_OUTPUT ? "stderr" : o)))];
  if (targets.includes("/dev/null")) {
    return { writer: () => {}, warnings, close() {} };
  }
  const sinks: Array<(b: Uint8Array) => number> = [];
  const files: Deno.FsFile[] = [];
  const errors: string[] = [];
  for (const target of targets.sort()) {
    const path = sinkPath(target);
    if (typeof path !== "string") {
      errors.push(`couldn't open sink ${goQuoted(target)}: ${path.error}`);
    } else if (path === "stderr") {
      sinks.push(stderr);
    } else if (path === "stdout") {
      sinks.push(stdout);
    } else {
      try {
        const file = Deno.openSync(path, { write: true, append: true, create: true, mode: 0o666 });
        files.push(file);
        sinks.push((b) => file.writeSync(b));
      } catch (err) {
        errors.push(`couldn't open sink ${goQuoted(target)}: open ${path}: ${errnoText(err)}`);
      }
    }
  }
  const close = () => {
    for (const f of files) {
      try {
        f.close();
      } catch { /* already closed */ }
    }
  };
  if (errors.length > 0) {
    close();
    throw new LogSetupError(errors.join("; "));
  }
  const writer = sinks.length === 1
    ? (line: string) => writeAll(sinks[0], encoder.encode(line))
    : (line: string) => {
      const bytes = encoder.encode(line);
      // One broken output must not keep the line from the others.
      for (const sink of sinks) {
        try {
          writeAll(sink, bytes);
        } catch { /* nowhere to report it */ }
      }
    };
  return { writer, warnings, close };
}

/** etcd's --logger, --log-outputs and --log-level. */
export interface LogSetup {
  /** "zap" (etcd 3.5's only logger) or etcd 3.4's "capnslog". */
  logger: string;
  outputs: readonly string[];
  level: LogLevel;
}

/**
 * The member's logger from etcd's logging flags. etcd 3.5 refuses
 * `--logger=capnslog` ("removed in v3.5") and unknown loggers; those, and
 * outputs that cannot be opened, throw LogSetupError, which etcd reports
 * as "failed to verify flags" and exits 1.
 */
export function setupLogger(
  setup: LogSetup,
  deps: OutputDeps = {},
): { logger: Logger; warnings: string[]; close(): void } {
  if (setup.logger === "capnslog") {
    throw new LogSetupError("--logger=capnslog is removed in v3.5");
  }
  if (setup.logger !== "zap") {
    throw new LogSetupError(`unknown logger option ${goQuoted(setup.logger)}`);
  }
  const out = openLogOutputs(setup.outputs, deps);
  return {
    logger: createLogger(setup.level, { writer: out.writer }),
    warnings: out.warnings,
    close: out.close,
  };
}

/** The file a zap sink names ("stderr"/"stdout" kept as they are), or why it names none. */
function sinkPath(target: string): string | { error: string } {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(target)?.[1];
  if (scheme === undefined) return target;
  if (scheme.toLowerCase() !== "file") return { error: `no sink found for scheme "${scheme}"` };
  let url: URL;
  try {
    url = new URL(target);
  } catch (err) {
    return { error: `can't parse ${goQuoted(target)} as a URL: ${String(err)}` };
  }
  if (url.username || url.password) {
    return { error: `user and password not allowed with file URLs: got ${target}` };
  }
  if (url.hash) return { error: `fragments not allowed with file URLs: got ${target}` };
  if (url.search) return { error: `query parameters not allowed with file URLs: got ${target}` };
  if (url.port) return { error: `ports not allowed with file URLs: got ${target}` };
  if (url.hostname !== "" && url.hostname !== "localhost") {
    return { error: `file URLs must leave host empty or use localhost: got ${target}` };
  }
  return decodeURIComponent(url.pathname);
}

/** The text Go's syscall errors print for the failures opening a log file can meet. */
function errnoText(err: unknown): string {
  if (err instanceof Deno.errors.NotFound) return "no such file or directory";
  if (err instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (err instanceof Deno.errors.IsADirectory) return "is a directory";
  if (err instanceof Deno.errors.NotADirectory) return "not a directory";
  return err instanceof Error ? err.message : String(err);
}

function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}

/** Writes all of `bytes` with a sink that may take only part of them. */
function writeAll(sink: (b: Uint8Array) => number, bytes: Uint8Array): void {
  while (bytes.length > 0) bytes = bytes.subarray(sink(bytes));
}

/** Go's %q of a plain string (JSON's quoting agrees for printable text). */
function goQuoted(s: string): string {
  return JSON.stringify(s);
}

/** Go's %q of a []string: `["a" "b"]`. */
function goStrings(list: readonly string[]): string {
  return `[${list.map(goQuoted).join(" ")}]`;
}
