/**
 * Put latency while a snapshot is written and while Defragment runs
 * (issue 14 part 6), cairn beside etcd: etcd's Defragment stops the world
 * (etcd issue 9222), and cairn once serialized its whole store on the Raft
 * loop for every `--snapshot-count` snapshot.
 *
 * For each system, one at a time: a cluster of `--members` starts with
 * `--snapshot-count` set to the key count plus {@link SNAPSHOT_OFFSET}; the
 * leader is loaded with `--keys` keys of 256 B (kvtool -mode load); then
 * - snapshot phase: `--clients` writers put to the leader for `--seconds`
 *   over the loaded keys; the snapshot of the whole store falls due after
 *   {@link SNAPSHOT_OFFSET} of those puts;
 * - defrag phase: compaction at the current revision (physical), then the
 *   writers again, with `etcdctl defrag` on the leader two seconds in.
 * Each phase reports put p99 and max over the phase and over the event's
 * window (from the leader's "triggering snapshot"/"saved snapshot" log
 * lines, or the defrag call's start and end), and the elections seen: the
 * rise of etcd_server_leader_changes_seen_total on any member.
 *
 * Alone (the lead wires {@link runStall} into bench/run.ts):
 *
 *   deno run -A bench/lib/stall.ts [--keys 1000000] [--clients 10] [--members 3]
 *     [--seconds 20] [--systems etcd,cairn] [--json out.json] [--keep]
 *
 * `--keys 100000` is the quick check. Environment: CAIRN_CMD, ETCD_CMD,
 * BENCH_DIR, ETCDCTL, KVTOOL, as for bench/run.ts.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Cluster, startCluster } from "./cluster.ts";
import { stopAll } from "./proc.ts";
import { readLog, type ServerSpec } from "./server.ts";
import { loadKeys, makeWorkDir, removeWorkDir, serverSpecs, stopServersOnSignal } from "./setup.ts";
import { ensureKvtool, repoRoot, runJson } from "./tools.ts";

/** Puts of the snapshot phase before the snapshot falls due. */
export const SNAPSHOT_OFFSET = 3000;

/** Latency figures of a set of puts. */
export interface LatencyStats {
  /** Puts answered. */
  ok: number;
  /** 99th percentile, ms. */
  p99Ms: number;
  /** Slowest put, ms. */
  maxMs: number;
}

/** One phase on one system. */
export interface StallPhase {
  /** Over the whole phase. */
  all: LatencyStats;
  /** Puts overlapping the event (snapshot written, defrag running), when its window is known. */
  window?: LatencyStats & { startMs: number; endMs: number };
  /** Puts that failed. */
  errors: number;
  /** Puts per second over the phase. */
  rps: number;
  /** Leader changes seen during the phase (sum over the members). */
  elections: number;
  /** Whether the event took place (a snapshot was saved, the defrag finished). */
  happened: boolean;
  /** Why a figure is missing or doubtful. */
  notes: string[];
}

/** Everything measured on one system. */
export interface StallRun {
  system: string;
  keys: number;
  members: number;
  clients: number;
  loadSeconds?: number;
  snapshot?: StallPhase;
  defrag?: StallPhase;
  errors: string[];
}

/** Options of {@link runStall}. */
export interface StallOptions {
  specs: ServerSpec[];
  workDir: string;
  kvtool: string;
  etcdctl: string;
  keys: number;
  clients: number;
  members: number;
  seconds: number;
}

interface StallJson {
  ok: number;
  errors: number;
  rps: number;
  p99_ms: number;
  max_ms: number;
  samples: [number, number][];
  first_error?: string;
  error?: string;
}

/** p99 and max of the puts among `samples` ([start, latency]) that overlap `[from, to]`. */
export function windowStats(
  samples: readonly [number, number][],
  from: number,
  to: number,
): LatencyStats {
  const lats = samples.filter(([s, l]) => s <= to && s + l >= from).map(([, l]) => l)
    .sort((a, b) => a - b);
  if (lats.length === 0) return { ok: 0, p99Ms: 0, maxMs: 0 };
  return {
    ok: lats.length,
    p99Ms: lats[Math.floor(0.99 * (lats.length - 1))],
    maxMs: lats[lats.length - 1],
  };
}

