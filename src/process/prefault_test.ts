import assert from "node:assert/strict";
import { PrefaultedBuffers } from "./prefault.ts";
import { waitFor } from "../transport/test_util.ts";

Deno.test("prefault: the next buffer is prepared off-thread and handed out zeroed", async () => {
  const pool = new PrefaultedBuffers(1 << 20);
  // Nothing prepared yet: a fresh buffer, and the next one starts.
  const first = pool.take();
  assert.equal(first.byteLength, 1 << 20);
  await pool.settled();
  assert.ok(pool.ready, "prepared after the first take");
  const second = pool.take();
  assert.deepEqual(pool.stats, { prepared: 1, taken: 1 });
  assert.equal(second.byteLength, 1 << 20);
  assert.ok(new Uint8Array(second).every((v) => v === 0));
  assert.notEqual(second, first);
  // Taking meanwhile never waits: a fresh one while the next is prepared.
  const third = pool.take();
  assert.notEqual(third, second);
  await pool.settled();
  assert.ok(pool.ready);
});

Deno.test("prefault: a prepared buffer nobody takes is dropped", async () => {
  const pool = new PrefaultedBuffers(64 * 1024, { idleMs: 20 });
  pool.take();
  await pool.settled();
  assert.ok(pool.ready);
  await waitFor(() => !pool.ready, "the idle buffer dropped", 2000);
  assert.deepEqual(pool.stats, { prepared: 1, taken: 0 });
});
