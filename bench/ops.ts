/**
 * The operations rows of `make bench`, written to bench/OPS.md:
 *
 * - put latency while a periodic snapshot of the whole store is written and
 *   while Defragment runs (issue 14 part 6), cairn beside etcd, measured by
 *   bench/lib/stall.ts on 3-member clusters loaded with `--keys` keys;
 * - the dashboard's time to first render of a prefix holding 100,000 keys
 *   (issue 13), measured by bench/lib/dashboard.ts in headless Chromium on
 *   a fresh cairn member (etcd has no dashboard: absolute milliseconds).
 *
 *   deno run -A bench/ops.ts [--keys 1000000] [--members 3] [--clients 10]
 *     [--seconds 20] [--dashboard-keys 100000] [--only stall,dashboard]
 *
 * Environment: CAIRN_CMD, ETCD_CMD, BENCH_DIR, ETCDCTL, KVTOOL, CHROMIUM_BIN.
 *
 * @module
 */
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { type DashboardLoadResult, measureDashboardLoad } from "./lib/dashboard.ts";
import { stopAll } from "./lib/proc.ts";
import { type ServerSpec, startServer } from "./lib/server.ts";
import {
  errorText,
  makeWorkDir,
  removeWorkDir,
  serverSpecs,
  stopServersOnSignal,
} from "./lib/setup.ts";
import { runStall, stallMarkdown, type StallRun } from "./lib/stall.ts";
import { ensureKvtool, repoRoot } from "./lib/tools.ts";

const { values: opts } = parseArgs({
  options: {
    keys: { type: "string", default: "1000000" },
    members: { type: "string", default: "3" },
    clients: { type: "string", default: "10" },
    seconds: { type: "string", default: "20" },
    "dashboard-keys": { type: "string", default: "100000" },
    only: { type: "string", default: "stall,dashboard" },
    keep: { type: "boolean", default: false },
  },
});

const env = (k: string) => Deno.env.get(k);
const ONLY = new Set(opts.only.split(","));

/** A fresh cairn member, the dashboard row measured on it, then stopped. */
async function dashboardRow(
  spec: ServerSpec,
  workDir: string,
  kvtool: string,
): Promise<DashboardLoadResult> {
  const server = await startServer(spec, workDir, "dashboard", kvtool, 60_000);
  try {
    return await measureDashboardLoad(`http://${server.endpoint}`, {
      keys: Number(opts["dashboard-keys"]),
    });
  } finally {
    await server.stop();
  }
}

function dashboardMarkdown(r: DashboardLoadResult): string {
  return [
    "| keys under the prefix | median first render (ms) | samples (ms) | entries on the first page |",
    "|---|---|---|---|",
    `| ${r.keys} | ${r.median_ms} | ${r.samples_ms.join(", ")} | ${r.entries_shown} |`,
  ].join("\n");
}

async function main(): Promise<number> {
  const began = performance.now();
  const repo = repoRoot();
  const { etcd, cairn } = serverSpecs(repo);
  const unlisten = stopServersOnSignal();
  const workDir = await makeWorkDir("cairn-ops-");
  const errors: string[] = [];
  let stall: StallRun[] = [];
  let dashboard: DashboardLoadResult | undefined;
  try {
    const kvtool = await ensureKvtool(repo);
    if (ONLY.has("stall")) {
      stall = await runStall({
        specs: [etcd, cairn],
        workDir,
        kvtool,
        etcdctl: env("ETCDCTL") ?? "etcdctl",
        keys: Number(opts.keys),
        clients: Number(opts.clients),
        members: Number(opts.members),
        seconds: Number(opts.seconds),
      }).catch((e) => {
        errors.push(`stall: ${errorText(e)}`);
        return [];
      });
    }
    if (ONLY.has("dashboard")) {
      dashboard = await dashboardRow(cairn, workDir, kvtool).catch((e) => {
        errors.push(`dashboard: ${errorText(e)}`);
        return undefined;
      });
    }
  } finally {
    await stopAll(1000);
    unlisten();
    await removeWorkDir(workDir, opts.keep);
  }
  const argv = Deno.args.length ? ` ${Deno.args.join(" ")}` : "";
  const md = [
    "# Operations bench: snapshot and defrag stalls, dashboard load",
    "",
    `Run ${new Date().toISOString()} with \`deno run -A ${
      relative(Deno.cwd(), join(repo, "bench", "ops.ts"))
    }${argv}\` (${
      ((performance.now() - began) / 1000).toFixed(0)
    } s, ${navigator.hardwareConcurrency} CPUs, Deno ${Deno.version.deno}).`,
    "",
    "## Put latency while a snapshot is written and while Defragment runs",
    "",
    stall.length ? stallMarkdown(stall) : "Not measured in this run.",
    "",
    "## Dashboard: time to first render of a prefix in headless Chromium",
    "",
    "No etcd counterpart: etcd serves no dashboard.",
    "",
    dashboard ? dashboardMarkdown(dashboard) : "Not measured in this run.",
    ...(errors.length ? ["", "Errors:", "", ...errors.map((e) => `- ${e}`)] : []),
    "",
  ].join("\n");
  const file = join(repo, "bench", "OPS.md");
  await Deno.writeTextFile(file, md);
  // `make test` runs `deno fmt --check` over the repo, tables included.
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", file] }).output();
  console.log(await Deno.readTextFile(file));
  return errors.length || stall.some((r) => r.errors.length > 0) ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
