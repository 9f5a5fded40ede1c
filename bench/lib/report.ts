/**
 * Turns the measurements of one benchmark run into the markdown written to
 * bench/RESULTS.md. Pure: no I/O, so it is unit-tested on fixed numbers.
 *
 * @module
 */

import type { Rss } from "./proc.ts";
import type { Scenario } from "./scenarios.ts";
import {
  clusterDetailTable,
  type ClusterOutcome,
  type ClusterWorkload,
  extraProblems,
  extraRows,
  type ExtraRuns,
  fastestRound,
  type Row,
  throughputRows,
  watchDetailTable,
  type WatchOutcome,
} from "./report_extra.ts";
import type { WatchWorkload } from "./watch.ts";

/** kvbench's JSON line (see ../shared/kvbench/main.go). */
export interface KvbenchResult {
  op: string;
  clients: number;
  conns: number;
  /** Requests that succeeded. */
  ok: number;
  /** Requests that failed (including those cut off by -timeout). */
  errors: number;
  seconds: number;
  /** ok / seconds. */
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
}

/** What happened to one scenario on one server. */
export interface ScenarioOutcome {
  /** kvbench's figures; present even when some requests failed. */
  result: KvbenchResult | null;
  /** Why the figures are missing or partial. */
  error?: string;
}

/** Everything measured on one server. */
export interface SystemRun {
  /** "etcd" or "cairn". */
  label: string;
  /** The command prefix the member flags were appended to. */
  command: string;
  /** Spawn -> first served linearizable Get, one sample per fresh start, ms. */
  startupMs: number[];
  /** Memory just after start, before any data. */
  idleRss?: Rss;
  /** Memory after loading the 100k keys, once settled (see run.ts). */
  loadedRss?: Rss;
  /** How long the 100k-key load took. */
  loadSeconds?: number;
  /** The reported outcome by scenario id: the best of its rounds. */
  scenarios: Record<string, ScenarioOutcome>;
  /** Every round's outcome by scenario id, in order. */
  rounds: Record<string, ScenarioOutcome[]>;
  /** Failures that cost whole rows (server would not start, load failed). */
  errors: string[];
  /** Rounds of the multi-member cluster row, in order. */
  cluster?: ClusterOutcome[];
  /** Rounds of the watch rows, in order. */
  watch?: WatchOutcome[];
}

/** The workloads of the cluster and watch rows, when the run measured them. */
export interface ExtraWorkloads {
  cluster: ClusterWorkload;
  watch: WatchWorkload;
}

/** Run-wide facts for the header. */
export interface RunInfo {
  date: string;
  nproc: number;
  cpu: string;
  memTotal: string;
  kernel: string;
  etcdVersion: string;
  denoVersion: string;
  command: string;
  dataDir: string;
  elapsedSeconds: number;
  keys: number;
  valueBytes: number;
}

/** Which way a row improves. */
type Better = Row["better"];

/** The round to report: {@link fastestRound}, else the last, else none. */
export function bestOutcome(outcomes: ScenarioOutcome[]): ScenarioOutcome {
  return fastestRound(outcomes) ?? outcomes[outcomes.length - 1] ?? { result: null };
}

