/**
 * `make bench`: cairn and etcd side by side on this machine, in one run.
 *
 * Each server is measured alone (never both at once, so they do not compete
 * for the cores) with the same Go clientv3 tools: start-up time over three
 * fresh starts, idle memory, memory after 100k keys, the kvbench scenarios,
 * put against the leader of a 3-member cluster, the JSON gateway rows (put
 * and linearizable get over HTTP/1.1), the auth rows (Authenticate
 * and put with a token, on a member with auth enabled), the watch rows (1,000
 * watchers: put -> event latency, puts/s while they receive), and put at 1
 * client against the physical floor (fdatasync of a small append, probed
 * on the data dirs' disk before each scenario round, plus cairn's 1-client
 * serializable get; lib/floor.ts). Writes bench/RESULTS.md and prints it.
 *
 * Environment overrides: CAIRN_CMD (default `deno run -A --v8-flags=<the
 * Makefile's CAIRN_V8_FLAGS> <repo>/main.ts`, see lib/cairn_cmd.ts),
 * ETCD_CMD (default `etcd`), BENCH_DIR (parent of the temp data dirs,
 * default /tmp), BENCH_SCALE (multiplies request totals, e.g. 0.1 for a
 * quick check), BENCH_KEYS (keys for the memory row, default 100000),
 * BENCH_ROUNDS, BENCH_CLUSTER_ROUNDS, BENCH_WATCH_ROUNDS, BENCH_TLS_ROUNDS,
 * BENCH_AUTH_ROUNDS, BENCH_GATEWAY_ROUNDS (rounds of each kind),
 * BENCH_KEEP=1 (keep data dirs and logs), KVBENCH, KVTOOL, KVBENCH_SRC,
 * ETCDCTL (finds the cluster's leader).
 *
 * @module
 */

import { join, relative } from "node:path";
import { defaultCairnArgv } from "./lib/cairn_cmd.ts";
import { startCluster } from "./lib/cluster.ts";
import { stopAll } from "./lib/proc.ts";
import {
  bestOutcome,
  type ExtraWorkloads,
  type KvbenchResult,
  renderResults,
  type RunInfo,
  type SystemRun,
} from "./lib/report.ts";
import type { ClusterOutcome, WatchOutcome } from "./lib/report_extra.ts";
import { type RoundKind, runRounds } from "./lib/rounds.ts";
import { carryOverSections } from "./lib/scale_report.ts";
import { makeBenchCerts } from "./lib/certs.ts";
import { floorSection } from "./lib/floor.ts";
import { DEFAULT_PROBE, type ProbeFileKind, probeFsync } from "./lib/fsync_probe.ts";
import { loadKeys } from "./lib/setup.ts";
import {
  AUTH_SCENARIOS,
  GATEWAY_SCENARIOS,
  GATEWAY_WARMUP,
  kvbenchArgs,
  type Scenario,
  SCENARIOS,
  TLS_SCENARIOS,
  WARMUP,
} from "./lib/scenarios.ts";
import { kvtoolTlsArgs, type Server, type ServerSpec, startServer } from "./lib/server.ts";
import { ensureKvbench, ensureKvtool, repoRoot, runJson } from "./lib/tools.ts";
import { WATCH, watchArgs, type WatchResult, type WatchWorkload } from "./lib/watch.ts";

const env = (k: string) => Deno.env.get(k);
/** Whole run stays under 10 minutes: past this, everything is killed and partial results written. */
const DEADLINE_MS = Number(env("BENCH_DEADLINE_S") ?? 570) * 1000;
const STARTUP_TIMEOUT_MS = 60_000;
const SCENARIO_TIMEOUT_S = 45;
const LOAD_TIMEOUT_S = 120;
const KEYS = Number(env("BENCH_KEYS") ?? 100_000);
const SCALE = Number(env("BENCH_SCALE") ?? 1);
/** Fresh starts per server used only for start-up time (memory and scenario runs add more). */
const STARTUP_ONLY = 3;
/** Scenario rounds per server, alternating servers; the best round is reported. */
const ROUNDS = Number(env("BENCH_ROUNDS") ?? 3);
/**
 * Fresh 3-member clusters per server for the cluster row. Its figure swings
 * more than the single-member ones (etcd against etcd: 5.7k-8.7k req/s), so
 * it gets as many rounds as the scenarios; a round costs about 30 s.
 */
