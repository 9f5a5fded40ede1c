import assert from "node:assert/strict";
import { logTime, type StallPhase, type StallRun, stallVerdict, windowStats } from "./stall.ts";

Deno.test("windowStats counts the puts that overlap the window", () => {
  const samples: [number, number][] = [[0, 5], [10, 100], [50, 1], [200, 3], [300, 1]];
  // [10,110] overlaps [100,150]; [50,51] does not; [0,5] ends before.
  const w = windowStats(samples, 100, 150);
  assert.deepEqual(w, { ok: 1, p99Ms: 100, maxMs: 100 });
  assert.deepEqual(windowStats(samples, 1000, 2000), { ok: 0, p99Ms: 0, maxMs: 0 });
  assert.equal(windowStats(samples, 0, 400).ok, 5);
});

Deno.test("logTime reads cairn's and etcd 3.4 zap's timestamps", () => {
  const log = [
    '{"level":"info","ts":"2026-12-06T11:05:22.127Z","msg":"triggering snapshot"}',
    '{"level":"info","ts":"2026-12-06T11:05:23.000+0000","caller":"x","msg":"saved snapshot"}',
  ].join("\n");
  const t = logTime(log, "triggering snapshot", 0)!;
  assert.equal(t, Date.parse("2026-12-06T11:05:22.127Z"));
  assert.equal(logTime(log, "saved snapshot", t), Date.parse("2026-12-06T11:05:23Z"));
  assert.equal(logTime(log, "triggering snapshot", t + 1), undefined);
});

function phase(maxMs: number, elections = 0): StallPhase {
  return {
    all: { ok: 1, p99Ms: maxMs, maxMs },
    window: { ok: 1, p99Ms: maxMs, maxMs, startMs: 0, endMs: 1 },
    errors: 0,
    rps: 1,
    elections,
    happened: true,
    notes: [],
  };
}

function run(system: string, snap: StallPhase, defrag: StallPhase): StallRun {
  return { system, keys: 1, members: 1, clients: 1, snapshot: snap, defrag, errors: [] };
}

Deno.test("stallVerdict compares cairn's slowest put with etcd's during its defrag", () => {
  const etcd = run("etcd", phase(10), phase(500));
  assert.match(stallVerdict([etcd, run("cairn", phase(100), phase(200))]), /^Target met/);
  assert.match(stallVerdict([etcd, run("cairn", phase(600), phase(200))]), /^Target not met/);
  assert.match(
    stallVerdict([etcd, run("cairn", phase(1), phase(1, 1))]),
    /not met.*elections on cairn: 1/,
  );
  assert.equal(stallVerdict([etcd]), "");
});