/** The `ts` of the first JSON log line with `msg` at or after `since` (unix ms). */
export function logTime(log: string, msg: string, since: number): number | undefined {
  for (const line of log.split("\n")) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    const m = /"ts":"([^"]+)"/.exec(line);
    if (!m) continue;
    // etcd's zap writes "+0000"; Date wants "+00:00".
    const t = Date.parse(m[1].replace(/([+-]\d\d)(\d\d)$/, "$1:$2"));
    if (!Number.isNaN(t) && t >= since) return t;
  }
  return undefined;
}

async function ctl(etcdctl: string, endpoint: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(etcdctl, {
    args: [`--endpoints=${endpoint}`, "--dial-timeout=5s", "--command-timeout=900s", ...args],
    env: { ETCDCTL_API: "3" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(`etcdctl ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return text;
}

/** Sum of etcd_server_leader_changes_seen_total over the members that answer. */
async function leaderChanges(endpoints: string[]): Promise<number> {
  let n = 0;
  for (const e of endpoints) {
    try {
      const text = await (await fetch(`http://${e}/metrics`, {
        signal: AbortSignal.timeout(5000),
      })).text();
      const m = /^etcd_server_leader_changes_seen_total (\S+)$/m.exec(text);
      if (m) n += Number(m[1]);
    } catch {
      // a member that does not answer adds nothing
    }
  }
  return n;
}

async function putFor(o: StallOptions, endpoint: string): Promise<StallJson> {
  const r = await runJson<StallJson>(o.kvtool, [
    "-mode",
    "stall",
    "-endpoint",
    endpoint,
    "-clients",
    String(o.clients),
    "-conns",
    String(Math.min(o.clients, 10)),
    "-seconds",
    String(o.seconds),
    "-keys",
    String(o.keys),
    "-prefix",
    "s/",
    "-val",
    "256",
    "-timeout",
    `${o.seconds + 60}s`,
  ], (o.seconds + 90) * 1000);
  if (!r.json || r.json.error) {
    throw new Error(`kvtool stall: ${r.json?.error ?? r.stderrTail}`);
  }
  return r.json;
}

function phaseOf(j: StallJson, elections: number): StallPhase {
  const notes: string[] = [];
  if (j.first_error) notes.push(`first put error: ${j.first_error}`);
  return {
    all: { ok: j.ok, p99Ms: j.p99_ms, maxMs: j.max_ms },
    errors: j.errors,
    rps: j.rps,
    elections,
    happened: false,
    notes,
  };
}

/** A snapshot phase whose window is read from the log once the members stopped. */
interface PendingSnapshot {
  phase: StallPhase;
  samples: [number, number][];
  t0: number;
}

async function snapshotPhase(o: StallOptions, c: Cluster): Promise<PendingSnapshot> {
  const before = await leaderChanges(c.endpoints);
  const t0 = Date.now();
  const j = await putFor(o, c.leader);
  return { phase: phaseOf(j, (await leaderChanges(c.endpoints)) - before), samples: j.samples, t0 };
}

/**
 * The snapshot's window from the leader's log lines. Read after the
 * members stopped: the log pump (server.ts spawnLogged) may hold lines
 * back until the process ends.
 */
async function snapshotWindow(p: PendingSnapshot, logFile: string): Promise<StallPhase> {
  const log = await readLog(logFile);
  const start = logTime(log, "triggering snapshot", p.t0);
  const end = start === undefined ? undefined : logTime(log, "saved snapshot", start);
  const phase = p.phase;
  phase.happened = end !== undefined;
  if (start !== undefined && end !== undefined) {
    phase.window = {
      ...windowStats(p.samples, start, end),
      startMs: start - p.t0,
      endMs: end - p.t0,
    };
  } else {
    phase.notes.push(`no snapshot seen in ${logFile} during the phase`);
  }
  return phase;
}

