/**
 * `make bench-scale`: issue 15's rows at the sizes real clusters reach,
 * cairn beside etcd in one run: put to the leader of a 5-member cluster;
 * 1,000,000 keys × 256 B loaded (resident memory, ranges of 10,000 keys
 * under a prefix, count_only over the whole keyspace, restart to the first
 * linearizable get); puts of 64 KiB and 1 MiB values; 10,000 watchers on
 * distinct keys under 1,000 puts/s. One server runs at a time, the two
 * taking turns phase by phase; the whole run stays under 15 minutes
 * (partial results are written when the bound is reached). Writes its own
 * section of bench/RESULTS.md (between markers, so `make bench` keeps it).
 *
 *   deno run -A bench/scale.ts [--keys 1000000] [--watchers 10000] [--rate 1000]
 *     [--seconds 10] [--cluster-rounds 2] [--value-rounds 2] [--watch-rounds 3]
 *     [--only loaded,cluster,values,watch]
 *     [--deadline-s 870] [--keep]
 *
 * `--keys 100000 --watchers 2000` is the small-scale check (a couple of
 * minutes); the section then says it is not the issue's sizes.
 * Environment: CAIRN_CMD, ETCD_CMD, BENCH_DIR, ETCDCTL, KVBENCH, KVTOOL,
 * KVBENCH_SRC, as for bench/run.ts.
 *
 * @module
 */

import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { startCluster } from "./lib/cluster.ts";
import { stopAll } from "./lib/proc.ts";
import type { KvbenchResult, ScenarioOutcome } from "./lib/report.ts";
import type { ClusterOutcome } from "./lib/report_extra.ts";
import { runRounds } from "./lib/rounds.ts";
import {
  type LoadedOutcome,
  renderScaleSection,
  type ScaleRun,
  type ScaleWorkloads,
  spliceSection,
  type ValueWorkload,
  type WatchKeysOutcome,
  type WatchKeysResult,
} from "./lib/scale_report.ts";
import { kvbenchArgs, type Scenario, WARMUP } from "./lib/scenarios.ts";
import { type Server, type ServerSpec, startServer } from "./lib/server.ts";
import {
  errorText,
  loadKeys,
  makeWorkDir,
  removeWorkDir,
  serverSpecs,
  stopServersOnSignal,
} from "./lib/setup.ts";
import { ensureKvbench, ensureKvtool, type JsonRun, repoRoot, runJson } from "./lib/tools.ts";

const { values: opts } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    watchers: { type: "string", default: "10000" },
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "10" },
    "cluster-rounds": { type: "string", default: "2" },
    "value-rounds": { type: "string", default: "2" },
    "watch-rounds": { type: "string", default: "3" },
    only: { type: "string", default: "loaded,cluster,values,watch" },
    "deadline-s": { type: "string", default: "870" },
    keep: { type: "boolean", default: false },
  },
});

const env = (k: string) => Deno.env.get(k);
const KEYS = Number(opts.keys);
const SPAN = 10_000;
const DEADLINE_MS = Number(opts["deadline-s"]) * 1000;
const ONLY = new Set(opts.only.split(","));
const STARTUP_TIMEOUT_MS = 60_000;
/** Replaying 1,000,000 keys may take far longer than a fresh start. */
const RESTART_TIMEOUT_MS = 300_000;
const ETCDCTL = env("ETCDCTL") ?? "etcdctl";

/** The workloads; the loaded ones scale with --keys, the watch one with --watchers. */
const W: ScaleWorkloads = {
  cluster: { members: 5, clients: 100, conns: 10, total: 30_000, keys: 1000 },
  keys: KEYS,
  range: { span: SPAN, clients: 10, total: 500, limitS: 30, rounds: 2 },
  count: { clients: 1, total: 20, limitS: 30 },
  values: [
    {
      id: "put64k",
      title: "put of 64 KiB values, 10 clients / 10 conns",
      valueBytes: 64 * 1024,
      clients: 10,
      conns: 10,
      total: 1000,
      keys: 100,
    },
    {
      id: "put1m",
      title: "put of 1 MiB values, 10 clients / 10 conns",
      valueBytes: 1024 * 1024,
      clients: 10,
      conns: 10,
      total: 200,
      keys: 100,
    },
  ],
  watchKeys: {
    watchers: Number(opts.watchers),
    wconns: 10,
    rate: Number(opts.rate),
    seconds: Number(opts.seconds),
    clients: 50,
    rounds: Number(opts["watch-rounds"]),
  },
};

