import assert from "node:assert/strict";
import { Deadlines, SWEEP_MS } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("deadlines: fire once after their time, not before; canceled ones never", async () => {
  const d = new Deadlines();
  const fired: [string, number][] = [];
  const t0 = performance.now();
  const note = (name: string) => () => fired.push([name, performance.now() - t0]);
  d.add(30, note("a"));
  d.add(30, note("b")).cancel();
  d.add(200, note("c"));
  // Timing-independent: each one fires no earlier than its deadline, wherever
  // a loaded machine's scheduler puts the sweeps.
  await waitFor(() => fired.length >= 2, 5_000);
  await sleep(3 * SWEEP_MS); // room for a wrong second firing
  assert.deepEqual(fired.map(([n]) => n), ["a", "c"]);
  assert.ok(fired[0][1] >= 30, `a fired at ${fired[0][1]} ms`);
  assert.ok(fired[1][1] >= 200, `c fired at ${fired[1][1]} ms`);
  assert.equal(d.size, 0);
});

Deno.test("deadlines: an object target has its fire method called, once", async () => {
  const d = new Deadlines();
  let fired = 0;
  const call = {
    fire() {
      fired++;
    },
  };
  d.add(10, call);
  d.add(10, { fire: () => assert.fail("a canceled target fired") }).cancel();
  await waitFor(() => fired === 1 && d.size === 0, 5_000);
  await sleep(3 * SWEEP_MS); // room for a wrong second firing
  assert.equal(fired, 1);
});

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`not within ${ms} ms`);
    await sleep(5);
  }
}

Deno.test("deadlines: armed objects fire once each, disarmed ones never, whatever others a firing disarms", async () => {
  const d = new Deadlines();
  const fired: number[] = [];
  const calls = Array.from({ length: 8 }, (_, n) => ({
    n,
    deadlineAt: 0,
    deadlineSlot: -1,
    fire() {
      fired.push(n);
      // The first to fire disarms two others: one still due, one not.
      if (n === 5) {
        d.disarm(calls[1]);
        d.disarm(calls[7]);
      }
    },
  }));
  for (const c of calls) d.arm(c.n === 7 ? 60_000 : 10, c);
  d.disarm(calls[3]);
  d.disarm(calls[3]); // twice is once
  assert.equal(calls[3].deadlineSlot, -1);
  assert.equal(d.size, 7);
  await waitFor(() => d.size === 0, 5_000);
  await sleep(3 * SWEEP_MS); // room for a wrong second firing
  const expected = [0, 2, 4, 5, 6].concat(fired.includes(1) ? [1] : []);
  assert.deepEqual([...fired].sort(), expected.sort(), `fired ${fired}`);
  assert.ok(!fired.includes(3) && !fired.includes(7));
  for (const c of calls) assert.equal(c.deadlineSlot, -1);
  // Armed again after firing, it fires again.
  d.arm(5, calls[0]);
  await waitFor(() => fired.filter((n) => n === 0).length === 2, 5_000);
});
