/**
 * The scale section of bench/RESULTS.md (`make bench-scale`, bench/scale.ts):
 * what one run measured on each server, the comparison rows with issue 15's
 * targets, and the details. Pure: no I/O, so it is unit-tested on fixed
 * numbers.
 *
 * @module
 */

import type { Rss } from "./proc.ts";
import { type KvbenchResult, rowCells, type ScenarioOutcome } from "./report.ts";
import {
  bestCluster,
  type ClusterOutcome,
  fastestRound,
  type Row,
  throughputRows,
} from "./report_extra.ts";

/** kvtool -mode watchkeys's JSON line (bench/kvtool/scale.go). */
export interface WatchKeysResult {
  watchers: number;
  open_ms: number;
  rate: number;
  total: number;
  ok: number;
  errors: number;
  /** Puts that started more than 10 ms behind their schedule. */
  late: number;
  seconds: number;
  rps: number;
  p99_ms: number;
  events: number;
  events_expected: number;
  lat_p50_ms: number;
  lat_p90_ms: number;
  lat_p99_ms: number;
  lat_max_ms: number;
  drain_ms: number;
  error?: string;
}

/** One round of the distinct-key watch row on a fresh member. */
export interface WatchKeysOutcome {
  result: WatchKeysResult | null;
  error?: string;
  /** The server's memory after the round; peakKiB is its high-water mark. */
  rss?: Rss;
}

/** The loaded-keyspace phase on one server. */
export interface LoadedOutcome {
  /** Keys written (each once, 256 B values). */
  keys: number;
  /** How long writing them took, s. */
  loadSeconds?: number;
  /** Memory 5 s after the load. */
  rss?: Rss;
  /** Ranges of 10,000 keys under one prefix: the best round. */
  range?: ScenarioOutcome;
  /** Every round of those ranges, in order. */
  rangeRounds?: ScenarioOutcome[];
  /** count_only over the whole keyspace. */
  count?: ScenarioOutcome;
  /** Spawn of the restarted member -> its first served linearizable get, ms. */
  restartMs?: number;
  /** Memory of the restarted member once it served. */
  restartRss?: Rss;
  /** What went wrong (the phase's later figures are then missing). */
  errors: string[];
}

/** Everything the scale run measured on one server. */
export interface ScaleRun {
  /** "etcd" or "cairn". */
  label: string;
  /** The command prefix the member flags were appended to. */
  command: string;
  /** Rounds of the 5-member row. */
  cluster: ClusterOutcome[];
  loaded?: LoadedOutcome;
  /** Rounds of each large-value row, by row id. */
  values: Record<string, ScenarioOutcome[]>;
  /** Rounds of the distinct-key watch row. */
  watchKeys: WatchKeysOutcome[];
  /** Failures that cost whole rows. */
  errors: string[];
}

/** One large-value row: kvtool kv put with `valueBytes` values. */
export interface ValueWorkload {
  id: string;
  title: string;
  valueBytes: number;
  clients: number;
  conns: number;
  total: number;
  keys: number;
}

/** The workloads of a run, for titles and details. */
export interface ScaleWorkloads {
  cluster: { members: number; clients: number; conns: number; total: number; keys: number };
  keys: number;
  range: { span: number; clients: number; total: number; limitS: number; rounds: number };
  count: { clients: number; total: number; limitS: number };
  values: ValueWorkload[];
  watchKeys: {
    watchers: number;
    wconns: number;
    rate: number;
    seconds: number;
    clients: number;
    /** Rounds per server, taking turns; the row reports each server's lowest-p99 round. */
    rounds: number;
  };
}

/** Run-wide facts for the section header. */
export interface ScaleInfo {
  date: string;
  machine: string;
  etcdVersion: string;
  denoVersion: string;
  command: string;
  elapsedSeconds: number;
  /** Set when the run took the small-scale mode (not the sizes). */
  smallScale: boolean;
}

