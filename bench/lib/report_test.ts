import assert from "node:assert/strict";
import {
  bestOutcome,
  comparisonTable,
  detailTable,
  formatRatio,
  median,
  renderResults,
  verdict,
} from "./report.ts";
import type { KvbenchResult, RunInfo, SystemRun } from "./report.ts";
import type { Scenario } from "./scenarios.ts";

const scenario: Scenario = {
  id: "put1",
  title: "put, 1 client",
  op: "put",
  clients: 1,
  conns: 1,
  total: 10,
  keys: 10,
};

function result(rps: number, p99: number, errors = 0): KvbenchResult {
  return {
    op: "put",
    clients: 1,
    conns: 1,
    ok: 10,
    errors,
    seconds: 1,
    rps,
    p50_ms: 1,
    p90_ms: 2,
    p99_ms: p99,
  };
}

function system(label: string, rps: number, p99: number, rssMiB: number, errors = 0): SystemRun {
  return {
    label,
    command: label,
    startupMs: [300, 100, 200],
    loadedRss: { rssKiB: rssMiB * 1024, anonKiB: 0, fileKiB: 0, peakKiB: 0, processes: 1 },
    scenarios: { put1: { result: result(rps, p99, errors) } },
    rounds: {},
    errors: [],
  };
}

Deno.test("median handles odd, even and empty samples", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), null);
});

Deno.test("formatRatio divides cairn by etcd and refuses missing data", () => {
  assert.equal(formatRatio(200, 100), "0.50×");
  assert.equal(formatRatio(1, 25), "25.0×");
  assert.equal(formatRatio(null, 1), "n/a");
  assert.equal(formatRatio(0, 1), "n/a");
});

Deno.test("verdict respects the direction of each row", () => {
  assert.equal(verdict(100, 200, "higher"), "cairn");
  assert.equal(verdict(100, 200, "lower"), "etcd");
  assert.equal(verdict(100, 50, "lower"), "cairn");
  assert.equal(verdict(100, 103, "higher"), "even");
  assert.equal(verdict(100, null, "higher"), "");
});

Deno.test("comparison table has throughput, p99, memory and start-up rows", () => {
  const t = comparisonTable(
    [scenario],
    system("etcd", 1000, 2, 100),
    system("cairn", 500, 4, 50),
    1000,
  );
  const lines = t.split("\n");
  const row = (prefix: string) => lines.find((l) => l.startsWith(`| ${prefix}`)) ?? "";
  assert.match(row("put, 1 client: throughput"), /\| 1,000 \| 500 \| 0\.50× \| higher \| etcd \|/);
  assert.match(row("put, 1 client: p99"), /\| 2\.00 \| 4\.00 \| 2\.00× \| lower \| etcd \|/);
  assert.match(
    row("resident memory 5 s after loading 1,000 keys"),
    /\| 100\.0 \| 50\.0 \| 0\.50× \| lower \| cairn \|/,
  );
  assert.match(row("start"), /\| 200 \| 200 \| 1\.00× \| lower \| even \|/);
  assert.match(row("resident memory, idle"), /\| n\/a \| n\/a \| n\/a \|/);
});

Deno.test("figures measured with failed requests are flagged", () => {
  const t = comparisonTable(
    [scenario],
    system("etcd", 1000, 2, 1),
    system("cairn", 10, 4, 1, 3),
    1,
  );
  assert.match(t, /\| 1,000 \| 10 ⚠ \|/);
});

Deno.test("results page lists problems and the exact command", () => {
  const info: RunInfo = {
    date: "2026-01-01T00:00:00Z",
    nproc: 2,
    cpu: "cpu",
    memTotal: "1 GiB",
    kernel: "Linux",
    etcdVersion: "etcd Version: 3.4.23",
    denoVersion: "2.9.6",
    command: "deno run -A bench/run.ts",
    dataDir: "/tmp/x",
    elapsedSeconds: 12,
    keys: 100000,
    valueBytes: 256,
  };
  const cairn = system("cairn", 1, 1, 1);
  cairn.errors.push("cairn exited with code 1 before serving");
  cairn.scenarios.put1.error = "3 requests failed";
  const md = renderResults(info, [scenario], system("etcd", 1, 1, 1), cairn);
  assert.match(md, /- command: `deno run -A bench\/run.ts`/);
  assert.match(md, /nproc 2/);
  assert.match(
    md,
    /- etcd: idle n\/a; loaded 1\.0 MiB \(anon 0\.0, file 0\.0, peak so far 0\.0, 1 process\)/,
  );
  assert.match(
    md,
    /## Problems\n\n- cairn: cairn exited with code 1 before serving\n- cairn \/ put1: 3 requests failed/,
  );
});

Deno.test("multi-line problems keep their log tail verbatim in a code block", () => {
  const cairn = system("cairn", 1, 1, 1);
  cairn.errors.push("exited before serving; log:\nerror: Module not found\n  at main.ts");
  const info = { date: "", nproc: 1, cpu: "", memTotal: "", kernel: "", etcdVersion: "" };
  const md = renderResults(
    {
      ...info,
      denoVersion: "",
      command: "",
      dataDir: "",
      elapsedSeconds: 0,
      keys: 1,
      valueBytes: 1,
    },
    [scenario],
    system("etcd", 1, 1, 1),
    cairn,
  );
  assert.ok(
    md.includes(
      "- cairn: exited before serving; log:\n\n  ```\n  error: Module not found\n    at main.ts\n  ```",
    ),
  );
});

Deno.test("bestOutcome prefers the fastest clean round, then any with figures", () => {
  const slow = { result: result(100, 5) };
  const fast = { result: result(200, 9) };
  const faster_but_failing = { result: result(300, 1, 4), error: "4 requests failed" };
  assert.equal(bestOutcome([slow, fast, faster_but_failing]), fast);
  assert.equal(bestOutcome([faster_but_failing, { result: null, error: "x" }]), faster_but_failing);
  const none = { result: null, error: "dial" };
  assert.equal(bestOutcome([none]), none);
});

Deno.test("detail table lists every round and marks the reported one", () => {
  const sys = system("etcd", 1, 1, 1);
  const a = { result: result(100, 5) };
  const b = { result: result(200, 9) };
  sys.rounds = { put1: [a, b] };
  sys.scenarios = { put1: bestOutcome(sys.rounds.put1) };
  const t = detailTable([scenario], [sys]);
  assert.match(t, /\| etcd \| put1 \| 1 \| put/);
  assert.match(t, /\| etcd \| put1 \| 2 \(best\) \| put .* \| 200 \| 1 \| 2 \| 9 \|/);
});
