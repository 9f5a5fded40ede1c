/**
 * The 3-member cluster row and the watch rows of RESULTS.md: their outcome
 * types, comparison rows and detail tables. Pure, like report.ts.
 *
 * @module
 */

import type { Rss } from "./proc.ts";
import type { KvbenchResult, ScenarioOutcome } from "./report.ts";
import type { WatchResult, WatchWorkload } from "./watch.ts";

/** One round of the cluster row: kvbench put against the leader of a fresh cluster. */
export interface ClusterOutcome extends ScenarioOutcome {
  /** Spawn -> leader agreed by every member, ms. */
  readyMs?: number;
  /** Resident memory of all members together after the puts. */
  rss?: Rss;
}

/** One round of the watch rows on a fresh single member. */
export interface WatchOutcome {
  result: WatchResult | null;
  error?: string;
  /** The server's memory after the round; peakKiB is its high-water mark. */
  rss?: Rss;
}

/** One line of the comparison table. */
export interface Row {
  name: string;
  etcd: number | null;
  cairn: number | null;
  better: "higher" | "lower";
  digits: number;
  /** Marks a figure measured with failed requests. */
  etcdNote?: string;
  cairnNote?: string;
}

/** Cluster size and kvbench parameters of the cluster row. */
export interface ClusterWorkload {
  members: number;
  clients: number;
  conns: number;
  total: number;
  keys: number;
}

/** What one server's cluster and watch rounds gave. */
export interface ExtraRuns {
  cluster: ClusterOutcome[];
  watch: WatchOutcome[];
}

/**
 * The round to report: the fastest clean one (background load on a shared
 * machine only ever slows a run down), else the fastest with figures;
 * undefined when no round has figures.
 */
export function fastestRound<T extends ScenarioOutcome>(rounds: T[]): T | undefined {
  const withFigures = rounds.filter((o) => o.result);
  const clean = withFigures.filter((o) => !o.error && o.result!.errors === 0);
  const pool = clean.length ? clean : withFigures;
  return pool.reduce<T | undefined>(
    (a, b) => (!a || b.result!.rps > a.result!.rps ? b : a),
    undefined,
  );
}

/** The cluster round to report: {@link fastestRound}. */
export function bestCluster(rounds: ClusterOutcome[]): ClusterOutcome | undefined {
  return fastestRound(rounds);
}

/**
 * The watch rounds to report: latency figures from the round with the
 * lowest put -> event p99, throughput figures from the round with the most
 * puts/s (each among rounds without errors when there are any).
 */
export function bestWatch(
  rounds: WatchOutcome[],
): { latency?: WatchOutcome; throughput?: WatchOutcome } {
  const withFigures = rounds.filter((o) => o.result);
  const clean = withFigures.filter((o) => !o.error);
  const pool = clean.length ? clean : withFigures;
  const pick = (better: (a: WatchResult, b: WatchResult) => boolean) =>
    pool.reduce<WatchOutcome | undefined>(
      (a, b) => (!a || better(b.result!, a.result!) ? b : a),
      undefined,
    );
  return {
    latency: pick((b, a) =>
      b.lat_events > 0 && (a.lat_events === 0 || b.lat_p99_ms < a.lat_p99_ms)
    ),
    throughput: pick((b, a) => (b.rps ?? 0) > (a.rps ?? 0)),
  };
}

const warn = (o?: { error?: string; result: { errors?: number } | null }) =>
  o?.result && ((o.result.errors ?? 0) > 0 || o.error) ? "⚠" : undefined;

const mib = (kib?: number) => (kib === undefined ? null : kib / 1024);

/**
 * The throughput and p99 latency rows of one kvbench run per side, each
 * figure marked ⚠ when some of its requests failed.
 */
export function throughputRows(
  title: string,
  e: ScenarioOutcome | undefined,
  c: ScenarioOutcome | undefined,
): Row[] {
  const notes = { etcdNote: warn(e), cairnNote: warn(c) };
  return [
    {
      name: `${title}: throughput (req/s)`,
      etcd: e?.result?.rps ?? null,
      cairn: c?.result?.rps ?? null,
      better: "higher",
      digits: 0,
      ...notes,
    },
    {
      name: `${title}: p99 latency (ms)`,
      etcd: e?.result?.p99_ms ?? null,
      cairn: c?.result?.p99_ms ?? null,
      better: "lower",
      digits: 2,
      ...notes,
    },
  ];
}

