import assert from "node:assert/strict";
import { Deadlines, SWEEP_MS } from "./deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("deadlines: fire once after their time, not before; canceled ones never", async () => {
  const d = new Deadlines();
  const fired: string[] = [];
  const t0 = performance.now();
  let firstAt = 0;
  d.add(30, () => {
    fired.push("a");
    firstAt = performance.now() - t0;
  });
  const b = d.add(30, () => fired.push("b"));
  d.add(200, () => fired.push("c"));
  b.cancel();
  await sleep(15);
  assert.deepEqual(fired, [], "nothing before its deadline");
  await sleep(30 + 3 * SWEEP_MS);
  assert.deepEqual(fired, ["a"]);
  assert.ok(firstAt >= 30, `fired at ${firstAt} ms`);
  await sleep(250);
  assert.deepEqual(fired, ["a", "c"]);
  assert.equal(d.size, 0);
});
