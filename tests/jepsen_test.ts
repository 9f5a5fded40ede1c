/**
 * A short Jepsen-style run (see tests/jepsen/run.ts): 3 cairn members in
 * network namespaces, 4 etcdctl clients doing random get/put/CAS through
 * random members, and about 40 s of faults (SIGKILL, SIGSTOP, partitions,
 * member remove + add). The run fails when any key's history is not
 * linearizable (printing the minimal offending history), when the healed
 * cluster does not come back, or when the run did too little to mean
 * anything: too few acknowledged ops, a fault kind never applied, or a
 * planted stale read not caught by the checker.
 *
 * JEPSEN_SECONDS changes the length of the fault window, JEPSEN_SEED replays
 * a schedule of choices. Needs root for the namespaces: skipped, not failed,
 * without it.
 */
import assert from "node:assert/strict";
import { netnsUnavailable } from "./harness/netns.ts";
import { missingTools } from "./harness/tools.ts";
import { FAULT_KINDS } from "./jepsen/nemesis.ts";
import { summary, violationsText } from "./jepsen/report.ts";
import { runJepsen } from "./jepsen/run.ts";

const skipReason = missingTools() ?? netnsUnavailable();
if (skipReason) console.warn(`jepsen_test.ts: ${skipReason}`);

const SECONDS = Number(Deno.env.get("JEPSEN_SECONDS") ?? 40);
const SEED = Deno.env.get("JEPSEN_SEED");

Deno.test({
  name:
    "jepsen: get/put/CAS histories under kill, pause, partition and membership faults are linearizable",
  ignore: skipReason !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const t0 = performance.now();
    const report = await runJepsen({
      seconds: SECONDS,
      seed: SEED === undefined ? undefined : Number(SEED),
      clients: 4,
      activeKeys: 3,
      opsPerKey: 100,
      holdMs: [2000, 4000],
      quietMs: [500, 1500],
      snapshotCount: 300,
      // Each kind at least once, even on a slow machine.
      minFaults: FAULT_KINDS.length,
      log: (line) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}`),
    });
    console.log(summary(report));

    assert.equal(report.violations.length, 0, `not linearizable:\n${violationsText(report)}`);
    assert.ok(
      report.recovered,
      `the healed cluster did not recover (healthy after ${report.timing.recovery} ms, final ` +
        `reads through ${report.finalReadMembers.join(",")}): ${
          report.recoveryProblems.join("; ")
        }`,
    );
    assert.deepEqual(report.leftovers, [], "namespaces and links are all removed");
    // The run must have exercised something for its verdict to mean anything.
    const acked = report.ops.byKind.put.ok + report.ops.byKind.cas.ok;
    assert.ok(acked >= 50, `only ${acked} acknowledged writes`);
    assert.ok(report.ops.byKind.get.ok >= 50, `only ${report.ops.byKind.get.ok} answered reads`);
    for (const kind of FAULT_KINDS) {
      assert.ok(report.nemesis.counts[kind] > 0, `fault ${kind} never applied`);
    }
    assert.equal(
      report.plantedCaught,
      true,
      "the checker catches a stale read planted in this history",
    );
    assert.equal(
      report.tooBig.length,
      0,
      `keys too big to decide: ${report.tooBig.map((k) => k.key)}`,
    );
  },
});