const CLUSTER_ROUNDS = Number(env("BENCH_CLUSTER_ROUNDS") ?? 3);
/** TLS rounds per server (fresh single member with an https client URL each). */
const TLS_ROUNDS = Number(env("BENCH_TLS_ROUNDS") ?? 3);
/** JSON gateway rounds per server (fresh single member each). */
const GATEWAY_ROUNDS = Number(env("BENCH_GATEWAY_ROUNDS") ?? 2);
/** Auth rounds per server (fresh single member with auth enabled each). */
const AUTH_ROUNDS = Number(env("BENCH_AUTH_ROUNDS") ?? 1);
/** The user kvtool -mode authsetup creates for the auth rows. */
const AUTH_USER = ["-user", "bench", "-password", "benchpw"];
/** Watch rounds per server (fresh single member each); 40-60 s a round on cairn today. */
const WATCH_ROUNDS = Number(env("BENCH_WATCH_ROUNDS") ?? 2);
const WATCH_TIMEOUT_S = 120;
const ETCDCTL = env("ETCDCTL") ?? "etcdctl";
/** The cluster row: put100's parameters against the leader of a 3-member cluster. */
const CLUSTER_PUT: Scenario = {
  id: "cluster-put100",
  title: "3-member cluster: put, 100 clients / 10 conns",
  op: "put",
  clients: 100,
  conns: 10,
  total: 30000,
  keys: 1000,
};

let aborted: string | null = null;

/** fdatasync samples (ms) by file kind, from every scenario round's probe. */
const fsyncSamples: Partial<Record<ProbeFileKind, number[]>> = {};

/**
 * The disk half of the floor, probed with no server running (a fraction of
 * a second): both file kinds, in the directory the data dirs live in.
 */