/** Median of the samples; null when there are none. */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** cairn / etcd as "0.52×"; "n/a" when either side is missing or etcd is 0. */
export function formatRatio(etcd: number | null, cairn: number | null): string {
  if (etcd === null || cairn === null || etcd === 0) return "n/a";
  const r = cairn / etcd;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** Who comes out ahead on a row, allowing 5% for noise. */
export function verdict(etcd: number | null, cairn: number | null, better: Better): string {
  if (etcd === null || cairn === null || etcd === 0) return "";
  const r = cairn / etcd;
  if (r > 0.95 && r < 1.05) return "even";
  const cairnAhead = better === "higher" ? r > 1 : r < 1;
  return cairnAhead ? "cairn" : "etcd";
}

function fmt(v: number | null, digits: number, note?: string): string {
  if (v === null) return "n/a";
  const s = v.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return note ? `${s} ${note}` : s;
}

const mib = (r?: Rss) => (r ? r.rssKiB / 1024 : null);

const extraRuns = (s: SystemRun): ExtraRuns => ({ cluster: s.cluster ?? [], watch: s.watch ?? [] });

function rows(
  scenarios: readonly Scenario[],
  etcd: SystemRun,
  cairn: SystemRun,
  keys: number,
  extras?: ExtraWorkloads,
) {
  const out: Row[] = [];
  for (const s of scenarios) {
    out.push(...throughputRows(s.title, etcd.scenarios[s.id], cairn.scenarios[s.id]));
  }
  if (extras) {
    out.push(...extraRows(extras.cluster, extras.watch, extraRuns(etcd), extraRuns(cairn)));
  }
  out.push({
    name: "resident memory, idle after start (MiB)",
    etcd: mib(etcd.idleRss),
    cairn: mib(cairn.idleRss),
    better: "lower",
    digits: 1,
  });
  out.push({
    name: `resident memory 5 s after loading ${keys.toLocaleString("en-US")} keys × 256 B (MiB)`,
    etcd: mib(etcd.loadedRss),
    cairn: mib(cairn.loadedRss),
    better: "lower",
    digits: 1,
  });
  out.push({
    name: "start → first served linearizable get (ms, median)",
    etcd: median(etcd.startupMs),
    cairn: median(cairn.startupMs),
    better: "lower",
    digits: 0,
  });
  return out;
}

/** The comparison table: one row per figure, ratio cairn/etcd and who is ahead. */
export function comparisonTable(
  scenarios: readonly Scenario[],
  etcd: SystemRun,
  cairn: SystemRun,
  keys: number,
  extras?: ExtraWorkloads,
): string {
  const lines = [
    "| scenario | etcd | cairn | ratio cairn/etcd | better | ahead |",
    "|---|---:|---:|---:|---|---|",
  ];
  for (const r of rows(scenarios, etcd, cairn, keys, extras)) lines.push(rowCells(r));
  return lines.join("\n");
}

/** A comparison row's cells: name, both figures, ratio cairn/etcd, which is better, who is ahead. */
export function rowCells(r: Row): string {
  return `| ${r.name} | ${fmt(r.etcd, r.digits, r.etcdNote)} | ${
    fmt(r.cairn, r.digits, r.cairnNote)
  } | ${formatRatio(r.etcd, r.cairn)} | ${r.better} | ${verdict(r.etcd, r.cairn, r.better)} |`;
}

/** Raw kvbench figures per server, scenario and round. */
export function detailTable(scenarios: readonly Scenario[], systems: SystemRun[]): string {
  const lines = [
    "| server | scenario | round | op | clients/conns | total | ok | errors | seconds | req/s | p50 ms | p90 ms | p99 ms |",
    "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const sys of systems) {
    for (const s of scenarios) {
      const outcomes = sys.rounds[s.id] ?? [];
      outcomes.forEach((o, i) => {
        const r = o.result;
        const cells = r
          ? [r.ok, r.errors, r.seconds.toFixed(2), r.rps.toFixed(0), r.p50_ms, r.p90_ms, r.p99_ms]
          : ["", "", "", "", "", "", ""];
        const mark = o === sys.scenarios[s.id] && outcomes.length > 1 ? " (best)" : "";
        lines.push(
          `| ${sys.label} | ${s.id} | ${i + 1}${mark} | ${s.op} (keys=${s.keys}) | ` +
            `${s.clients}/${s.conns} | ${s.total} | ${cells.join(" | ")} |`,
        );
      });
    }
  }
  return lines.join("\n");
}

function memLine(sys: SystemRun): string {
  const mb = (kib: number) => (kib / 1024).toFixed(1);
  const m = (r?: Rss) => {
    if (!r) return "n/a";
    const procs = `${r.processes} process${r.processes > 1 ? "es" : ""}`;
    return `${mb(r.rssKiB)} MiB (anon ${mb(r.anonKiB)}, file ${mb(r.fileKiB)}, ` +
      `peak so far ${mb(r.peakKiB)}, ${procs})`;
  };
  const load = sys.loadSeconds === undefined ? "" : `; load took ${sys.loadSeconds.toFixed(1)} s`;
  return `- ${sys.label}: idle ${m(sys.idleRss)}; loaded ${m(sys.loadedRss)}${load}; ` +
    `start-up samples ${sys.startupMs.map((x) => x.toFixed(0)).join(", ") || "none"} ms`;
}

/** A list item; lines after the first (log tails) go in a code block so they stay verbatim. */
function problem(who: string, text: string): string[] {
  const [first, ...rest] = text.split("\n");
  const item = [`- ${who}: ${first}`];
  if (rest.length) item.push("", "  ```", ...rest.map((l) => `  ${l}`), "  ```");
  return item;
}

function extraDetails(x: ExtraWorkloads, etcd: SystemRun, cairn: SystemRun): string[] {
  const c = x.cluster;
  const w = x.watch;
  const runs = <T>(pick: (s: SystemRun) => T[] | undefined) =>
    [etcd, cairn].map((s) => ({ label: s.label, rounds: pick(s) ?? [] }));
  return [
    `### ${c.members}-member cluster`,
    "",
    `Each round starts a fresh ${c.members}-member cluster of one kind on loopback (all members` +
    " on this machine, fsync on), waits until `etcdctl endpoint status` shows every member" +
    ` answering with one leader, then runs kvbench put (${c.total.toLocaleString("en-US")}` +
    ` puts, ${c.clients} clients / ${c.conns} conns, ${c.keys} keys, 256 B) against the leader's` +
    " endpoint (kvbench takes one endpoint).",
    "",
    clusterDetailTable(runs((s) => s.cluster)),
    "",
    "### Watch",
    "",
    `Each round starts a fresh single member and runs kvtool -mode watch: ${w.watchers}` +
    ` watchers over ${w.watchConns} connections (one watch stream each) on one prefix;` +
    ` (a) ${w.latencyPuts} sequential puts, each value carrying its send time, every watcher` +
    " timing put → event and the next put waiting until all have it; (b)" +
    ` ${w.total.toLocaleString("en-US")} puts by ${w.clients} clients / ${w.conns} conns` +
    " (their own connections) under the prefix, so each is delivered to every watcher, then" +
    ` up to ${w.drainS} s for the last events. Latency rows come from the round with the lowest` +
    " p99, throughput rows from the round with the most puts/s.",
    "",
    watchDetailTable(runs((s) => s.watch)),
    "",
  ];
}

/** The whole RESULTS.md. */
export function renderResults(
  info: RunInfo,
  scenarios: readonly Scenario[],
  etcd: SystemRun,
  cairn: SystemRun,
  extras?: ExtraWorkloads,
  /** A rendered section placed after the comparison (lib/floor.ts). */
  floor?: string,
): string {
  const problems: string[] = [];
  for (const sys of [etcd, cairn]) {
    for (const e of sys.errors) problems.push(...problem(sys.label, e));
    for (const [who, e] of extraProblems(sys.label, extraRuns(sys))) {
      problems.push(...problem(who, e));
    }
    for (const s of scenarios) {
      const err = sys.scenarios[s.id]?.error;
      if (err) problems.push(...problem(`${sys.label} / ${s.id}`, err));
    }
  }
  return [
    "# cairn vs etcd",
    "",
    `- date: ${info.date}`,
    `- machine: nproc ${info.nproc}, ${info.cpu}, ${info.memTotal} RAM, ${info.kernel}`,
    `- etcd: ${info.etcdVersion} — \`${etcd.command}\``,
    `- cairn: \`${cairn.command}\``,
    `- deno: ${info.denoVersion}`,
    `- client: kvbench (Go clientv3), same parameters for both; one server running at a time;` +
    ` single member each except the cluster row, fsync on (default for both), data dirs under` +
    ` \`${info.dataDir}\``,
    `- command: \`${info.command}\``,
    `- run took ${info.elapsedSeconds.toFixed(0)} s`,
    "",
    "## Comparison",
    "",
    comparisonTable(scenarios, etcd, cairn, info.keys, extras),
    "",
    "Each scenario row is the best (highest req/s) of its rounds, the servers taking turns." +
    " Ratios are cairn ÷ etcd. For throughput higher is better (ratio > 1: cairn faster);" +
    " for latency, memory and start-up lower is better (ratio < 1: cairn better)." +
    ' "ahead" calls it even within ±5%. ⚠ marks figures measured with failed requests.',
    "",
    ...(floor ? [floor, ""] : []),
    "## Details",
    "",
    detailTable(scenarios, [etcd, cairn]),
    "",
    memLine(etcd),
    memLine(cairn),
    "",
    ...(extras ? extraDetails(extras, etcd, cairn) : []),
    ...(problems.length ? ["## Problems", "", ...problems, ""] : []),
  ].join("\n");
}
