/**
 * `make jepsen` (also run by `make bench`): ten minutes of faults against 3
 * cairn members in network namespaces while clients run random get/put/CAS,
 * then a linearizability check of the whole history (see tests/jepsen/run.ts).
 * Writes bench/JEPSEN.md (op counts, fault counts, verdict, any violation with
 * its minimal witness) and prints a summary.
 *
 *   deno run -A bench/jepsen.ts [--seconds 600] [--seed N] [--clients 5]
 *                               [--out bench/JEPSEN.md] [--history file.json]
 *                               [--serializable-reads]
 *
 * `--serializable-reads` is a control run: clients read members' local state
 * (`--consistency=s`), which partitions make stale, so the verdict must come
 * out NOT linearizable (write it elsewhere with --out).
 *
 * Exit status: 0 when linearizable (or when namespaces are unavailable: not
 * root; the reason is printed and the report left alone), 1 otherwise. The
 * whole run is bounded: past the fault window plus five minutes it stops.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { netnsUnavailable } from "../tests/harness/netns.ts";
import { missingTools } from "../tests/harness/tools.ts";
import { markdown, summary, violationsText } from "../tests/jepsen/report.ts";
import { runJepsen } from "../tests/jepsen/run.ts";
import { repoRoot } from "./lib/tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "600" },
    seed: { type: "string" },
    clients: { type: "string", default: "5" },
    out: { type: "string", default: join(repoRoot(), "bench", "JEPSEN.md") },
    history: { type: "string" },
    "serializable-reads": { type: "boolean", default: false },
  },
});

const seconds = Number(values.seconds);
const clients = Number(values.clients);
if (!(seconds > 0) || !(clients > 0)) {
  console.error("jepsen: --seconds and --clients must be positive numbers");
  Deno.exit(2);
}

const unavailable = missingTools() ?? netnsUnavailable();
if (unavailable) {
  console.error(`jepsen: not run (${unavailable}); ${values.out} left as it was`);
  Deno.exit(0);
}

// Last resort if a phase hangs past its own bounds: the namespaces' watchdog
// (tests/harness/netns.ts) cleans up after the exit.
const hardStop = setTimeout(() => {
  console.error(`jepsen: still running ${seconds + 300} s after the start; stopping`);
  Deno.exit(1);
}, (seconds + 300) * 1000);

const t0 = performance.now();
const report = await runJepsen({
  seconds,
  seed: values.seed === undefined ? undefined : Number(values.seed),
  clients,
  activeKeys: 5,
  opsPerKey: 150,
  thinkMs: [30, 200],
  holdMs: [3000, 10_000],
  quietMs: [1000, 3000],
  recoverMs: 30_000,
  snapshotCount: 1000,
  serializableReads: values["serializable-reads"],
  log: (line) => console.error(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}`),
});
clearTimeout(hardStop);

const command = `deno run -A bench/jepsen.ts${Deno.args.length ? " " + Deno.args.join(" ") : ""}`;
await Deno.writeTextFile(values.out, markdown(report, command));
if (values.history) await Deno.writeTextFile(values.history, JSON.stringify(report.history));
console.log(summary(report));
if (report.violations.length > 0) console.log(violationsText(report));
console.log(`written ${values.out}`);
Deno.exit(report.verdict === "linearizable" ? 0 : 1);
