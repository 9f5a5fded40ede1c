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

/** A barrier on a fake clock, for the retry tests. */
function setupClock(retryMs = 500) {
  const issued: Uint8Array[] = [];
  let now = 0;
  const barrier = new ReadBarrier({
    issue: (ctx) => issued.push(ctx),
    appliedIndex: () => 0,
    now: () => now,
    retryMs,
  });
  return { barrier, issued, setNow: (t: number) => (now = t) };
}

Deno.test("an unanswered round is sent again after retryMs with the same context", async () => {
  const { barrier, issued, setNow } = setupClock(500);
  let released = false;
  const p = barrier.wait(10_000).then(() => (released = true));
  await Promise.resolve();
  assert.equal(issued.length, 1);
  setNow(250);
  barrier.expire(250, new Error("timed out"));
  assert.equal(issued.length, 1, "not yet: it may still be answered");
  setNow(500);
  barrier.expire(500, new Error("timed out"));
  assert.equal(issued.length, 2, "dropped by a leaderless follower: sent again");
  assert.deepEqual(issued[1], issued[0]);
  setNow(750);
  barrier.expire(750, new Error("timed out"));
  assert.equal(issued.length, 2, "the retry interval starts again from the resend");
  setNow(1000);
  barrier.expire(1000, new Error("timed out"));
  assert.equal(issued.length, 3);
  barrier.onReadState(issued[2], 0);
  await p;
  assert.equal(released, true);
  barrier.onReadState(issued[0], 0); // a late duplicate answer is ignored
  setNow(5000);
  barrier.expire(5000, new Error("timed out"));
  assert.equal(issued.length, 3, "nothing in flight, nothing resent");
});

Deno.test("a new leader gets the round in flight at once; later reads still share a round", async () => {
  const { barrier, issued } = setupClock(60_000);
  const first = barrier.wait(10_000);
  await Promise.resolve();
  const second = barrier.wait(10_000); // arrives while the first round is in flight
  assert.equal(issued.length, 1);
  barrier.onLeaderChange();
  await Promise.resolve();
  assert.equal(issued.length, 2, "resent when a leader becomes known");
  assert.deepEqual(issued[1], issued[0]);
  barrier.onReadState(issued[1], 0);
  await first;
  await Promise.resolve();
  assert.equal(issued.length, 3, "the read that waited gets the next round");
  barrier.onReadState(issued[2], 0);
  await second;
  barrier.onLeaderChange();
  await Promise.resolve();
  assert.equal(issued.length, 3, "no round in flight: nothing to resend");
});

Deno.test("a round past its deadline fails instead of being resent", async () => {
  const { barrier, issued, setNow } = setupClock(100);
  const stuck = barrier.wait(300);
  await Promise.resolve();
  setNow(200);
  barrier.expire(200, new Error("timed out"));
  assert.equal(issued.length, 2);
  setNow(300);
  barrier.expire(300, new Error("timed out"));
  await assert.rejects(stuck, /timed out/);
  assert.equal(issued.length, 2);
});
