/**
 * The JSON gateway rows of `make bench` alone (`deno run -A
 * bench/gateway_rows.ts`): JSON put and linearizable get over HTTP/1.1 at
 * 100 clients, etcd and cairn taking turns on fresh single members, with
 * the same warm-up, scenarios and kvtool as bench/run.ts. For measuring
 * the HTTP/1.1 path without the whole 10-minute run; bench/RESULTS.md
 * still comes from bench/run.ts.
 *
 * Environment: CAIRN_CMD and ETCD_CMD as bench/run.ts, BENCH_GATEWAY_ROUNDS
 * (default 3), BENCH_DIR (default /tmp).
 *
 * Prints each round's figures, then the best round of each side and the
 * ratio cairn ÷ etcd.
 *
 * @module
 */
import { GATEWAY_SCENARIOS, GATEWAY_WARMUP, kvbenchArgs } from "./lib/scenarios.ts";
import { startServer } from "./lib/server.ts";
import { makeWorkDir, removeWorkDir, serverSpecs } from "./lib/setup.ts";
import { ensureKvtool, repoRoot, runJson } from "./lib/tools.ts";

const env = (k: string) => Deno.env.get(k);
const ROUNDS = Number(env("BENCH_GATEWAY_ROUNDS") ?? 3);
const SCENARIO_TIMEOUT_S = 45;

interface Row {
  rps: number;
  p99_ms: number;
  errors: number;
}

const repo = repoRoot();
const kvtool = await ensureKvtool(repo);
const workDir = await makeWorkDir("gw-rows-");
const servers = serverSpecs(repo);
const specs = [servers.etcd, servers.cairn];
const best = new Map<string, Row>();
try {
  for (let r = 1; r <= ROUNDS; r++) {
    for (const spec of specs) {
      const server = await startServer(spec, workDir, `gw${r}`, kvtool, 60_000);
      try {
        for (const s of [GATEWAY_WARMUP, ...GATEWAY_SCENARIOS]) {
          const out = await runJson<Row>(
            kvtool,
            ["-mode", "kv", ...kvbenchArgs(s, server.endpoint, SCENARIO_TIMEOUT_S, s.id)],
            (SCENARIO_TIMEOUT_S + 15) * 1000,
          );
          if (s === GATEWAY_WARMUP) continue;
          const row = out.json;
          if (!row || row.errors > 0) {
            console.log(`${spec.name} round ${r} ${s.id}: failed (${out.stderrTail})`);
            continue;
          }
          console.log(
            `${spec.name} round ${r} ${s.id}: ${row.rps.toFixed(0)} req/s, p99 ${row.p99_ms} ms`,
          );
          const key = `${spec.name} ${s.id}`;
          if ((best.get(key)?.rps ?? -1) < row.rps) best.set(key, row);
        }
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  await removeWorkDir(workDir, false);
}
for (const s of GATEWAY_SCENARIOS) {
  const etcd = best.get(`etcd ${s.id}`);
  const cairn = best.get(`cairn ${s.id}`);
  const ratio = etcd && cairn ? `${(cairn.rps / etcd.rps).toFixed(2)}x` : "n/a";
  console.log(
    `${s.title}: etcd ${etcd?.rps.toFixed(0) ?? "-"}, cairn ${
      cairn?.rps.toFixed(0) ?? "-"
    } req/s (best of ${ROUNDS}): ${ratio}`,
  );
}
