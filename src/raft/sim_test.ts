import assert from "node:assert/strict";
import { mulberry32, Sim, SimFailure } from "./sim.ts";

/**
 * Seeds: RAFT_SIM_SEED=<n> replays one (with a trace on failure);
 * RAFT_SIM_SEEDS=<count> runs more than the default 300.
 */
function seeds(): number[] {
  const one = Deno.env.get("RAFT_SIM_SEED");
  if (one !== undefined) return [Number(one)];
  const count = Number(Deno.env.get("RAFT_SIM_SEEDS") ?? "300");
  return Array.from({ length: count }, (_, i) => i + 1);
}

Deno.test("mulberry32 is deterministic and in [0, 1)", () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  for (let i = 0; i < 1000; i++) {
    const x = a();
    assert.equal(x, b());
    assert.ok(x >= 0 && x < 1);
  }
});

Deno.test("simulation: safety under faults, progress after healing (3 and 5 members)", () => {
  const list = seeds();
  const trace = Deno.env.get("RAFT_SIM_SEED") !== undefined;
  const totals = { elections: 0, applied: 0, snapshots: 0, reads: 0, confChanges: 0, crashes: 0 };
  for (const seed of list) {
    const sim = new Sim({
      seed,
      size: seed % 2 === 0 ? 5 : 3,
      chaosTicks: 800,
      healTicks: 400,
      trace,
      traceLines: Number(Deno.env.get("RAFT_SIM_TRACE_LINES") ?? "60"),
    });
    try {
      sim.run();
    } catch (e) {
      if (e instanceof SimFailure) {
        console.error(
          `FAILED seed ${seed} (replay: RAFT_SIM_SEED=${seed} deno test -A src/raft/sim_test.ts)`,
        );
      }
      throw e;
    }
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += sim.stats[k];
  }
  console.log(`${list.length} seeds:`, JSON.stringify(totals));
  // The runs must actually have exercised the machinery they claim to test.
  assert.ok(totals.applied > list.length * 10);
  if (list.length >= 50) {
    assert.ok(totals.snapshots > 0 && totals.reads > 0 && totals.confChanges > 0);
  }
});
