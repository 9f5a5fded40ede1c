import assert from "node:assert/strict";
import { IdleGcPolicy, startIdleGc } from "./idle_gc.ts";

const MIB = 1024 * 1024;
const at = (rssMiB: number, heapMiB: number) => ({ rss: rssMiB * MIB, heapUsed: heapMiB * MIB });

Deno.test("idle gc policy: collects once quiet after growth, not while busy", () => {
  const p = new IdleGcPolicy({ quietTicks: 2, quietBytes: MIB, minGrowthBytes: 32 * MIB });
  assert.equal(p.observe(at(70, 10)), "none"); // baseline
  // A burst: heap moving by many MiB per sample.
  assert.equal(p.observe(at(150, 60)), "none");
  assert.equal(p.observe(at(300, 20)), "none");
  assert.equal(p.observe(at(400, 90)), "none");
  // Quiet: one sample is not enough, the second is.
  assert.equal(p.observe(at(400, 90.2)), "none");
  assert.equal(p.observe(at(400, 90.3)), "collect");
  p.collected(at(130, 40));
  // Quiet again but no new growth: nothing to do.
  for (let i = 0; i < 5; i++) assert.equal(p.observe(at(131, 40)), "none");
  // Growth without quiet: still nothing.
  assert.equal(p.observe(at(200, 70)), "none");
  assert.equal(p.observe(at(210, 75)), "none");
  assert.equal(p.observe(at(210, 75)), "none");
  assert.equal(p.observe(at(210, 75)), "collect");
});

Deno.test("idle gc policy: a still heap is not quiet while the process is busy on the CPU", () => {
  // Under steady load the heap sampled a whole number of young-generation
  // cycles apart looks still; the CPU time tells the member is busy.
  const busy = (rssMiB: number, heapMiB: number, cpuMs: number) => ({
    ...at(rssMiB, heapMiB),
    cpuMs,
  });
  const p = new IdleGcPolicy({ quietTicks: 2, minGrowthBytes: 32 * MIB, quietCpuShare: 0.1 });
  assert.equal(p.observe(busy(70, 10, 0)), "none"); // baseline
  let cpu = 0;
  for (let i = 0; i < 10; i++) {
    cpu += 900; // 900 ms of CPU per sample: serving
    assert.equal(p.observe(busy(200, 40, cpu)), "none");
  }
  // The load ends: two quiet samples (little CPU, still heap) collect.
  assert.equal(p.observe(busy(200, 40, cpu + 5)), "none");
  assert.equal(p.observe(busy(200, 40, cpu + 10)), "collect");
});

Deno.test("idle gc policy: never collects a heap whose full collection would stall the member", () => {
  const p = new IdleGcPolicy({ quietTicks: 2, minGrowthBytes: 32 * MIB, maxHeapBytes: 96 * MIB });
  assert.equal(p.observe(at(300, 250)), "none"); // baseline
  // Quiet after a big growth, but 270 MiB live: never.
  for (let i = 0; i < 5; i++) assert.equal(p.observe(at(900, 270)), "none");
  // Once the live heap is small again, the same quiet growth collects.
  assert.equal(p.observe(at(900, 80)), "none");
  assert.equal(p.observe(at(900, 80)), "none");
  assert.equal(p.observe(at(900, 80)), "collect");
});

Deno.test("idle gc policy: a big member needs proportionally more growth", () => {
  // (The heap cap is lifted: this is about the growth rule alone.)
  const p = new IdleGcPolicy({
    quietTicks: 1,
    minGrowthBytes: 32 * MIB,
    minGrowthRatio: 0.25,
    maxHeapBytes: Infinity,
  });
  assert.equal(p.observe(at(1000, 800)), "none"); // baseline 1000 MiB
  assert.equal(p.observe(at(1200, 800)), "none"); // +200 MiB < 250 MiB
  assert.equal(p.observe(at(1260, 800)), "collect");
});

Deno.test("idle gc policy: a quiet member that never grew is left alone", () => {
  const p = new IdleGcPolicy();
  for (let i = 0; i < 10; i++) assert.equal(p.observe(at(75 + i * 0.1, 12)), "none");
});

Deno.test("idle gc policy: settleFirst collects start-up garbage once quiet, then needs growth", () => {
  const p = new IdleGcPolicy({ quietTicks: 2, settleFirst: true });
  assert.equal(p.settled, false);
  assert.equal(p.observe(at(90, 17)), "none"); // just started
  assert.equal(p.observe(at(90, 19)), "none"); // still loading: the heap moved 2 MiB
  // One quiet sample is enough at start-up: collect, though the RSS never grew.
  assert.equal(p.observe(at(90, 19.1)), "collect");
  p.collected(at(78, 15));
  assert.equal(p.settled, true);
  // From then on the ordinary rule: quiet without growth does nothing.
  for (let i = 0; i < 5; i++) assert.equal(p.observe(at(78, 15)), "none");
});