async function probeDisk(workDir: string): Promise<void> {
  for (const kind of ["fresh", "zeroed"] as const) {
    try {
      (fsyncSamples[kind] ??= []).push(...await probeFsync(workDir, kind));
    } catch (e) {
      console.error(`fdatasync probe (${kind}) failed: ${errorText(e)}`);
    }
  }
  const med = (xs: number[] = []) => [...xs].sort((a, b) => a - b)[xs.length >> 1]?.toFixed(3);
  console.error(
    `fdatasync p50 so far: fresh ${med(fsyncSamples.fresh)} ms, ` +
      `zeroed ${med(fsyncSamples.zeroed)} ms`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function splitCommand(cmd: string): string[] {
  return cmd.trim().split(/\s+/);
}

function scaled(s: Scenario): Scenario {
  return { ...s, total: Math.max(100, Math.round(s.total * SCALE)) };
}

function scaledWatch(): WatchWorkload {
  return {
    ...WATCH,
    total: Math.max(100, Math.round(WATCH.total * SCALE)),
    latencyPuts: Math.max(20, Math.round(WATCH.latencyPuts * SCALE)),
  };
}

async function commandOutput(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch (e) {
    return `unknown (${(e as Error).message})`;
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Starts a fresh member, records its start-up sample, and hands it to `use`. */
async function withServer(
  spec: ServerSpec,
  run: SystemRun,
  workDir: string,
  id: string,
  kvtool: string,
  use: (s: Server) => Promise<void>,
): Promise<void> {
  const server = await startServer(spec, workDir, id, kvtool, STARTUP_TIMEOUT_MS);
  // A TLS start is not a start-up sample: the cleartext starts are compared.
  if (!spec.tls) run.startupMs.push(server.startupMs);
  console.error(`${spec.name}[${id}]: served after ${server.startupMs.toFixed(0)} ms`);
  try {
    await use(server);
  } finally {
    await server.stop();
  }
}

/**
 * Runs one scenario with kvbench, or, for a TLS server or as an
 * authenticated user, with kvtool's kv mode (the same load, with -cacert
 * or -user): `tool` says which.
 */
async function runScenario(
  tool: { bin: string; tls?: ServerSpec["tls"]; auth?: boolean; gateway?: boolean },
  s: Scenario,
  server: Pick<Server, "endpoint" | "exited" | "logFile">,
  label: string,
) {
  const args = kvbenchArgs(s, server.endpoint, SCENARIO_TIMEOUT_S, label);
  const r = await runJson<KvbenchResult>(
    tool.bin,
    tool.tls
      ? ["-mode", "kv", ...args, ...kvtoolTlsArgs(tool.tls)]
      : tool.auth
      ? ["-mode", "kv", ...args, ...AUTH_USER]
      : tool.gateway
      ? ["-mode", "kv", ...args]
      : args,
    (SCENARIO_TIMEOUT_S + 15) * 1000,
  );
  let error: string | undefined;
  if (r.timedOut) error = "killed by the harness (hung)";
  else if (!r.json) error = `kvbench exited ${r.code}: ${r.stderrTail}`;
  else if (r.json.errors > 0) {
    error = `${r.json.errors} requests failed` +
      (r.json.seconds >= SCENARIO_TIMEOUT_S - 1 ? ` (hit the ${SCENARIO_TIMEOUT_S}s bound)` : "");
  }
  if (server.exited()) {
    error = `${error ?? ""} a server exited during the run (${server.logFile})`;
  }
  return { result: r.json, error };
}

/** One server under test and what has been measured on it so far. */
interface Side {
  spec: ServerSpec;
  run: SystemRun;
  /** Set when it failed to start: its later phases are skipped. */
  dead: boolean;
  /** The same server with an https client URL (the TLS rows). */
  tlsSpec?: ServerSpec;
}

/** Runs one phase on a fresh server; a failure to start retires the side, never throws. */
async function phase(
  side: Side,
  id: string,
  workDir: string,
  kvtool: string,
  use: (s: Server) => Promise<void>,
): Promise<void> {
  if (side.dead || aborted) return;
  try {
    await withServer(side.spec, side.run, workDir, id, kvtool, use);
  } catch (e) {
    side.dead = true;
    side.run.errors.push(errorText(e));
    console.error(`${side.spec.name}: ${errorText(e)}`);
  }
}

/** Writes KEYS distinct keys with kvtool, then records the resident memory. */
async function loadAndMeasure(side: Side, s: Server, kvtool: string): Promise<void> {
  // kvtool's default prefix, as this row has always loaded.
  const r = await loadKeys(kvtool, s.endpoint, KEYS, LOAD_TIMEOUT_S, "mem");
  if (r.code !== 0 || !r.json || r.json.error) {
    side.run.errors.push(`loading ${KEYS} keys failed: ${r.json?.error ?? r.stderrTail}`);
    return;
  }
  side.run.loadSeconds = r.json.seconds;
  if (r.json.count_error) {
    side.run.errors.push(
      `all puts of the load succeeded, but the check failed: ${r.json.count_error}`,
    );
  }
  // Settle first: right after the load, garbage not yet collected or
  // returned is resident too (etcd drops from ~145 to ~95 MiB within 3 s as
  // Go's scavenger hands pages back). 5 s gives both runtimes the same chance.
  await sleep(5000);
  side.run.loadedRss = s.rss();
  console.error(`${side.spec.name}: ${(side.run.loadedRss.rssKiB / 1024).toFixed(1)} MiB loaded`);
}

/** One round: every scenario in order on one server. */
async function scenarioRound(
  side: Side,
  s: Server,
  tool: { bin: string; tls?: ServerSpec["tls"]; auth?: boolean; gateway?: boolean },
  scenarios: readonly Scenario[],
  warmup: Scenario = WARMUP,
): Promise<void> {
  await runScenario(tool, scaled(warmup), s, `${side.spec.name}/warmup`);
  for (const sc of scenarios.map(scaled)) {
    if (aborted || s.exited()) break;
    const o = await runScenario(tool, sc, s, `${side.spec.name}/${sc.id}`);
    (side.run.rounds[sc.id] ??= []).push(o);
    console.error(
      `${side.spec.name} ${sc.id}: ` +
        (o.result ? `${o.result.rps.toFixed(0)} req/s p99 ${o.result.p99_ms} ms` : "no result") +
        (o.error ? ` (${o.error})` : ""),
    );
  }
}

/**
 * One cluster round: a fresh cluster of the side's server, put against its
 * leader, then stopped. Failures become the round's error, never throw.
 */
async function clusterRound(side: Side, id: string, workDir: string, kvbench: string) {
  if (aborted) return;
  const outcome: ClusterOutcome = { result: null };
  (side.run.cluster ??= []).push(outcome);
  try {
    const c = await startCluster(side.spec, workDir, id, 3, STARTUP_TIMEOUT_MS, ETCDCTL);
    outcome.readyMs = c.readyMs;
    console.error(`${side.spec.name}[${id}]: leader ${c.leader} after ${c.readyMs.toFixed(0)} ms`);
    try {
      const target = { endpoint: c.leader, exited: c.exited, logFile: c.logFiles.join(", ") };
      const tool = { bin: kvbench };
      await runScenario(tool, scaled(WARMUP), target, `${side.spec.name}/${id}/warmup`);
      const o = await runScenario(tool, scaled(CLUSTER_PUT), target, `${side.spec.name}/${id}`);
      outcome.result = o.result;
      outcome.error = o.error;
      outcome.rss = c.rss();
    } finally {
      await c.stop();
    }
  } catch (e) {
    outcome.error = errorText(e);
  }
  console.error(
    `${side.spec.name} ${id}: ` +
      (outcome.result
        ? `${outcome.result.rps.toFixed(0)} req/s p99 ${outcome.result.p99_ms} ms`
        : "no result") +
      (outcome.error ? ` (${outcome.error})` : ""),
  );
}

/** One watch round on a fresh single member: kvtool -mode watch. */
async function watchRound(side: Side, s: Server, kvtool: string): Promise<void> {
  const r = await runJson<WatchResult>(
    kvtool,
    watchArgs(scaledWatch(), s.endpoint, WATCH_TIMEOUT_S),
    (WATCH_TIMEOUT_S + 15) * 1000,
  );
  const outcome: WatchOutcome = { result: r.json, rss: s.rss() };
  if (r.timedOut) outcome.error = "killed by the harness (hung)";
  else if (!r.json) outcome.error = `kvtool exited ${r.code}: ${r.stderrTail}`;
  else if (r.json.error) outcome.error = r.json.error;
  if (s.exited()) {
    outcome.error = `${outcome.error ?? ""} server exited during the run (${s.logFile})`;
  }
  (side.run.watch ??= []).push(outcome);
  const x = r.json;
  console.error(
    `${side.spec.name} watch: ` +
      (x
        ? `latency p50 ${x.lat_p50_ms} p99 ${x.lat_p99_ms} ms; ${x.rps?.toFixed(0)} puts/s, ` +
          `${x.events}/${x.events_expected} events`
        : "no result") +
      (outcome.error ? ` (${outcome.error})` : ""),
  );
}

/**
 * Measures both servers, alternating between them phase by phase (never
 * both running at once), so drift in the machine's background load hits
 * both alike. Failures become notes in the results, never exceptions.
 */
async function measureBoth(
  specs: ServerSpec[],
  workDir: string,
  kvbench: string,
  kvtool: string,
  began: number,
): Promise<SystemRun[]> {
  const tls = await makeBenchCerts(workDir).catch((e) => {
    console.error(`no TLS rows: ${errorText(e)}`);
    return undefined;
  });
  const sides: Side[] = specs.map((spec) => ({
    spec,
    tlsSpec: tls ? { ...spec, tls } : undefined,
    dead: false,
    run: {
      label: spec.name,
      command: spec.argv.join(" "),
      startupMs: [],
      scenarios: {},
      rounds: {},
      errors: [],
    },
  }));
  // Every fresh start is a start-up sample: etcd's own varies from 0.1 to
  // 1.1 s with its randomized first election timeout, hence several.
  for (let i = 1; i <= STARTUP_ONLY; i++) {
    for (const side of sides) {
      await phase(side, `start${i}`, workDir, kvtool, async (s) => {
        if (i > 1) return;
        await sleep(1000);
        side.run.idleRss = s.rss();
      });
    }
  }
  for (const side of sides) {
    await phase(side, "memory", workDir, kvtool, (s) => loadAndMeasure(side, s, kvtool));
  }
  const kinds: RoundKind[] = [
    {
      name: "scenarios",
      rounds: ROUNDS,
      run: async (r) => {
        await probeDisk(workDir);
        for (const side of sides) {
          await phase(
            side,
            `round${r}`,
            workDir,
            kvtool,
            (s) => scenarioRound(side, s, { bin: kvbench }, SCENARIOS),
          );
        }
      },
    },
    {
      name: "cluster",
      rounds: CLUSTER_ROUNDS,
      run: async (r) => {
        for (const side of sides) await clusterRound(side, `cluster${r}`, workDir, kvbench);
      },
    },
    {
      name: "tls",
      rounds: TLS_ROUNDS,
      run: async (r) => {
        for (const side of sides) {
          const spec = side.tlsSpec;
          if (!spec) continue;
          await phase(
            { ...side, spec },
            `tls${r}`,
            workDir,
            kvtool,
            (s) => scenarioRound(side, s, { bin: kvtool, tls: spec.tls }, TLS_SCENARIOS),
          );
        }
      },
    },
    {
      name: "gateway",
      rounds: GATEWAY_ROUNDS,
      run: async (r) => {
        for (const side of sides) {
          await phase(
            side,
            `gateway${r}`,
            workDir,
            kvtool,
            (s) =>
              scenarioRound(
                side,
                s,
                { bin: kvtool, gateway: true },
                GATEWAY_SCENARIOS,
                GATEWAY_WARMUP,
              ),
          );
        }
      },
    },
    {
      name: "auth",
      rounds: AUTH_ROUNDS,
      run: async (r) => {
        for (const side of sides) {
          await phase(side, `auth${r}`, workDir, kvtool, async (s) => {
            const setup = await runJson<{ error?: string }>(kvtool, [
              "-mode",
              "authsetup",
              "-endpoint",
              s.endpoint,
              "-timeout",
              "30s",
            ], 45_000);
            if (!setup.json || setup.json.error) {
              side.run.errors.push(`auth setup failed: ${setup.json?.error ?? setup.stderrTail}`);
              return;
            }
            await scenarioRound(side, s, { bin: kvtool, auth: true }, AUTH_SCENARIOS);
          });
        }
      },
    },
    {
      name: "watch",
      rounds: WATCH_ROUNDS,
      run: async (r) => {
        for (const side of sides) {
          await phase(side, `watch${r}`, workDir, kvtool, (s) => watchRound(side, s, kvtool));
        }
      },
    },
  ];
  await runRounds(kinds, {
    elapsedMs: () => performance.now() - began,
    deadlineMs: DEADLINE_MS,
    aborted: () => aborted !== null,
    note: (text) => sides.forEach((side) => side.run.errors.push(text)),
  });
  for (const side of sides) {
    for (const [id, outcomes] of Object.entries(side.run.rounds)) {
      side.run.scenarios[id] = bestOutcome(outcomes);
    }
    if (aborted) side.run.errors.push(aborted);
  }
  return sides.map((s) => s.run);
}

function exactCommand(repo: string): string {
  const overrides = [
    "CAIRN_CMD",
    "ETCD_CMD",
    "BENCH_DIR",
    "BENCH_SCALE",
    "BENCH_KEYS",
    "BENCH_ROUNDS",
    "BENCH_CLUSTER_ROUNDS",
    "BENCH_WATCH_ROUNDS",
    "BENCH_TLS_ROUNDS",
    "BENCH_AUTH_ROUNDS",
    "BENCH_GATEWAY_ROUNDS",
    "ETCDCTL",
    "BENCH_DEADLINE_S",
    "KVBENCH",
    "KVTOOL",
    "KVBENCH_SRC",
  ]
    .filter((k) => env(k) !== undefined)
    .map((k) => `${k}='${env(k)}'`);
  const script = relative(Deno.cwd(), join(repo, "bench", "run.ts")) || "bench/run.ts";
  return [...overrides, "deno run -A", script].join(" ");
}

async function machineInfo(
  etcdCmd: string[],
): Promise<Omit<RunInfo, "command" | "dataDir" | "elapsedSeconds">> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(meminfo.match(/^MemTotal:\s+(\d+)/m)?.[1] ?? 0);
  const etcdVersion = (await commandOutput(etcdCmd[0], [...etcdCmd.slice(1), "--version"]))
    .split("\n")[0];
  return {
    date: new Date().toISOString(),
    nproc: navigator.hardwareConcurrency,
    cpu: cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU",
    memTotal: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `Linux ${Deno.osRelease()}`,
    etcdVersion,
    denoVersion: Deno.version.deno,
    keys: KEYS,
    valueBytes: 256,
  };
}

async function main(): Promise<number> {
  const began = performance.now();
  const repo = repoRoot();
  const deadline = setTimeout(() => {
    aborted = `aborted: the ${DEADLINE_MS / 1000}s bound on the whole run was reached`;
    console.error(aborted);
    stopAll(1000);
  }, DEADLINE_MS);
  const onSignal = () => {
    console.error("interrupted: stopping servers");
    stopAll(1000).finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  const etcdSpec: ServerSpec = { name: "etcd", argv: splitCommand(env("ETCD_CMD") ?? "etcd") };
  const cairnSpec: ServerSpec = {
    name: "cairn",
    argv: env("CAIRN_CMD") ? splitCommand(env("CAIRN_CMD")!) : defaultCairnArgv(repo),
  };
  const parent = env("BENCH_DIR") ?? "/tmp";
  await Deno.mkdir(parent, { recursive: true });
  const workDir = await Deno.makeTempDir({ dir: parent, prefix: "cairn-bench-" });
  try {
    const kvbench = await ensureKvbench(repo);
    const kvtool = await ensureKvtool(repo);
    const info = await machineInfo(etcdSpec.argv);
    const [etcd, cairn] = await measureBoth([etcdSpec, cairnSpec], workDir, kvbench, kvtool, began);
    const extras: ExtraWorkloads = {
      cluster: { members: 3, ...scaled(CLUSTER_PUT) },
      watch: scaledWatch(),
    };
    const md = renderResults(
      {
        ...info,
        command: exactCommand(repo),
        dataDir: workDir,
        elapsedSeconds: (performance.now() - began) / 1000,
      },
      [...SCENARIOS, ...TLS_SCENARIOS, ...GATEWAY_SCENARIOS, ...AUTH_SCENARIOS].map(scaled),
      etcd,
      cairn,
      extras,
      floorSection({
        fsyncMs: fsyncSamples,
        appendBytes: DEFAULT_PROBE.bytes,
        cairnGet: cairn.rounds["getser1"] ?? [],
        put1: { etcd: etcd.scenarios["put1"], cairn: cairn.scenarios["put1"] },
      }),
    );
    const resultsFile = join(repo, "bench", "RESULTS.md");
    // The scale section (make bench-scale) is another run's, the
    // explanations of missed targets are hand-written: carry them over.
    const old = await Deno.readTextFile(resultsFile).catch(() => "");
    await Deno.writeTextFile(resultsFile, carryOverSections(old, md));
    // `make test` runs `deno fmt --check` over the repo, tables included.
    await commandOutput(Deno.execPath(), ["fmt", "-q", resultsFile]);
    console.log(await Deno.readTextFile(resultsFile));
    return aborted || etcd.errors.length || cairn.errors.length ? 1 : 0;
  } finally {
    clearTimeout(deadline);
    await stopAll();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    if (env("BENCH_KEEP")) console.error(`kept ${workDir}`);
    else await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  Deno.exit(await main());
}
