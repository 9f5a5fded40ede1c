/**
 * Normalisation of etcdctl output so that etcd's and cairn's answers can be
 * compared byte for byte. Only values that legitimately differ between two
 * independent clusters are replaced: cluster/member/lease ids, raft terms and
 * indexes, versions, db sizes, durations, timestamps and port numbers.
 * Revisions, keys, values, counts and error texts are kept, because those are
 * what a drop-in replacement must reproduce exactly.
 */

/** Per-member facts used to normalise its output. */
export interface NormalizeOptions {
  /** Port number → placeholder, e.g. `{ 41234: "CLIENT", 41235: "PEER" }`. */
  ports?: Record<number, string>;
  /** Also replace header revisions (for outputs where they may differ). */
  revisions?: boolean;
}

type Rule = [RegExp, string];

const RULES: Rule[] = [
  // -w json: uint64 ids and raft bookkeeping inside headers and statuses.
  [/"(cluster_id|member_id|leader|ID)":\d+/g, '"$1":"<id>"'],
  [/"(raft_term|raftTerm)":\d+/g, '"$1":"<term>"'],
  [/"(raftIndex|raftAppliedIndex)":\d+/g, '"$1":"<index>"'],
  [/"(dbSize|dbSizeInUse)":\d+/g, '"$1":"<size>"'],
  [/"lease":[1-9]\d*/g, '"lease":"<lease>"'],
  // -w fields
  [/"(ClusterID|MemberID|ID|Leader)" : \d+/g, '"$1" : <id>'],
  [/"(RaftTerm)" : \d+/g, '"$1" : <term>'],
  [/"(RaftIndex|RaftAppliedIndex)" : \d+/g, '"$1" : <index>'],
  [/"(DBSize|DBSizeInUse)" : \d+/g, '"$1" : <size>'],
  [/"Lease" : [1-9]\d*/g, '"Lease" : <lease>'],
  // Hex member and lease ids as etcdctl prints them in simple/table output.
  [/\b[0-9a-f]{12,16}\b/g, "<hexid>"],
  // Server versions: etcd 3.4.x versus cairn's 3.5.x.
  [/\b3\.\d+\.\d+\b/g, "<version>"],
  // Human-readable db sizes ("25 kB").
  [/\b\d+(\.\d+)? [kMGT]?B\b/g, "<size>"],
  // `endpoint status` simple/table columns after leader/learner: term, index, applied index.
  [/((?:true|false), (?:true|false), )\d+, \d+, \d+/g, "$1<term>, <index>, <index>"],
  [/(\| (?:true|false) \| (?:true|false) \|) \d+ \| \d+ \| \d+ \|/g, "$1 <raft> |"],
  // Durations ("took = 4.58ms") and ISO timestamps.
  [/took = [\d.]+(ns|µs|us|ms|s)/g, "took = <dur>"],
  [/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?/g, "<ts>"],
];

/** Normalises stdout of an etcdctl command for comparison across clusters. */
export function normalizeOutput(text: string, options: NormalizeOptions = {}): string {
  let out = text;
  for (const [port, label] of Object.entries(options.ports ?? {})) {
    out = out.replace(new RegExp(`:${port}\\b`, "g"), `:<${label}>`);
  }
  if (options.revisions) {
    out = out.replace(/"revision":\d+/g, '"revision":"<rev>"')
      .replace(/"Revision" : \d+/g, '"Revision" : <rev>');
  }
  // Table cells are padded to their content's width, which differs with ids and sizes.
  out = out.split("\n").map((line) =>
    /^[|+]/.test(line) ? line.replace(/ {2,}/g, " ").replace(/-{2,}/g, "--") : line
  ).join("\n");
  for (const [pattern, replacement] of RULES) out = out.replace(pattern, replacement);
  return out;
}

/**
 * Normalises etcdctl's stderr. Its client library logs retries as JSON lines
 * with a timestamp and a random client target; only the message and the gRPC
 * error (which carries the status code and `etcdserver: ...` text) are kept.
 */
export function normalizeStderr(text: string, options: NormalizeOptions = {}): string {
  const lines = text.split("\n").map((line) => {
    if (!line.startsWith("{")) return line;
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      return JSON.stringify({ level: entry.level, msg: entry.msg, error: entry.error });
    } catch {
      return line;
    }
  });
  return normalizeOutput(lines.join("\n"), options);
}