/** A comparison row with issue 15's target for cairn / etcd, if it states one. */
export interface ScaleRow extends Row {
  /** e.g. "≥ 1.0×" or "≤ 1.0×"; the ratio must reach `limit` on the `better` side. */
  target?: { limit: number };
}

/** The markers the section sits between in RESULTS.md. */
export const SECTION_BEGIN = "<!-- make bench-scale: begin -->";
export const SECTION_END = "<!-- make bench-scale: end -->";

/** The two markers around a section of RESULTS.md that a run carries over. */
export interface SectionMarkers {
  begin: string;
  end: string;
}

/** The scale section's markers (written by `make bench-scale`). */
export const SCALE_MARKERS: SectionMarkers = { begin: SECTION_BEGIN, end: SECTION_END };

/**
 * The markers of the hand-written section that explains, with profiles,
 * each of issue 15's targets not reached: no run writes it, every run
 * carries it over.
 */
export const EXPLAINED_MARKERS: SectionMarkers = {
  begin: "<!-- targets not reached: begin -->",
  end: "<!-- targets not reached: end -->",
};

/** The watch round with the lowest put -> event p99 among those with figures. */
export function bestWatchKeys(rounds: WatchKeysOutcome[]): WatchKeysOutcome | undefined {
  const withFigures = rounds.filter((o) => o.result && o.result.events > 0);
  const clean = withFigures.filter((o) => !o.error);
  const pool = clean.length ? clean : withFigures;
  return pool.reduce<WatchKeysOutcome | undefined>(
    (a, b) => (!a || b.result!.lat_p99_ms < a.result!.lat_p99_ms ? b : a),
    undefined,
  );
}

const mib = (r?: Rss) => (r ? r.rssKiB / 1024 : null);
const warn = (o?: { result: { errors: number } | null; error?: string }) =>
  o?.result && (o.result.errors > 0 || o.error) ? "⚠" : undefined;
const n = (x: number) => x.toLocaleString("en-US");

/** {@link throughputRows} with issue 15's targets for throughput and p99 where it states them. */
function targetedRows(
  title: string,
  e: ScenarioOutcome | undefined,
  c: ScenarioOutcome | undefined,
  target?: { rps?: number; p99?: number },
): ScaleRow[] {
  const [rps, p99] = throughputRows(title, e, c);
  return [
    target?.rps ? { ...rps, target: { limit: target.rps } } : rps,
    target?.p99 ? { ...p99, target: { limit: target.p99 } } : p99,
  ];
}