let aborted: string | null = null;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A JSON run's figures and, when it failed or was cut off, why. */
function outcomeOf<T extends { error?: string }>(r: JsonRun<T>, tool: string) {
  let error: string | undefined;
  if (r.timedOut) error = `${tool} killed by the harness (hung)`;
  else if (!r.json) error = `${tool} exited ${r.code}: ${r.stderrTail}`;
  else if (r.json.error) error = r.json.error;
  return { result: r.json, error };
}

/** One server's side: its spec and what has been measured on it. */
interface Side {
  spec: ServerSpec;
  run: ScaleRun;
  /** Set when it would not start: its later phases are skipped. */
  dead: boolean;
}

/** Starts a fresh member (or restarts one on the same data dir with the same id). */
async function withServer(
  side: Side,
  id: string,
  ctx: Ctx,
  use: (s: Server) => Promise<void>,
): Promise<void> {
  if (side.dead || aborted) return;
  let s: Server;
  try {
    s = await startServer(side.spec, ctx.workDir, id, ctx.kvtool, STARTUP_TIMEOUT_MS);
  } catch (e) {
    side.dead = true;
    side.run.errors.push(errorText(e));
    return;
  }
  console.error(`${side.spec.name}[${id}]: served after ${s.startupMs.toFixed(0)} ms`);
  try {
    await use(s);
  } finally {
    await s.stop();
  }
}

/** Paths the phases need. */
interface Ctx {
  workDir: string;
  kvtool: string;
  kvbench: string;
}

/** kvbench against `endpoint` with a scenario's parameters (256 B values). */
async function kvbench(ctx: Ctx, s: Scenario, endpoint: string, label: string) {
  const r = await runJson<KvbenchResult & { error?: string }>(
    ctx.kvbench,
    kvbenchArgs(s, endpoint, 60, label),
    75_000,
  );
  const o: ScenarioOutcome = outcomeOf(r, "kvbench");
  if (!o.error && o.result && o.result.errors > 0) o.error = `${o.result.errors} requests failed`;
  return o;
}

/** The 5-member row: a fresh cluster, warm-up, put to the leader. */
async function clusterRound(side: Side, r: number, ctx: Ctx): Promise<void> {
  if (side.dead || aborted) return;
  const outcome: ClusterOutcome = { result: null };
  side.run.cluster.push(outcome);
  const c0 = W.cluster;
  try {
    const c = await startCluster(
      side.spec,
      ctx.workDir,
      `c${c0.members}-${r}`,
      c0.members,
      STARTUP_TIMEOUT_MS,
      ETCDCTL,
    );
    outcome.readyMs = c.readyMs;
    try {
      await kvbench(ctx, WARMUP, c.leader, `${side.spec.name}/cluster-warmup`);
      const put: Scenario = {
        id: "cluster5",
        title: "5-member put",
        op: "put",
        clients: c0.clients,
        conns: c0.conns,
        total: c0.total,
        keys: c0.keys,
      };
      const o = await kvbench(ctx, put, c.leader, `${side.spec.name}/cluster${r}`);
      outcome.result = o.result;
      outcome.error = o.error;
      if (c.exited()) outcome.error = `${outcome.error ?? ""} a member exited during the run`;
      outcome.rss = c.rss();
    } finally {
      await c.stop();
    }
  } catch (e) {
    outcome.error = errorText(e);
  }
  const x = outcome.result;
  console.error(
    `${side.spec.name} cluster${r}: ` +
      (x ? `${x.rps.toFixed(0)} req/s p99 ${x.p99_ms} ms` : "no result") +
      (outcome.error ? ` (${outcome.error})` : ""),
  );
}

/** kvtool -mode scan on a loaded member. */
async function scan(
  ctx: Ctx,
  endpoint: string,
  op: "range" | "count",
  clients: number,
  total: number,
  limitS: number,
) {
  const r = await runJson<KvbenchResult & { error?: string }>(ctx.kvtool, [
    "-mode",
    "scan",
    "-op",
    op,
    "-endpoint",
    endpoint,
    "-n",
    String(KEYS),
    "-span",
    String(SPAN),
    "-prefix",
    "s/",
    "-clients",
    String(clients),
    "-conns",
    String(clients),
    "-total",
    String(total),
    "-for",
    `${limitS}s`,
    "-timeout",
    `${limitS + 60}s`,
  ], (limitS + 75) * 1000);
  return outcomeOf(r, "kvtool scan") as ScenarioOutcome;
}

/**
 * The loaded phase: write KEYS keys, read the memory 5 s later, range and
 * count, then stop the member and time its restart on the same data dir.
 */
