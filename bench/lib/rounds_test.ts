import assert from "node:assert/strict";
import { type RoundClock, type RoundKind, runRounds } from "./rounds.ts";

/** A fake clock: each kind's round advances it by that kind's cost. */
function setup(costs: Record<string, number>, rounds: Record<string, number>, deadlineMs: number) {
  let now = 0;
  const log: string[] = [];
  const notes: string[] = [];
  const kinds: RoundKind[] = Object.keys(costs).map((name) => ({
    name,
    rounds: rounds[name],
    run: (r) => {
      log.push(`${name}${r}`);
      now += costs[name];
      return Promise.resolve();
    },
  }));
  const clock: RoundClock = {
    elapsedMs: () => now,
    deadlineMs,
    aborted: () => false,
    note: (t) => notes.push(t),
  };
  return { kinds, clock, log, notes };
}

Deno.test("runRounds runs round 1 of every kind before any round 2", async () => {
  const { kinds, clock, log, notes } = setup(
    { scenarios: 10, cluster: 10, watch: 10 },
    { scenarios: 3, cluster: 2, watch: 2 },
    1_000_000,
  );
  const ran = await runRounds(kinds, clock);
  assert.deepEqual(log, [
    "scenarios1",
    "cluster1",
    "watch1",
    "scenarios2",
    "cluster2",
    "watch2",
    "scenarios3",
  ]);
  assert.deepEqual(ran, { scenarios: 3, cluster: 2, watch: 2 });
  assert.deepEqual(notes, []);
});

Deno.test("runRounds skips later rounds that would not fit before the margin", async () => {
  // After round 1 the clock is at 60 s; deadline 120 s leaves 90 s usable:
  // scenarios2 (1.3 × 10 s) fits and ends at 70 s; watch2 needs 1.3 × 40 s
  // from 70 s = 122 s > 90 s: skipped, and so is every later watch round;
  // cluster2 (13 s from 70 s) still fits.
  const { kinds, clock, log, notes } = setup(
    { scenarios: 10_000, watch: 40_000, cluster: 10_000 },
    { scenarios: 2, watch: 3, cluster: 2 },
    120_000,
  );
  const ran = await runRounds(kinds, clock);
  assert.deepEqual(log, ["scenarios1", "watch1", "cluster1", "scenarios2", "cluster2"]);
  assert.deepEqual(ran, { scenarios: 2, watch: 1, cluster: 2 });
  assert.deepEqual(notes, ["only 1 round(s) of watch: not enough time left"]);
});

Deno.test("runRounds starts nothing once aborted", async () => {
  const { kinds, clock, log } = setup({ a: 1, b: 1 }, { a: 2, b: 2 }, 1_000_000);
  let calls = 0;
  clock.aborted = () => ++calls > 1; // aborted after the first round started
  await runRounds(kinds, clock);
  assert.deepEqual(log, ["a1"]);
});
