import assert from "node:assert/strict";
import {
  bestCluster,
  bestWatch,
  clusterDetailTable,
  type ClusterOutcome,
  extraProblems,
  extraRows,
  watchDetailTable,
  type WatchOutcome,
} from "./report_extra.ts";
import type { KvbenchResult } from "./report.ts";
import { WATCH, watchArgs, type WatchResult } from "./watch.ts";

const CW = { members: 3, clients: 100, conns: 10, total: 30000, keys: 1000 };

function kv(rps: number, p99: number, errors = 0): KvbenchResult {
  return {
    op: "put",
    clients: 100,
    conns: 10,
    ok: 100,
    errors,
    seconds: 1,
    rps,
    p50_ms: 1,
    p90_ms: 2,
    p99_ms: p99,
  };
}

function watch(latP99: number, rps: number, error?: string): WatchOutcome {
  const result: WatchResult = {
    watchers: 1000,
    watch_conns: 10,
    open_ms: 100,
    lat_puts: 10,
    lat_events: 10000,
    lat_missing: 0,
    lat_p50_ms: latP99 / 2,
    lat_p90_ms: latP99 / 1.5,
    lat_p99_ms: latP99,
    lat_max_ms: latP99 * 2,
    clients: 100,
    conns: 10,
    total: 100,
    ok: 100,
    errors: 0,
    seconds: 1,
    rps,
    p50_ms: 1,
    p90_ms: 2,
    p99_ms: 3,
    events_expected: 100000,
    events: 100000,
    drain_ms: 500,
    events_per_s: rps * 1000,
  };
  return {
    result,
    error,
    rss: { rssKiB: 1024, anonKiB: 0, fileKiB: 0, peakKiB: rps * 1024, processes: 1 },
  };
}

Deno.test("bestCluster prefers the fastest clean round", () => {
  const rounds: ClusterOutcome[] = [
    { result: kv(500, 9) },
    { result: kv(900, 9, 3) },
    { result: kv(700, 9) },
    { result: null, error: "no leader" },
  ];
  assert.equal(bestCluster(rounds)?.result?.rps, 700);
  assert.equal(bestCluster([{ result: kv(900, 9, 3) }])?.result?.rps, 900, "only partial ones");
  assert.equal(bestCluster([{ result: null, error: "x" }]), undefined);
});

Deno.test("bestWatch takes latency and throughput from their own best rounds", () => {
  const rounds = [watch(30, 800), watch(20, 500), watch(5, 5000, "watcher 3: closed")];
  const b = bestWatch(rounds);
  assert.equal(b.latency?.result?.lat_p99_ms, 20, "the failed round does not count");
  assert.equal(b.throughput?.result?.rps, 800);
  // A round whose throughput phase never ran (latency phase failed) has no rps.
  const noBulk = watch(10, 0, "latency put 3: timeout");
  delete noBulk.result!.rps;
  assert.equal(bestWatch([noBulk]).throughput, noBulk);
});

Deno.test("extraRows give cluster and watch figures with ratios' inputs", () => {
  const etcd = { cluster: [{ result: kv(8000, 20) }], watch: [watch(10, 3000), watch(12, 2000)] };
  const cairn = { cluster: [{ result: kv(4000, 80, 2) }], watch: [watch(40, 400)] };
  const rows = extraRows(CW, WATCH, etcd, cairn);
  const row = (prefix: string) => rows.find((r) => r.name.startsWith(prefix))!;
  const put = row("3-member cluster, put to the leader, 100 clients / 10 conns: throughput");
  assert.deepEqual([put.etcd, put.cairn, put.better], [8000, 4000, "higher"]);
  assert.equal(put.cairnNote, "⚠", "failed requests are marked");
  assert.equal(put.etcdNote, undefined);
  const p99 = row("watch, 1,000 watchers: put → event latency p99");
  assert.deepEqual([p99.etcd, p99.cairn, p99.better], [10, 40, "lower"]);
  const rps = row("watch, 1,000 watchers receiving: put, 100 clients / 10 conns: throughput");
  assert.deepEqual([rps.etcd, rps.cairn], [3000, 400]);
  const mem = row("watch, 1,000 watchers: peak resident memory");
  assert.deepEqual([mem.etcd, mem.cairn], [2000, 400], "lowest peak of the rounds, MiB");
  const none = extraRows(CW, WATCH, { cluster: [], watch: [] }, { cluster: [], watch: [] });
  assert.ok(none.every((r) => r.etcd === null && r.cairn === null));
});

Deno.test("detail tables list every round; problems name the round", () => {
  const c = clusterDetailTable([
    { label: "etcd", rounds: [{ result: kv(1, 2), readyMs: 1234.4 }, { result: kv(5, 2) }] },
  ]);
  assert.match(c, /\| etcd \| 1 \| 1234 \|/);
  assert.match(c, /\| etcd \| 2 \(best\) \|/);
  const w = watchDetailTable([{ label: "cairn", rounds: [watch(7, 100), { result: null }] }]);
  assert.match(w, /\| cairn \| 1 \| 100 \| 10000 \| 0 \| 3.5 \|/);
  assert.match(w, /100000 \/ 100000/);
  assert.equal(w.split("\n").length, 4, "header, rule, two rounds");
  const probs = extraProblems("cairn", {
    cluster: [{ result: null }, { result: null, error: "no leader" }],
    watch: [watch(1, 1, "hung")],
  });
  assert.deepEqual(probs, [
    ["cairn / cluster round 2", "no leader"],
    ["cairn / watch round 1", "hung"],
  ]);
});

Deno.test("watchArgs pass the workload to kvtool -mode watch", () => {
  const a = watchArgs(WATCH, "127.0.0.1:9", 90);
  const arg = (name: string) => a[a.indexOf(name) + 1];
  assert.equal(arg("-mode"), "watch");
  assert.equal(arg("-endpoint"), "127.0.0.1:9");
  assert.equal(arg("-watchers"), "1000"); // the 1,000 watchers
  assert.equal(arg("-clients"), "100"); // and 100 clients
  assert.equal(arg("-wconns"), String(WATCH.watchConns));
  assert.equal(arg("-total"), String(WATCH.total));
  assert.equal(arg("-drain"), `${WATCH.drainS}s`);
  assert.equal(arg("-timeout"), "90s");
});
