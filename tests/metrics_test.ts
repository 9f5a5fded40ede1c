/**
 * /metrics on a real member, beside etcd 3.4 doing the same: the text
 * passes `promtool check metrics` (apart from the naming lints etcd's own
 * names draw), the series etcd's Grafana dashboard and alerts query
 * exist, and counters follow the work done under load: proposals
 * committed and applied, Put calls started and handled, equal the writes
 * made while /metrics was being scraped.
 */
import assert from "node:assert/strict";
import { GrpcClient } from "./harness/grpc.ts";
import { Member, type MemberKind } from "./harness/member.ts";
import { freePort } from "./harness/ports.ts";
import { REPO_ROOT, skipIfToolsMissing, which } from "./harness/tools.ts";

const skip = skipIfToolsMissing("metrics_test.ts");

/** promtool on PATH, or unpacked by `make prom-tools`. */
function promtool(): string | undefined {
  const unpacked = `${REPO_ROOT}/.tools/prometheus/usr/bin/promtool`;
  return which("promtool") ?? which(unpacked);
}

/**
 * Names etcd gives its series that promtool's naming lint dislikes
 * (counters without `_total`, gauges with it): etcd 3.4 draws the same.
 */
const ETCD_NAMING = new Set([
  "etcd_debugging_lease_ttl_total",
  "etcd_debugging_mvcc_keys_total",
  "etcd_debugging_mvcc_slow_watcher_total",
  "etcd_debugging_mvcc_watch_stream_total",
  "etcd_debugging_mvcc_watcher_total",
  "etcd_disk_wal_write_bytes_total",
  "etcd_server_health_failures",
  "etcd_server_health_success",
  "etcd_server_learner_promote_successes",
  "etcd_server_proposals_applied_total",
  "etcd_server_proposals_committed_total",
  "etcd_server_snapshot_apply_in_progress_total",
]);

/** Series the etcd mixin (contrib/mixin, release-3.5) queries on a single member. */
const DASHBOARD_SERIES = [
  "etcd_disk_backend_commit_duration_seconds_bucket",
  "etcd_disk_wal_fsync_duration_seconds_bucket",
  "etcd_mvcc_db_total_size_in_bytes",
  "etcd_network_client_grpc_received_bytes_total",
  "etcd_network_client_grpc_sent_bytes_total",
  "etcd_server_has_leader",
  "etcd_server_leader_changes_seen_total",
  "etcd_server_proposals_applied_total",
  "etcd_server_proposals_committed_total",
  "etcd_server_proposals_failed_total",
  "etcd_server_proposals_pending",
  "etcd_server_quota_backend_bytes",
  "grpc_server_handled_total",
  "grpc_server_started_total",
  "process_resident_memory_bytes",
];

/** Samples by `name{labels}` (labels as printed). */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The value of the first sample whose name and labels contain every part given. */
function sample(m: Map<string, number>, name: string, ...labels: string[]): number {
  for (const [k, v] of m) {
    const bare = k.split("{")[0];
    if (bare === name && labels.every((l) => k.includes(l))) return v;
  }
  throw new Error(`no sample ${name}{${labels.join(",")}}`);
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return await res.text();
}

async function check(text: string): Promise<{ code: number; problems: string[] }> {
  const child = new Deno.Command(promtool()!, {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await child.output();
  const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, problems: said.split("\n").filter((l) => l.trim() !== "") };
}

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name: `metrics (${kind}): promtool accepts /metrics and the dashboard's series are there`,
    ignore: skip || promtool() === undefined,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const port = freePort();
      const m = await Member.start({
        kind,
        extraArgs: [`--listen-metrics-urls=http://127.0.0.1:${port}`, "--metrics=extensive"],
      });
      const client = new GrpcClient(m.clientUrl);
      try {
        await client.put("k", "v");
        for (const url of [m.clientUrl, `http://127.0.0.1:${port}`]) {
          const text = await scrape(url);
          const { problems } = await check(text);
          // Every complaint must be a naming lint on an etcd name; cairn's
          // are only the ones etcd 3.4 draws on the same series.
          const naming =
            /^(etcd_\S+) (non-counter metrics should not have|counter metrics should have|use base unit)/;
          const unexpected = problems.filter((p) => {
            const name = naming.exec(p)?.[1];
            return name === undefined || (kind === "cairn" && !ETCD_NAMING.has(name));
          });
          assert.deepEqual(unexpected, [], `promtool on ${url}`);
          const samples = parse(text);
          for (const name of DASHBOARD_SERIES) sample(samples, name);
          sample(samples, "grpc_server_handling_seconds_bucket", 'grpc_method="Put"');
          assert.equal(sample(samples, "etcd_server_has_leader"), 1);
          assert.equal(sample(samples, "etcd_server_is_leader"), 1);
          assert.ok(sample(samples, "etcd_disk_wal_fsync_duration_seconds_count") > 0);
          assert.ok(sample(samples, "etcd_debugging_mvcc_keys_total") >= 1);
        }
      } finally {
        client.destroy();
        await m.destroy();
      }
    },
  });

  Deno.test({
    name: `metrics (${kind}): counters under load equal the writes made`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const m = await Member.start({ kind });
      const clients = Array.from({ length: 8 }, () => new GrpcClient(m.clientUrl));
      try {
        await clients[0].put("warm", "up");
        const before = parse(await scrape(m.clientUrl));
        const writes = 2000;
        let next = 0;
        const writers = clients.map(async (c, i) => {
          while (next < writes) {
            const n = next++;
            await c.put(`load/${i}/${n}`, "x".repeat(64));
          }
        });
        // Scrapes during the load must be well-formed and never go backwards.
        let scrapes = 0;
        let last = sample(before, "etcd_server_proposals_committed_total");
        const scraper = (async () => {
          while (next < writes) {
            const now = sample(
              parse(await scrape(m.clientUrl)),
              "etcd_server_proposals_committed_total",
            );
            assert.ok(now >= last, "committed went backwards");
            last = now;
            scrapes++;
          }
        })();
        await Promise.all([...writers, scraper]);
        const after = parse(await scrape(m.clientUrl));
        assert.ok(scrapes > 0, "scraped while writing");
        const delta = (name: string, ...labels: string[]) =>
          sample(after, name, ...labels) - sample(before, name, ...labels);
        assert.equal(delta("etcd_server_proposals_committed_total"), writes);
        assert.equal(delta("etcd_server_proposals_applied_total"), writes);
        assert.equal(sample(after, "etcd_server_proposals_pending"), 0);
        assert.equal(delta("etcd_server_proposals_failed_total"), 0);
        const put = ['grpc_method="Put"', 'grpc_type="unary"'];
        assert.equal(delta("grpc_server_started_total", ...put), writes);
        assert.equal(delta("grpc_server_handled_total", ...put, 'grpc_code="OK"'), writes);
        assert.equal(delta("grpc_server_msg_received_total", ...put), writes);
        assert.equal(delta("grpc_server_msg_sent_total", ...put), writes);
        // Each PutRequest carries its key and a 64-byte value.
        assert.ok(delta("etcd_network_client_grpc_received_bytes_total") >= writes * 64);
        assert.ok(delta("etcd_network_client_grpc_sent_bytes_total") > 0);
        assert.equal(delta("etcd_debugging_mvcc_keys_total"), writes);
      } finally {
        for (const c of clients) c.destroy();
        await m.destroy();
      }
    },
  });
}