/** Comparison rows for the cluster and watch measurements. */
export function extraRows(
  cw: ClusterWorkload,
  ww: WatchWorkload,
  etcd: ExtraRuns,
  cairn: ExtraRuns,
): Row[] {
  const ce = bestCluster(etcd.cluster);
  const cc = bestCluster(cairn.cluster);
  const we = bestWatch(etcd.watch);
  const wc = bestWatch(cairn.watch);
  const cluster = `${cw.members}-member cluster, put to the leader, ${cw.clients} clients / ` +
    `${cw.conns} conns`;
  const n = ww.watchers.toLocaleString("en-US");
  const lat = (o?: WatchOutcome) => o?.result?.lat_events ? o.result : undefined;
  const minPeak = (rs: WatchOutcome[]) => {
    const peaks = rs.filter((o) => o.rss).map((o) => o.rss!.peakKiB);
    return peaks.length ? Math.min(...peaks) : undefined;
  };
  return [
    ...throughputRows(cluster, ce, cc),
    {
      name: `watch, ${n} watchers: put → event latency p50 (ms)`,
      etcd: lat(we.latency)?.lat_p50_ms ?? null,
      cairn: lat(wc.latency)?.lat_p50_ms ?? null,
      better: "lower",
      digits: 2,
    },
    {
      name: `watch, ${n} watchers: put → event latency p99 (ms)`,
      etcd: lat(we.latency)?.lat_p99_ms ?? null,
      cairn: lat(wc.latency)?.lat_p99_ms ?? null,
      better: "lower",
      digits: 2,
    },
    {
      name: `watch, ${n} watchers receiving: put, ${ww.clients} clients / ${ww.conns} conns: ` +
        "throughput (req/s)",
      etcd: we.throughput?.result?.rps ?? null,
      cairn: wc.throughput?.result?.rps ?? null,
      better: "higher",
      digits: 0,
      etcdNote: warn(we.throughput),
      cairnNote: warn(wc.throughput),
    },
    {
      name: `watch, ${n} watchers receiving: put p99 latency (ms)`,
      etcd: we.throughput?.result?.p99_ms ?? null,
      cairn: wc.throughput?.result?.p99_ms ?? null,
      better: "lower",
      digits: 2,
      etcdNote: warn(we.throughput),
      cairnNote: warn(wc.throughput),
    },
    {
      name: `watch, ${n} watchers receiving: events delivered per second`,
      etcd: we.throughput?.result?.events_per_s ?? null,
      cairn: wc.throughput?.result?.events_per_s ?? null,
      better: "higher",
      digits: 0,
    },
    {
      name: `watch, ${n} watchers: peak resident memory of the server (MiB, lowest round)`,
      etcd: mib(minPeak(etcd.watch)),
      cairn: mib(minPeak(cairn.watch)),
      better: "lower",
      digits: 1,
    },
  ];
}

const f2 = (x: number) => x.toFixed(2);
const f0 = (x: number) => x.toFixed(0);
const mb = (kib: number) => (kib / 1024).toFixed(1);

/** Raw figures of every cluster round. */
export function clusterDetailTable(runs: { label: string; rounds: ClusterOutcome[] }[]): string {
  const lines = [
    "| server | round | leader agreed after ms | ok | errors | seconds | req/s | p50 ms | p90 ms | p99 ms | RSS of all members MiB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { label, rounds } of runs) {
    const best = bestCluster(rounds);
    rounds.forEach((o, i) => {
      const r: KvbenchResult | null = o.result;
      const cells = r
        ? [r.ok, r.errors, f2(r.seconds), f0(r.rps), r.p50_ms, r.p90_ms, r.p99_ms]
        : ["", "", "", "", "", "", ""];
      const mark = o === best && rounds.length > 1 ? " (best)" : "";
      lines.push(
        `| ${label} | ${i + 1}${mark} | ${o.readyMs === undefined ? "" : f0(o.readyMs)} | ` +
          `${cells.join(" | ")} | ${o.rss ? mb(o.rss.rssKiB) : ""} |`,
      );
    });
  }
  return lines.join("\n");
}

/** Raw figures of every watch round. */
export function watchDetailTable(runs: { label: string; rounds: WatchOutcome[] }[]): string {
  const lines = [
    "| server | round | open ms | latency samples | missing | p50 ms | p90 ms | p99 ms | max ms | puts ok | errors | put s | puts/s | put p99 ms | events received / expected | drain s | events/s | peak RSS MiB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { label, rounds } of runs) {
    rounds.forEach((o, i) => {
      const r = o.result;
      const cells = r
        ? [
          f0(r.open_ms),
          r.lat_events,
          r.lat_missing,
          r.lat_p50_ms,
          r.lat_p90_ms,
          r.lat_p99_ms,
          r.lat_max_ms,
          r.ok ?? "",
          r.errors ?? "",
          r.seconds === undefined ? "" : f2(r.seconds),
          r.rps === undefined ? "" : f0(r.rps),
          r.p99_ms ?? "",
          r.events === undefined ? "" : `${r.events} / ${r.events_expected}`,
          r.drain_ms === undefined ? "" : f2(r.drain_ms / 1000),
          r.events_per_s === undefined ? "" : f0(r.events_per_s),
        ]
        : Array(15).fill("");
      lines.push(
        `| ${label} | ${i + 1} | ${cells.join(" | ")} | ${o.rss ? mb(o.rss.peakKiB) : ""} |`,
      );
    });
  }
  return lines.join("\n");
}

/** "who: error" pairs for every failed cluster or watch round. */
export function extraProblems(label: string, runs: ExtraRuns): [string, string][] {
  const out: [string, string][] = [];
  runs.cluster.forEach((o, i) => {
    if (o.error) out.push([`${label} / cluster round ${i + 1}`, o.error]);
  });
  runs.watch.forEach((o, i) => {
    if (o.error) out.push([`${label} / watch round ${i + 1}`, o.error]);
  });
  return out;
}