/** The comparison rows, with issue 15's target where it states one. */
export function scaleRows(w: ScaleWorkloads, etcd: ScaleRun, cairn: ScaleRun): ScaleRow[] {
  const out: ScaleRow[] = [];
  const c = w.cluster;
  out.push(...targetedRows(
    `${c.members}-member cluster, put to the leader, ${c.clients} clients / ${c.conns} conns`,
    bestCluster(etcd.cluster),
    bestCluster(cairn.cluster),
    { rps: 1 },
  ));
  const keys = `${n(w.keys)} keys × 256 B loaded`;
  const le = etcd.loaded;
  const lc = cairn.loaded;
  out.push({
    name: `${keys}: resident memory 5 s after the load (MiB)`,
    etcd: mib(le?.rss),
    cairn: mib(lc?.rss),
    better: "lower",
    digits: 1,
    target: { limit: 1 },
  });
  out.push({
    name: `${keys}: restart → first served linearizable get (ms)`,
    etcd: le?.restartMs ?? null,
    cairn: lc?.restartMs ?? null,
    better: "lower",
    digits: 0,
    target: { limit: 1 },
  });
  out.push(...targetedRows(
    `${keys}: range of ${n(w.range.span)} keys under a prefix, ${w.range.clients} clients`,
    le?.range,
    lc?.range,
    { rps: 1 },
  ));
  out.push(...targetedRows(
    `${keys}: count_only over the whole keyspace, ${w.count.clients} client` +
      (w.count.clients > 1 ? "s" : ""),
    le?.count,
    lc?.count,
    { rps: 1 },
  ));
  for (const v of w.values) {
    out.push(...targetedRows(
      v.title,
      fastestRound(etcd.values[v.id] ?? []),
      fastestRound(cairn.values[v.id] ?? []),
      { rps: 1 },
    ));
  }
  const wk = w.watchKeys;
  const we = bestWatchKeys(etcd.watchKeys);
  const wc = bestWatchKeys(cairn.watchKeys);
  const title = `${n(wk.watchers)} watchers on distinct keys, ${n(wk.rate)} puts/s`;
  const wnotes = { etcdNote: warn(we), cairnNote: warn(wc) };
  out.push({
    name: `${title}: put → event latency p50 (ms)`,
    etcd: we?.result?.lat_p50_ms ?? null,
    cairn: wc?.result?.lat_p50_ms ?? null,
    better: "lower",
    digits: 2,
    ...wnotes,
  });
  out.push({
    name: `${title}: put → event latency p99 (ms)`,
    etcd: we?.result?.lat_p99_ms ?? null,
    cairn: wc?.result?.lat_p99_ms ?? null,
    better: "lower",
    digits: 2,
    ...wnotes,
    target: { limit: 1 },
  });
  out.push({
    name: `${title}: peak resident memory of the server (MiB)`,
    etcd: we?.rss ? we.rss.peakKiB / 1024 : null,
    cairn: wc?.rss ? wc.rss.peakKiB / 1024 : null,
    better: "lower",
    digits: 1,
  });
  return out;
}

/** "met", "missed" or "" (no target or no ratio) for a row. */
export function targetVerdict(r: ScaleRow): string {
  if (!r.target || r.etcd === null || r.cairn === null || r.etcd === 0) return "";
  const ratio = r.cairn / r.etcd;
  const ok = r.better === "higher" ? ratio >= r.target.limit : ratio <= r.target.limit;
  return ok ? "met" : "missed";
}

/** The comparison table of the section. */
export function scaleTable(rows: ScaleRow[]): string {
  const lines = [
    "| scenario | etcd | cairn | ratio cairn/etcd | better | ahead | issue 15 target | target |",
    "|---|---:|---:|---:|---|---|---|---|",
  ];
  for (const r of rows) {
    const t = r.target ? `${r.better === "higher" ? "≥" : "≤"} ${r.target.limit.toFixed(1)}×` : "";
    lines.push(`${rowCells(r)} ${t} | ${targetVerdict(r)} |`);
  }
  return lines.join("\n");
}

function resultCells(r: KvbenchResult | null): string {
  if (!r) return " |  |  |  |  |  |";
  return ` ${r.ok} | ${r.errors} | ${r.seconds.toFixed(2)} | ${
    r.rps.toFixed(1)
  } | ${r.p50_ms} | ${r.p99_ms} |`;
}

function memText(r?: Rss): string {
  if (!r) return "n/a";
  const mb = (kib: number) => (kib / 1024).toFixed(1);
  return `${mb(r.rssKiB)} MiB (anon ${mb(r.anonKiB)}, file ${mb(r.fileKiB)}, peak ${
    mb(r.peakKiB)
  })`;
}

