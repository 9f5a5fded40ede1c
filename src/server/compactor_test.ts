import assert from "node:assert/strict";
import { createLogger, type Logger } from "../log.ts";
import { Compactor, type CompactorClock, REVISION_INTERVAL_MS } from "./compactor.ts";

/** A clock the test moves by hand; sleepers wake in order. */
class FakeClock implements CompactorClock {
  t = 0;
  #sleepers: { at: number; wake: () => void }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.#sleepers.push({ at: this.t + ms, wake: resolve });
      signal.addEventListener("abort", () => resolve());
    });
  }
  /** Moves time forward in `step` increments, letting the loop run at each. */
  async advance(ms: number, step = 1000): Promise<void> {
    const end = this.t + ms;
    while (this.t < end) {
      this.t = Math.min(end, this.t + step);
      const due = this.#sleepers.filter((s) => s.at <= this.t);
      this.#sleepers = this.#sleepers.filter((s) => s.at > this.t);
      for (const s of due) s.wake();
      // Let the compactor take its turn (and finish a compaction).
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
    }
  }
}

/** A logger that keeps what was logged. */
function recordingLog(): {
  log: Logger;
  lines: { msg: string; fields: Record<string, unknown> }[];
} {
  const lines: { msg: string; fields: Record<string, unknown> }[] = [];
  const base = createLogger("error");
  const keep = (msg: string, fields?: Record<string, unknown>) =>
    lines.push({ msg, fields: fields ?? {} });
  return { log: { ...base, info: keep, warn: keep } as Logger, lines };
}

Deno.test("periodic: samples every period/10, compacts to the revision one period ago", async () => {
  const clock = new FakeClock();
  const { log, lines } = recordingLog();
  let rev = 1;
  const compacted: number[] = [];
  const c = new Compactor({
    mode: "periodic",
    retention: 10_000, // 10 s: samples every second
    log,
    revision: () => rev,
    isLeader: () => true,
    compact: (r) => {
      compacted.push(r);
      return Promise.resolve();
    },
    clock,
  });
  c.start();
  // One write per second: the revision sampled at t is t/1000 + 1.
  for (let s = 0; s < 25; s++) {
    await clock.advance(1000);
    rev++;
  }
  await c.stop();
  // The sample taken at second k (k >= 1) is revision k - 1 (the write
  // of that second comes after it). First compaction at 10 s, to the
  // sample of 0 s (1); then every period, to the sample a period back:
  // at 20 s the one of 10 s (9).
  assert.deepEqual(compacted, [1, 9]);
  const start = lines.find((l) => l.msg === "starting auto periodic compaction");
  assert.deepEqual(start?.fields, { revision: 1, "compact-period": "10s" });
  assert.ok(lines.some((l) => l.msg === "completed auto periodic compaction"));
});

Deno.test("periodic: a follower samples but does not compact; a failure is retried", async () => {
  const clock = new FakeClock();
  const { log, lines } = recordingLog();
  let leader = false;
  let fail = true;
  const compacted: number[] = [];
  let rev = 100;
  const c = new Compactor({
    mode: "periodic",
    retention: 10_000,
    log,
    revision: () => rev++,
    isLeader: () => leader,
    compact: (r) => {
      if (fail) return Promise.reject(new Error("etcdserver: request timed out"));
      compacted.push(r);
      return Promise.resolve();
    },
    clock,
  });
  c.start();
  await clock.advance(30_000);
  assert.deepEqual(compacted, []);
  leader = true;
  await clock.advance(1000);
  assert.ok(lines.some((l) => l.msg === "failed auto periodic compaction"));
  fail = false;
  await clock.advance(1000);
  await c.stop();
  assert.equal(compacted.length, 1);
  // The samples kept covering one period while following.
  assert.ok(compacted[0] >= rev - 13 && compacted[0] <= rev - 10, `${compacted[0]} vs ${rev}`);
});

Deno.test("revision: every 5 minutes, current minus N, never the same twice", async () => {
  const clock = new FakeClock();
  const { log, lines } = recordingLog();
  let rev = 50;
  const compacted: number[] = [];
  const c = new Compactor({
    mode: "revision",
    retention: 100,
    log,
    revision: () => rev,
    isLeader: () => true,
    compact: (r) => {
      compacted.push(r);
      return Promise.resolve();
    },
    clock,
  });
  c.start();
  await clock.advance(REVISION_INTERVAL_MS, 60_000); // rev - N <= 0: nothing
  assert.deepEqual(compacted, []);
  rev = 1000;
  await clock.advance(REVISION_INTERVAL_MS - 60_000, 60_000);
  assert.deepEqual(compacted, []); // not yet 5 minutes
  await clock.advance(60_000, 60_000);
  assert.deepEqual(compacted, [900]);
  await clock.advance(REVISION_INTERVAL_MS, 60_000); // same revision: skipped
  assert.deepEqual(compacted, [900]);
  rev = 1500;
  await clock.advance(REVISION_INTERVAL_MS, 60_000);
  await c.stop();
  assert.deepEqual(compacted, [900, 1400]);
  assert.deepEqual(lines.find((l) => l.msg === "starting auto revision compaction")?.fields, {
    revision: 900,
    "revision-compaction-retention": 100,
  });
});

Deno.test("an already compacted revision counts as done; retention 0 never starts", async () => {
  const clock = new FakeClock();
  const { log, lines } = recordingLog();
  const { EtcdErrors } = await import("../errors.ts");
  const c = new Compactor({
    mode: "revision",
    retention: 10,
    log,
    revision: () => 100,
    isLeader: () => true,
    compact: () => Promise.reject(EtcdErrors.compacted()),
    clock,
  });
  c.start();
  await clock.advance(REVISION_INTERVAL_MS, 60_000);
  await c.stop();
  assert.ok(lines.some((l) => l.msg === "completed auto revision compaction"));
  let called = false;
  const off = new Compactor({
    mode: "periodic",
    retention: 0,
    log,
    revision: () => 1,
    isLeader: () => true,
    compact: () => {
      called = true;
      return Promise.resolve();
    },
    clock,
  });
  off.start();
  await clock.advance(10_000);
  await off.stop();
  assert.equal(called, false);
});
