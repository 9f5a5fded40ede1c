import assert from "node:assert/strict";
import { computeFloor, type FloorInputs, floorRate, floorSection, floorShare } from "./floor.ts";
import type { KvbenchResult, ScenarioOutcome } from "./report.ts";

function outcome(rps: number, p50: number, ok = 1000): ScenarioOutcome {
  const result: KvbenchResult = {
    op: "x",
    clients: 1,
    conns: 1,
    ok,
    errors: 0,
    seconds: ok / rps,
    rps,
    p50_ms: p50,
    p90_ms: p50 * 2,
    p99_ms: p50 * 5,
  };
  return { result };
}

const inputs: FloorInputs = {
  fsyncMs: { fresh: [0.2, 0.15, 0.14], zeroed: [0.1, 0.12, 0.3, 0.11] },
  appendBytes: 300,
  cairnGet: [outcome(5000, 0.2), outcome(4000, 0.18), outcome(4500, 0.22), { result: null }],
  put1: { cairn: outcome(2800, 0.3), etcd: outcome(2000, 0.45) },
};

Deno.test("floor: 1 ÷ (fdatasync + round trip), in puts/s", () => {
  assert.equal(floorRate(0.1, 0.15), 4000);
  assert.equal(floorRate(null, 0.15), null);
  assert.equal(floorRate(0.1, null), null);
  assert.equal(floorRate(0, 0), null);
});

Deno.test("floor: median fdatasync of the zero-filled kind and median of the get rounds' p50", () => {
  const f = computeFloor(inputs);
  assert.ok(Math.abs(f.fsyncMs! - 0.115) < 1e-12); // median of 0.1 0.11 0.12 0.3
  assert.equal(f.getMs, 0.2); // median of 0.18 0.2 0.22; the failed round is left out
  assert.ok(Math.abs(f.putsPerSecond! - 1000 / 0.315) < 1e-9);
  const none = computeFloor({ ...inputs, fsyncMs: { fresh: [0.2] } });
  assert.equal(none.fsyncMs, null);
  assert.equal(none.putsPerSecond, null);
});

Deno.test("floor: share is the put figure over the floor, n/a when either is missing", () => {
  assert.equal(floorShare(2850, 3000), 0.95);
  assert.equal(floorShare(null, 3000), null);
  assert.equal(floorShare(undefined, 3000), null);
  assert.equal(floorShare(2000, null), null);
});

Deno.test("floor: the section names each file kind and reports both servers' shares", () => {
  const md = floorSection(inputs);
  assert.match(
    md,
    /\| fdatasync of a 300 B append appended to a fresh file .*median of 3\) \| 0\.150 \|/,
  );
  assert.match(
    md,
    /\| fdatasync of a 300 B append written into a zero-filled.*median of 4\) \| 0\.115 \|/,
  );
  assert.match(md, /median of 4 rounds' p50\) \| 0\.200 \|/);
  assert.match(
    md,
    /physical floor: 1 ÷ \(fdatasync into the zeroed file \+ that get\) \(puts\/s\) \| 3,175 \|/,
  );
  assert.match(md, /share of the physical floor, cairn \(2,800 puts\/s\) \| 0\.88 \|/);
  assert.match(md, /share of the physical floor, etcd \(2,000 puts\/s\) \| 0\.63 \|/);
  const empty = floorSection({ ...inputs, fsyncMs: {}, cairnGet: [], put1: {} });
  assert.match(empty, /floor.*\| n\/a \|/);
  assert.match(empty, /cairn \(n\/a puts\/s\) \| n\/a \|/);
});