/** Raw figures of every round, per server. */
export function scaleDetails(runs: ScaleRun[]): string {
  const lines = [
    "| server | row | round | ok | errors | seconds | req/s | p50 ms | p99 ms |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const s of runs) {
    s.cluster.forEach((o, i) =>
      lines.push(`| ${s.label} | cluster | ${i + 1} |${resultCells(o.result)}`)
    );
    for (const [id, os] of Object.entries(s.values)) {
      os.forEach((o, i) => lines.push(`| ${s.label} | ${id} | ${i + 1} |${resultCells(o.result)}`));
    }
    const ranges = s.loaded?.rangeRounds ?? (s.loaded?.range ? [s.loaded.range] : []);
    ranges.forEach((o, i) =>
      lines.push(`| ${s.label} | range | ${i + 1} |${resultCells(o.result)}`)
    );
    if (s.loaded?.count) {
      lines.push(`| ${s.label} | count | 1 |${resultCells(s.loaded.count.result)}`);
    }
  }
  const more: string[] = [];
  for (const s of runs) {
    const l = s.loaded;
    if (l) {
      more.push(
        `- ${s.label}: ${n(l.keys)} keys loaded in ` +
          `${l.loadSeconds === undefined ? "n/a" : l.loadSeconds.toFixed(1) + " s"}; ` +
          `memory 5 s after: ${memText(l.rss)}; restarted member once serving: ${
            memText(l.restartRss)
          }`,
      );
    }
    s.cluster.forEach((o, i) =>
      more.push(
        `- ${s.label}: cluster round ${i + 1}: leader agreed after ${
          o.readyMs === undefined ? "n/a" : o.readyMs.toFixed(0) + " ms"
        }, all members ${memText(o.rss)}`,
      )
    );
    s.watchKeys.forEach((o, i) => {
      const r = o.result;
      more.push(
        `- ${s.label}: watch round ${i + 1}: ` +
          (r
            ? `${n(r.watchers)} watchers opened in ${r.open_ms.toFixed(0)} ms; ${n(r.ok)} puts ` +
              `in ${r.seconds.toFixed(1)} s (${r.rps.toFixed(0)}/s, ${r.late} late, put p99 ` +
              `${r.p99_ms} ms); ${n(r.events)}/${n(r.events_expected)} events, latency p50 ` +
              `${r.lat_p50_ms} / p90 ${r.lat_p90_ms} / p99 ${r.lat_p99_ms} / max ${r.lat_max_ms} ms; `
            : "no result; ") +
          `server ${memText(o.rss)}`,
      );
    });
  }
  return [...lines, "", ...more].join("\n");
}

function problems(runs: ScaleRun[]): string[] {
  const out: string[] = [];
  const add = (who: string, text?: string) => {
    if (text) out.push(`- ${who}: ${text.split("\n")[0]}`);
  };
  for (const s of runs) {
    s.errors.forEach((e) => add(s.label, e));
    s.loaded?.errors.forEach((e) => add(`${s.label} / loaded`, e));
    add(`${s.label} / range`, s.loaded?.range?.error);
    add(`${s.label} / count`, s.loaded?.count?.error);
    s.cluster.forEach((o, i) => add(`${s.label} / cluster round ${i + 1}`, o.error));
    for (const [id, os] of Object.entries(s.values)) {
      os.forEach((o, i) => add(`${s.label} / ${id} round ${i + 1}`, o.error));
    }
    s.watchKeys.forEach((o, i) => add(`${s.label} / watch round ${i + 1}`, o.error));
  }
  return out;
}