async function defragPhase(o: StallOptions, c: Cluster): Promise<StallPhase> {
  const status = JSON.parse(await ctl(o.etcdctl, c.leader, ["endpoint", "status", "-w", "json"]));
  const rev = status[0].Status.header.revision;
  await ctl(o.etcdctl, c.leader, ["compact", String(rev), "--physical"]);
  const before = await leaderChanges(c.endpoints);
  const t0 = Date.now();
  const puts = putFor(o, c.leader);
  await new Promise((r) => setTimeout(r, 2000));
  const start = Date.now();
  let end: number | undefined;
  let failure: string | undefined;
  try {
    await ctl(o.etcdctl, c.leader, ["defrag"]);
    end = Date.now();
  } catch (e) {
    failure = (e as Error).message;
  }
  const j = await puts;
  const p = phaseOf(j, (await leaderChanges(c.endpoints)) - before);
  p.happened = end !== undefined;
  if (failure) p.notes.push(failure);
  if (end !== undefined) {
    p.window = { ...windowStats(j.samples, start, end), startMs: start - t0, endMs: end - t0 };
    if (end - t0 > o.seconds * 1000) p.notes.push("the defrag outlasted the writers");
  }
  return p;
}

/** Measures one system: load, snapshot phase, defrag phase. */
async function measure(o: StallOptions, spec: ServerSpec): Promise<StallRun> {
  const run: StallRun = {
    system: spec.name,
    keys: o.keys,
    members: o.members,
    clients: o.clients,
    errors: [],
  };
  const flags = [
    `--snapshot-count=${o.keys + SNAPSHOT_OFFSET}`,
    // JSON log lines with timestamps on both (etcd 3.4 defaults to capnslog).
    "--logger=zap",
  ];
  let c: Cluster;
  try {
    c = await startCluster(
      { ...spec, argv: [...spec.argv, ...flags] },
      o.workDir,
      "stall",
      o.members,
      120_000,
      o.etcdctl,
    );
  } catch (e) {
    run.errors.push(`start: ${(e as Error).message}`);
    return run;
  }
  const leaderLog = c.logFiles[c.endpoints.indexOf(c.leader)];
  let pending: PendingSnapshot | undefined;
  try {
    const load = await loadKeys(o.kvtool, c.leader, o.keys, 900);
    if (!load.json || load.json.error) {
      run.errors.push(`load: ${load.json?.error ?? load.stderrTail}`);
      return run;
    }
    run.loadSeconds = load.json.seconds;
    console.error(`${spec.name}: ${o.keys} keys loaded in ${run.loadSeconds?.toFixed(1)} s`);
    pending = await snapshotPhase(o, c);
    run.defrag = await defragPhase(o, c);
    console.error(`${spec.name}: defrag phase ${JSON.stringify(run.defrag)}`);
    if (c.exited()) run.errors.push("a member exited during the run");
  } catch (e) {
    run.errors.push((e as Error).message);
  } finally {
    await c.stop();
  }
  if (pending) {
    // Let the log pump write the last lines.
    await new Promise((r) => setTimeout(r, 300));
    run.snapshot = await snapshotWindow(pending, leaderLog);
    console.error(`${spec.name}: snapshot phase ${JSON.stringify(run.snapshot)}`);
  }
  return run;
}

/** Runs every system in turn (one cluster at a time). */
export async function runStall(o: StallOptions): Promise<StallRun[]> {
  const out: StallRun[] = [];
  for (const spec of o.specs) out.push(await measure(o, spec));
  return out;
}

function fmt(x: number | undefined): string {
  return x === undefined ? "–" : x.toFixed(1);
}

/**
 * The target as a sentence: no cairn put (in either window) waits
 * longer than etcd's slowest during its defrag, and no election on cairn.
 * Empty when either side lacks the figures.
 */
