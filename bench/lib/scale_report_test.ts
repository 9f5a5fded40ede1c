import assert from "node:assert/strict";
import type { KvbenchResult } from "./report.ts";
import {
  bestWatchKeys,
  carryOverSections,
  EXPLAINED_MARKERS,
  extractSection,
  renderScaleSection,
  scaleRows,
  type ScaleRun,
  type ScaleWorkloads,
  SECTION_BEGIN,
  SECTION_END,
  spliceSection,
  targetVerdict,
  type WatchKeysResult,
} from "./scale_report.ts";

const W: ScaleWorkloads = {
  cluster: { members: 5, clients: 100, conns: 10, total: 30000, keys: 1000 },
  keys: 1_000_000,
  range: { span: 10000, clients: 10, total: 500, limitS: 30, rounds: 2 },
  count: { clients: 1, total: 20, limitS: 30 },
  values: [{
    id: "put64k",
    title: "put of 64 KiB values",
    valueBytes: 65536,
    clients: 10,
    conns: 10,
    total: 1000,
    keys: 100,
  }],
  watchKeys: { watchers: 10000, wconns: 10, rate: 1000, seconds: 10, clients: 50, rounds: 3 },
};

function kv(rps: number, p99: number, errors = 0): KvbenchResult {
  return {
    op: "put",
    clients: 10,
    conns: 10,
    ok: 100,
    errors,
    seconds: 1,
    rps,
    p50_ms: p99 / 2,
    p90_ms: p99,
    p99_ms: p99,
  };
}

function wk(p99: number, events = 10000): WatchKeysResult {
  return {
    watchers: 10000,
    open_ms: 900,
    rate: 1000,
    total: 10000,
    ok: 10000,
    errors: 0,
    late: 0,
    seconds: 10,
    rps: 1000,
    p99_ms: 3,
    events,
    events_expected: 10000,
    lat_p50_ms: 1,
    lat_p90_ms: 2,
    lat_p99_ms: p99,
    lat_max_ms: 20,
    drain_ms: 0,
  };
}

const rss = (mib: number) => ({
  rssKiB: mib * 1024,
  anonKiB: mib * 1024,
  fileKiB: 0,
  peakKiB: 2 * mib * 1024,
  processes: 1,
});

function run(label: string, k: number): ScaleRun {
  return {
    label,
    command: label,
    cluster: [{ result: kv(1000 * k, 30) }, { result: kv(1200 * k, 40) }],
    loaded: {
      keys: 1_000_000,
      loadSeconds: 60,
      rss: rss(500 * k),
      restartMs: 2000 * k,
      range: { result: kv(20 * k, 500) },
      count: { result: kv(5 * k, 300) },
      errors: [],
    },
    values: { put64k: [{ result: kv(900 * k, 50) }] },
    watchKeys: [{ result: wk(10 * k), rss: rss(300) }],
    errors: [],
  };
}

Deno.test("scale rows: ratios come from the best rounds and targets follow the issue", () => {
  const rows = scaleRows(W, run("etcd", 1), run("cairn", 2));
  const byName = (part: string) => rows.find((r) => r.name.includes(part))!;
  // Best cluster round is the faster one (1,200/s), on both sides.
  const cl = byName("5-member cluster, put to the leader, 100 clients / 10 conns: throughput");
  assert.deepEqual([cl.etcd, cl.cairn], [1200, 2400]);
  assert.equal(targetVerdict(cl), "met");
  // Twice the memory misses "≤ 1.0×"; twice the range throughput meets "≥ 1.0×".
  assert.equal(targetVerdict(byName("resident memory 5 s after the load")), "missed");
  assert.equal(targetVerdict(byName("restart")), "missed");
  assert.equal(
    targetVerdict(byName("range of 10,000 keys under a prefix, 10 clients: throughput")),
    "met",
  );
  assert.equal(
    targetVerdict(byName("count_only over the whole keyspace, 1 client: throughput")),
    "met",
  );
  assert.equal(targetVerdict(byName("put of 64 KiB values: throughput")), "met");
  const watchP99 = byName("put → event latency p99");
  assert.deepEqual([watchP99.etcd, watchP99.cairn], [10, 20]);
  assert.equal(targetVerdict(watchP99), "missed");
  // Rows without a target in the issue get no verdict.
  assert.equal(targetVerdict(byName("put → event latency p50")), "");
});

Deno.test("scale rows: a missing side gives n/a, not a ratio or a verdict", () => {
  const cairn = run("cairn", 1);
  cairn.loaded = { keys: 1_000_000, errors: ["restart: did not serve"] };
  const md = renderScaleSection(
    {
      date: "2026-12-06T00:00:00Z",
      machine: "nproc 2",
      etcdVersion: "etcd Version: 3.4.23",
      denoVersion: "2.9.6",
      command: "deno run -A bench/scale.ts",
      elapsedSeconds: 600,
      smallScale: false,
    },
    W,
    run("etcd", 1),
    cairn,
  );
  const line = md.split("\n").find((l) => l.includes("restart → first served"))!;
  assert.match(line, /\| 2,000 \| n\/a \| n\/a \|/);
  assert.match(md, /- cairn \/ loaded: restart: did not serve/);
  assert.ok(md.startsWith(SECTION_BEGIN) && md.endsWith(SECTION_END));
  assert.doesNotMatch(md, /Small-scale run/);
});

Deno.test("bestWatchKeys prefers a clean round with the lowest p99", () => {
  const rounds = [
    { result: wk(5), error: "3 events never arrived" },
    { result: wk(9) },
    { result: wk(7) },
  ];
  assert.equal(bestWatchKeys(rounds), rounds[2]);
  assert.equal(bestWatchKeys([{ result: null, error: "x" }]), undefined);
});

Deno.test("spliceSection replaces the section in place, or appends it once", () => {
  const section = `${SECTION_BEGIN}\nnew\n${SECTION_END}`;
  const appended = spliceSection("# cairn vs etcd\n\ntable\n", section);
  assert.equal(appended, `# cairn vs etcd\n\ntable\n\n${section}\n`);
  const old = `# head\n\n${SECTION_BEGIN}\nold\n${SECTION_END}\n\n## tail\n`;
  assert.equal(spliceSection(old, section), `# head\n\n${section}\n\n## tail\n`);
  assert.equal(extractSection(old), `${SECTION_BEGIN}\nold\n${SECTION_END}`);
  assert.equal(extractSection("# no section\n"), "");
});

Deno.test("carryOverSections keeps the scale section and the hand-written explanations", () => {
  const scale = `${SECTION_BEGIN}\nscale rows\n${SECTION_END}`;
  const explained = `${EXPLAINED_MARKERS.begin}\nwhy\n${EXPLAINED_MARKERS.end}`;
  const old = `# cairn vs etcd\n\nold table\n\n${scale}\n\n${explained}\n`;
  const out = carryOverSections(old, "# cairn vs etcd\n\nnew table\n");
  assert.ok(out.includes("new table") && !out.includes("old table"));
  assert.ok(out.indexOf(scale) > 0, "the scale section is kept");
  assert.ok(out.indexOf(explained) > out.indexOf(scale), "the explanations are kept, after it");
  assert.equal(carryOverSections(out, out), out, "a second run changes nothing");
  assert.equal(carryOverSections("", "fresh\n"), "fresh\n");
});
