import assert from "node:assert/strict";
import { ReadBarrier } from "./read_barrier.ts";

function setup() {
  const issued: Uint8Array[] = [];
  let applied = 0;
  const barrier = new ReadBarrier({
    issue: (ctx) => issued.push(ctx),
    appliedIndex: () => applied,
  });
  return { barrier, issued, setApplied: (n: number) => (applied = n) };
}

Deno.test("reads waiting at the same moment share one ReadIndex round", async () => {
  const { barrier, issued, setApplied } = setup();
  const done: number[] = [];
  const a = barrier.wait(Infinity).then(() => done.push(1));
  const b = barrier.wait(Infinity).then(() => done.push(2));
  await Promise.resolve();
  assert.equal(issued.length, 1);
  setApplied(5);
  barrier.onReadState(issued[0], 5);
  await Promise.all([a, b]);
  assert.deepEqual(done, [1, 2]);
});

Deno.test("a round is released only once apply reaches its index", async () => {
  const { barrier, issued, setApplied } = setup();
  let released = false;
  const p = barrier.wait(Infinity).then(() => (released = true));
  await Promise.resolve();
  barrier.onReadState(issued[0], 7);
  await Promise.resolve();
  assert.equal(released, false);
  setApplied(6);
  barrier.onApplied(6);
  await Promise.resolve();
  assert.equal(released, false);
  setApplied(7);
  barrier.onApplied(7);
  await p;
  assert.equal(released, true);
});

Deno.test("reads arriving during a round wait for the next round", async () => {
  const { barrier, issued, setApplied } = setup();
  setApplied(10);
  const first = barrier.wait(Infinity);
  const second = barrier.wait(Infinity);
  await Promise.resolve();
  const third = barrier.wait(Infinity).then(() => "third");
  assert.equal(issued.length, 1);
  barrier.onReadState(issued[0], 3);
  await Promise.all([first, second]);
  // the third arrived while the first round was in flight: it needs its own
  await Promise.resolve();
  assert.equal(issued.length, 2);
  barrier.onReadState(issued[1], 10);
  assert.equal(await third, "third");
  const late = barrier.wait(Infinity);
  await Promise.resolve();
  assert.equal(issued.length, 3);
  barrier.onReadState(issued[2], 10);
  await late;
});

Deno.test("an unanswered round expires and a new one is issued for later reads", async () => {
  const { barrier, issued } = setup();
  const stuck = barrier.wait(100);
  await Promise.resolve();
  barrier.expire(200, new Error("timed out"));
  await assert.rejects(stuck, /timed out/);
  const next = barrier.wait(Infinity);
  await Promise.resolve();
  assert.equal(issued.length, 2);
  barrier.onReadState(issued[0], 0); // stale answer for the abandoned round: ignored
  barrier.onReadState(issued[1], 0);
  await next;
});