export function stallVerdict(runs: readonly StallRun[]): string {
  const etcd = runs.find((r) => r.system === "etcd")?.defrag?.window;
  const cairn = runs.find((r) => r.system === "cairn");
  const cw = [cairn?.snapshot?.window, cairn?.defrag?.window];
  if (!etcd || !cairn || cw.some((w) => w === undefined)) return "";
  const worst = Math.max(...cw.map((w) => w!.maxMs));
  const elections = (cairn.snapshot?.elections ?? 0) + (cairn.defrag?.elections ?? 0);
  const met = worst <= etcd.maxMs && elections === 0;
  return `Target ${met ? "met" : "not met"}: cairn's slowest put during its snapshot or ` +
    `defrag ${worst.toFixed(1)} ms, etcd's during its defrag ${etcd.maxMs.toFixed(1)} ms; ` +
    `elections on cairn: ${elections}.`;
}

/** A Markdown table of the runs: one row per system and phase. */
export function stallMarkdown(runs: readonly StallRun[]): string {
  const rows = [
    "| system | phase | event window (s) | p99 in window (ms) | max in window (ms) | p99 phase (ms) | max phase (ms) | puts/s | errors | elections |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of runs) {
    for (const [name, p] of [["snapshot", r.snapshot], ["defrag", r.defrag]] as const) {
      if (!p) {
        rows.push(`| ${r.system} | ${name} | – | – | – | – | – | – | – | – |`);
        continue;
      }
      const w = p.window;
      const span = w ? `${(w.startMs / 1000).toFixed(1)}–${(w.endMs / 1000).toFixed(1)}` : "–";
      rows.push(
        `| ${r.system} | ${name} | ${span} | ${fmt(w?.p99Ms)} | ${fmt(w?.maxMs)} | ` +
          `${fmt(p.all.p99Ms)} | ${fmt(p.all.maxMs)} | ${
            p.rps.toFixed(0)
          } | ${p.errors} | ${p.elections} |`,
      );
    }
  }
  const verdict = stallVerdict(runs);
  if (verdict) rows.push("", verdict);
  const first = runs[0];
  const head = first
    ? `${first.keys} keys × 256 B, ${first.members} member(s), ${first.clients} writers on the leader`
    : "";
  const notes = runs.flatMap((r) => [
    ...r.errors.map((e) => `- ${r.system}: ${e}`),
    ...[r.snapshot, r.defrag].flatMap((p) => p?.notes.map((n) => `- ${r.system}: ${n}`) ?? []),
  ]);
  return [head, "", ...rows, ...(notes.length ? ["", ...notes] : [])].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      keys: { type: "string", default: "1000000" },
      clients: { type: "string", default: "10" },
      members: { type: "string", default: "3" },
      seconds: { type: "string", default: "20" },
      systems: { type: "string", default: "etcd,cairn" },
      json: { type: "string" },
      keep: { type: "boolean", default: false },
    },
  });
  const env = (k: string) => Deno.env.get(k);
  const repo = repoRoot();
  const { etcd, cairn } = serverSpecs(repo);
  const wanted = new Set(values.systems.split(","));
  stopServersOnSignal();
  const workDir = await makeWorkDir("cairn-stall-");
  try {
    const runs = await runStall({
      specs: [etcd, cairn].filter((s) => wanted.has(s.name)),
      workDir,
      kvtool: await ensureKvtool(repo),
      etcdctl: env("ETCDCTL") ?? "etcdctl",
      keys: Number(values.keys),
      clients: Number(values.clients),
      members: Number(values.members),
      seconds: Number(values.seconds),
    });
    console.log(stallMarkdown(runs));
    if (values.json) await Deno.writeTextFile(values.json, JSON.stringify(runs, null, 2));
  } finally {
    await stopAll(1000);
    await removeWorkDir(workDir, values.keep);
  }
}
