import assert from "node:assert/strict";
import { mulberry32 } from "../../raft/sim_checks.ts";
import { Scheduler } from "./scheduler.ts";

Deno.test("scheduler: work going on in microtasks alone reaches its next event before the clock jumps to the end", async () => {
  const s = new Scheduler(mulberry32(1));
  const start = s.now;
  let ranAt: number | undefined;
  // Like a member part-way through its start, iterating a directory
  // listing through an async generator: no event is pending meanwhile.
  void (async () => {
    for (let i = 0; i < 2000; i++) await undefined;
    s.at(1, () => (ranAt = s.now));
  })();
  await s.runUntil(start + 10_000, () => {}, () => ranAt !== undefined);
  assert.equal(ranAt, start + 1, "the clock waited for the work, as real time would");
});

Deno.test("scheduler: with nothing left to do, the clock moves to the end of the run", async () => {
  const s = new Scheduler(mulberry32(1));
  const start = s.now;
  const seen: number[] = [];
  s.at(5, () => seen.push(s.now));
  await s.runUntil(start + 100, () => {});
  assert.deepEqual(seen, [start + 5]);
  assert.equal(s.now, start + 100);
});