async function loadedPhase(side: Side, ctx: Ctx): Promise<void> {
  const l: LoadedOutcome = { keys: KEYS, errors: [] };
  side.run.loaded = l;
  let loaded = false;
  await withServer(side, "loaded", ctx, async (s) => {
    const r = await loadKeys(ctx.kvtool, s.endpoint, KEYS, 300);
    if (r.code !== 0 || !r.json || r.json.error) {
      l.errors.push(`loading ${KEYS} keys failed: ${r.json?.error ?? r.stderrTail}`);
      return;
    }
    l.loadSeconds = r.json.seconds;
    if (r.json.count_error) l.errors.push(r.json.count_error);
    console.error(`${side.spec.name}: ${KEYS} keys loaded in ${r.json.seconds?.toFixed(1)} s`);
    // As in bench/run.ts: garbage not yet collected or handed back counts
    // right after the load; 5 s gives both runtimes the same chance.
    await sleep(5000);
    l.rss = s.rss();
    // Best of W.range.rounds, as every other row is a best round.
    l.rangeRounds = [];
    for (let i = 0; i < W.range.rounds && !aborted; i++) {
      const o = await scan(
        ctx,
        s.endpoint,
        "range",
        W.range.clients,
        W.range.total,
        W.range.limitS,
      );
      l.rangeRounds.push(o);
      if (!o.error && (l.range?.result?.rps ?? -1) < (o.result?.rps ?? 0)) l.range = o;
    }
    l.range ??= l.rangeRounds[0];
    l.count = await scan(ctx, s.endpoint, "count", W.count.clients, W.count.total, W.count.limitS);
    console.error(
      `${side.spec.name}: ${(l.rss.rssKiB / 1024).toFixed(0)} MiB; range ` +
        `${l.range.result?.rps.toFixed(1)}/s; count ${l.count.result?.rps.toFixed(1)}/s`,
    );
    loaded = !s.exited();
    if (!loaded) l.errors.push(`the server exited during the loaded phase (${s.logFile})`);
  });
  if (!loaded || aborted) return;
  // Same id: the same data dir, now holding the keys (snapshot + WAL).
  try {
    const s = await startServer(side.spec, ctx.workDir, "loaded", ctx.kvtool, RESTART_TIMEOUT_MS);
    try {
      l.restartMs = s.startupMs;
      l.restartRss = s.rss();
      console.error(`${side.spec.name}: restarted, served after ${s.startupMs.toFixed(0)} ms`);
      const check = await scan(ctx, s.endpoint, "count", 1, 1, 30);
      if (check.error) l.errors.push(`after the restart: ${check.error}`);
    } finally {
      await s.stop();
    }
  } catch (e) {
    l.errors.push(`restart: ${errorText(e)}`);
  }
}

/** The large-value rows on one fresh member: warm-up, then each value size. */
async function valuesRound(side: Side, r: number, ctx: Ctx): Promise<void> {
  await withServer(side, `values${r}`, ctx, async (s) => {
    await kvbench(ctx, WARMUP, s.endpoint, `${side.spec.name}/values-warmup`);
    for (const v of W.values) {
      if (aborted || s.exited()) break;
      const o = await valuePut(ctx, v, s.endpoint, `${side.spec.name}/${v.id}`);
      (side.run.values[v.id] ??= []).push(o);
      console.error(
        `${side.spec.name} ${v.id}: ` +
          (o.result ? `${o.result.rps.toFixed(0)} req/s p99 ${o.result.p99_ms} ms` : "no result") +
          (o.error ? ` (${o.error})` : ""),
      );
    }
  });
}

async function valuePut(ctx: Ctx, v: ValueWorkload, endpoint: string, label: string) {
  const r = await runJson<KvbenchResult & { error?: string }>(ctx.kvtool, [
    "-mode",
    "kv",
    "-op",
    "put",
    "-endpoint",
    endpoint,
    "-clients",
    String(v.clients),
    "-conns",
    String(v.conns),
    "-total",
    String(v.total),
    "-keys",
    String(v.keys),
    "-val",
    String(v.valueBytes),
    "-label",
    label,
    "-timeout",
    "90s",
  ], 105_000);
  return outcomeOf(r, "kvtool kv") as ScenarioOutcome;
}

/** The distinct-key watch row on a fresh member. */
async function watchRound(side: Side, r: number, ctx: Ctx): Promise<void> {
  await withServer(side, `watch${r}`, ctx, async (s) => {
    const w = W.watchKeys;
    const res = await runJson<WatchKeysResult>(ctx.kvtool, [
      "-mode",
      "watchkeys",
      "-endpoint",
      s.endpoint,
      "-watchers",
      String(w.watchers),
      "-wconns",
      String(w.wconns),
      "-clients",
      String(w.clients),
      "-conns",
      "5",
      "-rate",
      String(w.rate),
      "-seconds",
      String(w.seconds),
      "-val",
      "256",
      "-drain",
      "20s",
      "-timeout",
      "150s",
    ], 165_000);
    const o: WatchKeysOutcome = { ...outcomeOf(res, "kvtool watchkeys"), rss: s.rss() };
    if (s.exited()) o.error = `${o.error ?? ""} the server exited during the run`;
    side.run.watchKeys.push(o);
    const x = o.result;
    console.error(
      `${side.spec.name} watch${r}: ` +
        (x ? `put → event p99 ${x.lat_p99_ms} ms, ${x.events}/${x.events_expected}` : "no result") +
        (o.error ? ` (${o.error})` : ""),
    );
  });
}

