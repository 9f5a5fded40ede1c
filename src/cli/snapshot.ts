/**
 * `cairn snapshot status|restore`: etcdutl's (and etcdctl 3.4's) snapshot
 * commands over files in etcd's snapshot format, with their flags, output
 * formats, messages and exit codes: `Error: ...` on stderr and 1 for a
 * failure, 128 for wrong arguments, 4 for an unsupported output format.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseInitialCluster, parseUrl } from "../config/urls.ts";
import { BoltFormatError, BoltReader } from "../bbolt/reader.ts";
import { databaseOf, type SnapshotStatus, snapshotStatus } from "../snapshot/file.ts";
import { restoreSnapshot } from "../snapshot/restore.ts";
import { createLogger } from "../log.ts";

/** etcdctl's exit codes. */
const EXIT_ERROR = 1;
const EXIT_BAD_FEATURE = 4;
const EXIT_BAD_ARGS = 128;

/** Where the command writes: stdout for results, stderr for errors and progress. */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Whether stderr is a terminal (progress is shown only then). */
  errIsTerminal: boolean;
}

const defaultIo: CliIo = {
  out: (t) => Deno.stdout.writeSync(new TextEncoder().encode(t)),
  err: (t) => Deno.stderr.writeSync(new TextEncoder().encode(t)),
  errIsTerminal: Deno.stderr.isTerminal(),
};

const USAGE = `NAME:
	snapshot - Manages etcd node snapshots

USAGE:
	cairn snapshot <subcommand> [flags]

COMMANDS:
	restore	Restores an etcd member snapshot to an etcd directory
	status	Gets backend snapshot status of a given file

Snapshots are saved from a running member with \`etcdctl snapshot save\`;
cairn's and etcd's files are the same format, either way.
`;

const STATUS_USAGE = `NAME:
	snapshot status - Gets backend snapshot status of a given file

USAGE:
	cairn snapshot status <filename> [flags]

OPTIONS:
  -w, --write-out="simple"	set the output format (fields, json, simple, table)
`;

const RESTORE_USAGE = `NAME:
	snapshot restore - Restores an etcd member snapshot to an etcd directory

USAGE:
	cairn snapshot restore <filename> [options]

OPTIONS:
      --data-dir=""					Path to the data directory
      --initial-advertise-peer-urls="http://localhost:2380"	List of this member's peer URLs to advertise to the rest of the cluster
      --initial-cluster="default=http://localhost:2380"	Initial cluster configuration for restore bootstrap
      --initial-cluster-token="etcd-cluster"		Initial cluster token for the etcd cluster during restore bootstrap
      --name="default"					Human-readable name for this member
      --skip-hash-check[=false]				Ignore snapshot integrity hash value (required if copied from data directory)
      --wal-dir=""					Path to the WAL directory (use --data-dir if none given)
`;

/** Runs `cairn snapshot <args>`; returns the exit code. */
export async function snapshotCommand(args: string[], io: CliIo = defaultIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case "status":
      return statusCommand(rest, io);
    case "restore":
      return await restoreCommand(rest, io);
    case undefined:
    case "-h":
    case "--help":
      io.out(USAGE);
      return 0;
    default:
      io.err(`Error: unknown command ${JSON.stringify(sub)} for "cairn snapshot"\n\n${USAGE}`);
      return EXIT_BAD_ARGS;
  }
}

/** A flag definition as node:util parseArgs takes it. */
type FlagSpec = { type: "string" | "boolean"; short?: string; default?: string | boolean };

/** Parsed flags and positional arguments. */
interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses flags; prints etcdctl's unknown-flag error and usage on failure (or usage for -h). */
function parse(
  args: string[],
  options: Record<string, FlagSpec>,
  usage: string,
  io: CliIo,
): Parsed | number {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      allowPositionals: true,
      strict: true,
    });
    const flags = values as Record<string, string | boolean | undefined>;
    if (flags.help) {
      io.out(usage);
      return 0;
    }
    return { values: flags, positionals };
  } catch (err) {
    const m = /'(-[^']*)'/.exec((err as Error).message);
    const what = m ? `unknown flag: ${m[1]}` : (err as Error).message;
    io.err(`Error: ${what}\n\n${usage}`);
    return EXIT_ERROR;
  }
}

// ---- status ----

function statusCommand(args: string[], io: CliIo): number {
  const parsed = parse(
    args,
    {
      "write-out": { type: "string", short: "w", default: "simple" },
      help: { type: "boolean", short: "h" },
    },
    STATUS_USAGE,
    io,
  );
  if (typeof parsed === "number") return parsed;
  if (parsed.positionals.length !== 1) {
    io.err("Error: snapshot status requires exactly one argument\n");
    return EXIT_BAD_ARGS;
  }
  const format = String(parsed.values["write-out"]);
  if (!["simple", "table", "json", "fields"].includes(format)) {
    io.err(
      format === "protobuf"
        ? "Error: protobuf not supported as output format\n"
        : "Error: unsupported output format\n",
    );
    return EXIT_BAD_FEATURE;
  }
  const path = parsed.positionals[0];
  let status: SnapshotStatus;
  try {
    const file = Deno.readFileSync(path);
    status = snapshotStatus(new BoltReader(databaseOf(file)));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      io.err(`Error: stat ${path}: no such file or directory\n`);
    } else if (err instanceof BoltFormatError) {
      io.err(`Error: ${err.boltMessage}\n`);
    } else {
      io.err(`Error: ${(err as Error).message}\n`);
    }
    return EXIT_ERROR;
  }
  io.out(formatStatus(status, format));
  return 0;
}