Deno.test("idle gc policy: without settleFirst a quiet start is left alone", () => {
  const p = new IdleGcPolicy({ quietTicks: 2 });
  assert.equal(p.settled, true);
  for (let i = 0; i < 5; i++) assert.equal(p.observe(at(90, 19)), "none");
});

Deno.test("idle gc policy: a member with no peers collects a big heap, trims a bigger one", () => {
  const opts = { quietTicks: 2, minGrowthBytes: 32 * MIB, maxHeapBytes: 96 * MIB };
  const lone = new IdleGcPolicy({ ...opts, loneMaxHeapBytes: 512 * MIB });
  const peered = new IdleGcPolicy({ ...opts, loneMaxHeapBytes: 512 * MIB });
  for (const p of [lone, peered]) assert.equal(p.observe(at(300, 250)), "none"); // baseline
  // Quiet after growth with 270 MiB live: the lone member collects, the other never.
  assert.equal(lone.observe(at(900, 270), true), "none"); // the burst
  assert.equal(lone.observe(at(900, 270), true), "none"); // quiet once
  assert.equal(lone.observe(at(900, 270), true), "collect");
  for (let i = 0; i < 5; i++) assert.equal(peered.observe(at(900, 270), false), "none");
  lone.collected(at(560, 190));
  // Over its own bound the lone member only trims.
  assert.equal(lone.observe(at(1400, 600), true), "none");
  assert.equal(lone.observe(at(1400, 600), true), "none");
  assert.equal(lone.observe(at(1400, 600), true), "trim");
});

Deno.test("idle gc policy: memory V8 gave back by itself lowers the mark growth counts from", () => {
  const p = new IdleGcPolicy({ quietTicks: 1, minGrowthBytes: 32 * MIB, minGrowthRatio: 0.25 });
  assert.equal(p.observe(at(100, 20)), "none"); // baseline
  assert.equal(p.observe(at(900, 80)), "none"); // a burst
  assert.equal(p.observe(at(900, 80)), "collect");
  p.collected(at(900, 80)); // the collection freed nothing (yet)
  // V8's own collections bring it to 600 MiB; a new burst grows it by 160.
  assert.equal(p.observe(at(600, 60)), "none");
  assert.equal(p.observe(at(760, 90)), "none");
  // 160 MiB over 600 is due (more than 25%), though still below the 900 of the last collection.
  assert.equal(p.observe(at(760, 90)), "collect");
});

Deno.test("idle gc: settleFirst collects soon after start without any growth", async () => {
  const gc = startIdleGc({ settleFirst: true, settleIntervalMs: 10, intervalMs: 10_000 });
  assert.ok(gc !== undefined, "runtime offers no GC trigger");
  try {
    const deadline = Date.now() + 20_000;
    while (gc.collections === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(gc.collections, 1);
  } finally {
    gc.stop();
  }
});

Deno.test("idle gc: collects garbage left by a burst", async () => {
  const gc = startIdleGc({
    intervalMs: 20,
    quietTicks: 2,
    minGrowthBytes: 8 * MIB,
    minGrowthRatio: 0,
  });
  assert.ok(gc !== undefined, "runtime offers no GC trigger");
  try {
    let junk: Uint8Array[] | undefined = [];
    for (let i = 0; i < 3000; i++) junk.push(new Uint8Array(16 * 1024).fill(i));
    junk = undefined;
    // Generous: under a parallel test run the process is busy for a while.
    const deadline = Date.now() + 20_000;
    while (gc.collections === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(gc.collections >= 1);
  } finally {
    gc.stop();
  }
});

Deno.test("idle gc policy: CPU counts as a share of the time between samples", () => {
  // 80 ms of CPU in 250 ms (a start-up tick) is 32% of a core: busy,
  // though the same 80 ms in a 500 ms gap would be quiet.
  const t = (heapMiB: number, cpuMs: number, atMs: number) => ({
    ...at(90, heapMiB),
    cpuMs,
    atMs,
  });
  const p = new IdleGcPolicy({ quietTicks: 2, settleFirst: true, quietCpuShare: 0.2 });
  assert.equal(p.observe(t(20, 0, 0)), "none"); // just started
  for (let i = 1; i <= 8; i++) assert.equal(p.observe(t(20, i * 80, i * 250)), "none");
  // The same CPU time over a longer gap: quiet, so start-up collects.
  assert.equal(p.observe(t(20, 720, 2500)), "collect");
});