async function commandOutput(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch (e) {
    return `unknown (${(e as Error).message})`;
  }
}

async function machine(): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];
  return `nproc ${navigator.hardwareConcurrency}, ` +
    `${cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU"}, ` +
    `${(memKiB / 1024 / 1024).toFixed(1)} GiB RAM, Linux ${Deno.osRelease()}, ` +
    `load average ${load} at the start`;
}

async function main(): Promise<number> {
  const began = performance.now();
  const repo = repoRoot();
  const deadline = setTimeout(() => {
    aborted = `aborted: the ${DEADLINE_MS / 1000}s bound on the whole run was reached`;
    console.error(aborted);
    stopAll(1000);
  }, DEADLINE_MS);
  const unlisten = stopServersOnSignal();
  const { etcd, cairn } = serverSpecs(repo);
  const specs = [etcd, cairn];
  const workDir = await makeWorkDir("cairn-scale-");
  const sides: Side[] = specs.map((spec) => ({
    spec,
    dead: false,
    run: {
      label: spec.name,
      command: spec.argv.join(" "),
      cluster: [],
      values: {},
      watchKeys: [],
      errors: [],
    },
  }));
  try {
    const ctx: Ctx = {
      workDir,
      kvbench: await ensureKvbench(repo),
      kvtool: await ensureKvtool(repo),
    };
    const machineText = await machine();
    const each = (f: (s: Side, r: number) => Promise<void>) => async (r: number) => {
      for (const side of sides) await f(side, r);
    };
    await runRounds([
      { name: "loaded", rounds: ONLY.has("loaded") ? 1 : 0, run: each((s) => loadedPhase(s, ctx)) },
      {
        name: "cluster",
        rounds: ONLY.has("cluster") ? Number(opts["cluster-rounds"]) : 0,
        run: each((s, r) => clusterRound(s, r, ctx)),
      },
      {
        name: "values",
        rounds: ONLY.has("values") ? Number(opts["value-rounds"]) : 0,
        run: each((s, r) => valuesRound(s, r, ctx)),
      },
      {
        name: "watch",
        rounds: ONLY.has("watch") ? W.watchKeys.rounds : 0,
        run: each((s, r) => watchRound(s, r, ctx)),
      },
    ], {
      elapsedMs: () => performance.now() - began,
      deadlineMs: DEADLINE_MS,
      aborted: () => aborted !== null,
      note: (text) => sides.forEach((s) => s.run.errors.push(text)),
    });
    if (aborted) sides.forEach((s) => s.run.errors.push(aborted!));
    const argv = Deno.args.length ? ` ${Deno.args.join(" ")}` : "";
    const overrides = ["CAIRN_CMD", "ETCD_CMD", "BENCH_DIR", "KVBENCH", "KVTOOL"]
      .filter((k) => env(k) !== undefined).map((k) => `${k}='${env(k)}' `).join("");
    const section = renderScaleSection(
      {
        date: new Date().toISOString(),
        machine: machineText,
        etcdVersion: (await commandOutput(specs[0].argv[0], ["--version"])).split("\n")[0],
        denoVersion: Deno.version.deno,
        command: `${overrides}deno run -A ${
          relative(Deno.cwd(), join(repo, "bench", "scale.ts"))
        }${argv}`,
        elapsedSeconds: (performance.now() - began) / 1000,
        smallScale: KEYS < 1_000_000 || W.watchKeys.watchers < 10_000,
      },
      W,
      sides[0].run,
      sides[1].run,
    );
    const file = join(repo, "bench", "RESULTS.md");
    const old = await Deno.readTextFile(file).catch(() => "");
    await Deno.writeTextFile(file, spliceSection(old, section));
    // `make test` runs `deno fmt --check` over the repo, tables included.
    await commandOutput(Deno.execPath(), ["fmt", "-q", file]);
    console.log(section);
    const failed = sides.some((s) => s.run.errors.length || s.run.loaded?.errors.length || s.dead);
    return aborted || failed ? 1 : 0;
  } finally {
    clearTimeout(deadline);
    await stopAll();
    unlisten();
    await removeWorkDir(workDir, opts.keep);
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