/** Go's humanize.Bytes: SI units, one decimal below 10. */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  // Tenths, rounded half up as humanize does; then Go's %.0f rounds an
  // exact half to even (20.5 prints "20"), unlike toFixed.
  const tenths = Math.floor((n / 1000 ** e) * 10 + 0.5);
  if (tenths < 100) return `${(tenths / 10).toFixed(1)} ${units[e]}`;
  const whole = Math.floor(tenths / 10);
  const frac = tenths % 10;
  const rounded = frac > 5 || (frac === 5 && whole % 2 === 1) ? whole + 1 : whole;
  return `${rounded} ${units[e]}`;
}

/** A table as etcdctl's tablewriter draws it: centred headers, right-aligned cells. */
function table(header: string[], row: string[]): string {
  const widths = header.map((h, i) => Math.max(h.length, row[i].length));
  const line = "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+\n";
  const centre = (s: string, w: number) => {
    const gap = w - s.length;
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + s + " ".repeat(gap - left);
  };
  const head = "|" + header.map((h, i) => ` ${centre(h, widths[i])} `).join("|") + "|\n";
  const body = "|" + row.map((c, i) => ` ${c.padStart(widths[i])} `).join("|") + "|\n";
  return line + head + line + body + line;
}

/** Formats a status the way etcdctl prints it for `-w format`. */
export function formatStatus(s: SnapshotStatus, format: string): string {
  const hash = s.hash.toString(16);
  switch (format) {
    case "json":
      return JSON.stringify({
        hash: s.hash,
        revision: s.revision,
        totalKey: s.totalKey,
        totalSize: s.totalSize,
      }) + "\n";
    case "table":
      return table(
        ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"],
        [hash, String(s.revision), String(s.totalKey), humanizeBytes(s.totalSize)],
      );
    case "fields":
      return `"Hash" : ${s.hash}\n"Revision" : ${s.revision}\n"Keys" : ${s.totalKey}\n` +
        `"Size" : ${s.totalSize}\n`;
    default:
      return `${hash}, ${s.revision}, ${s.totalKey}, ${humanizeBytes(s.totalSize)}\n`;
  }
}

// ---- restore ----

async function restoreCommand(args: string[], io: CliIo): Promise<number> {
  const parsed = parse(
    args,
    {
      "data-dir": { type: "string", default: "" },
      "wal-dir": { type: "string", default: "" },
      name: { type: "string", default: "default" },
      "initial-cluster": { type: "string", default: "default=http://localhost:2380" },
      "initial-cluster-token": { type: "string", default: "etcd-cluster" },
      "initial-advertise-peer-urls": { type: "string", default: "http://localhost:2380" },
      "skip-hash-check": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
    RESTORE_USAGE,
    io,
  );
  if (typeof parsed === "number") return parsed;
  if (parsed.positionals.length !== 1) {
    io.err("Error: snapshot restore requires exactly one argument\n");
    return EXIT_BAD_ARGS;
  }
  const v = parsed.values;
  const file = parsed.positionals[0];
  const log = createLogger("info", { writer: io.err });
  let initialCluster: Map<string, URL[]>;
  let advertisePeerUrls: URL[];
  try {
    initialCluster = parseInitialCluster(String(v["initial-cluster"]));
    advertisePeerUrls = String(v["initial-advertise-peer-urls"]).split(",").map((u) =>
      parseUrl(u, false)
    );
  } catch (err) {
    io.err(`Error: ${(err as Error).message}\n`);
    return EXIT_ERROR;
  }
  const name = String(v.name);
  const dataDir = String(v["data-dir"]) || `${name}.etcd`;
  const walDir = String(v["wal-dir"]);
  // A terminal sees one line rewritten in place; pipes and files see nothing.
  let shown = false;
  const progress = io.errIsTerminal
    ? (step: string) => {
      io.err(`\r\x1b[2Krestoring snapshot: ${step}`);
      shown = true;
    }
    : undefined;
  const endProgress = () => {
    if (shown) io.err("\r\x1b[2K");
  };
  try {
    log.info("restoring snapshot", {
      path: file,
      "wal-dir": walDir || `${dataDir}/member/wal`,
      "data-dir": dataDir,
      "snap-dir": `${dataDir}/member/snap`,
    });
    const r = await restoreSnapshot({
      file,
      dataDir,
      walDir: walDir || undefined,
      name,
      initialCluster,
      token: String(v["initial-cluster-token"]),
      advertisePeerUrls,
      skipHashCheck: v["skip-hash-check"] === true,
      progress,
    });
    endProgress();
    log.info("restored snapshot", {
      path: file,
      "wal-dir": r.walDir,
      "data-dir": r.dataDir,
      "snap-dir": r.snapDir,
      "member-id": r.memberId.toString(16),
      "cluster-id": r.clusterId.toString(16),
      revision: r.revision,
      revisions: r.revisions,
    });
    return 0;
  } catch (err) {
    endProgress();
    io.err(`Error: ${(err as Error).message}\n`);
    return EXIT_ERROR;
  }
}