/** The whole section, markers included. */
export function renderScaleSection(
  info: ScaleInfo,
  w: ScaleWorkloads,
  etcd: ScaleRun,
  cairn: ScaleRun,
): string {
  const probs = problems([etcd, cairn]);
  const c = w.cluster;
  return [
    SECTION_BEGIN,
    "",
    "## Scale rows (`make bench-scale`)",
    "",
    ...(info.smallScale
      ? [
        `**Small-scale run (${n(w.keys)} keys, ${n(w.watchKeys.watchers)} watchers): a check` +
        " that the harness works, not the issue's sizes.**",
        "",
      ]
      : []),
    `- date: ${info.date}`,
    `- machine: ${info.machine}`,
    `- etcd: ${info.etcdVersion} — \`${etcd.command}\``,
    `- cairn: \`${cairn.command}\``,
    `- deno: ${info.denoVersion}`,
    `- command: \`${info.command}\``,
    `- run took ${info.elapsedSeconds.toFixed(0)} s`,
    "",
    scaleTable(scaleRows(w, etcd, cairn)),
    "",
    "Ratios are cairn ÷ etcd; one server runs at a time, the two taking turns phase by phase." +
    ' "target" says whether the ratio reaches issue 15\'s target.' +
    ` Cluster: a fresh ${c.members}-member cluster, kvbench put (${n(c.total)} puts,` +
    ` ${c.keys} keys, 256 B) to the leader after a warm-up, best round.` +
    ` Loaded: ${n(w.keys)} distinct keys s/%08d × 256 B written by 100 clients / 10 conns` +
    " (kvtool -mode load), memory read 5 s later; then ranges of" +
    ` ${n(w.range.span)} keys (one prefix s/NNNN picked at random, every reply checked for` +
    ` ${n(w.range.span)} keys; ${n(w.range.total)} requests or ${w.range.limitS} s; best of` +
    ` ${w.range.rounds} rounds, as the other rows, since the first warms up the server) and` +
    ` count_only over the whole keyspace (${n(w.count.total)} requests or ${w.count.limitS} s);` +
    " then the member is stopped and started again on its data dir, timed from spawn to its" +
    " first served linearizable get (snapshot + WAL replay), and its count checked." +
    " Values: a fresh member, warm-up, then kvtool kv put with the value size, best round." +
    ` Watch: ${n(w.watchKeys.watchers)} watchers, each on its own key, over` +
    ` ${w.watchKeys.wconns} connections; puts at ${n(w.watchKeys.rate)}/s for` +
    ` ${w.watchKeys.seconds} s by up to ${w.watchKeys.clients} requesters (open loop)` +
    " round-robin over the keys, each value carrying its send time; latency from send to the" +
    ` watcher's receipt, lowest-p99 of ${w.watchKeys.rounds} round${
      w.watchKeys.rounds === 1 ? "" : "s"
    }` +
    " each (the p99 of 10,000 puts moves by a third from round to round on this machine)." +
    " ⚠ marks figures measured with failed requests.",
    "",
    "### Details",
    "",
    scaleDetails([etcd, cairn]),
    "",
    ...(probs.length ? ["### Problems", "", ...probs, ""] : []),
    SECTION_END,
  ].join("\n");
}

/**
 * `text` (a whole RESULTS.md) with its section between `markers` (the
 * scale section by default) replaced by `section`, or with `section`
 * appended when it has none.
 */
export function spliceSection(
  text: string,
  section: string,
  markers: SectionMarkers = SCALE_MARKERS,
): string {
  const a = text.indexOf(markers.begin);
  const b = text.indexOf(markers.end);
  if (a >= 0 && b > a) {
    return text.slice(0, a) + section + text.slice(b + markers.end.length);
  }
  return `${text.trimEnd()}\n\n${section}\n`;
}

/**
 * The section of a RESULTS.md between `markers` (the scale section by
 * default), markers included, or "" when it has none: `make bench`
 * rewrites the file and carries such sections over.
 */
export function extractSection(text: string, markers: SectionMarkers = SCALE_MARKERS): string {
  const a = text.indexOf(markers.begin);
  const b = text.indexOf(markers.end);
  return a >= 0 && b > a ? text.slice(a, b + markers.end.length) : "";
}

/**
 * `fresh` (a RESULTS.md a run just wrote) with the sections of `old` that
 * another run or a person wrote carried over: the scale section, then
 * the explanations of targets not reached.
 */
export function carryOverSections(old: string, fresh: string): string {
  let out = fresh;
  for (const markers of [SCALE_MARKERS, EXPLAINED_MARKERS]) {
    const kept = extractSection(old, markers);
    if (kept) out = spliceSection(out, kept, markers);
  }
  return out;
}
