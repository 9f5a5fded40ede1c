/**
 * /metrics on a real member, beside etcd 3.4 doing the same: the text
 * passes `promtool check metrics` (apart from the naming lints etcd's own
 * names draw), the series etcd's Grafana dashboard and alerts query
 * exist (the peer series in a 3-member cluster), every family etcd 3.4
 * exposes is there with its type and labels (apart from a list that says
 * why), and counters follow the work done: proposals committed and
 * applied, Put calls started and handled, equal the writes made under
 * load; store, lease and request counters move as etcd's do for the same
 * etcdctl commands; bytes a leader sends reach its followers.
 */
import assert from "node:assert/strict";
import { destroyAll, leaderView, startCluster, waitForLeader } from "./harness/cluster.ts";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { GrpcClient } from "./harness/grpc.ts";
import { Member, type MemberKind, sleep } from "./harness/member.ts";
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
  "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds",
  "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
  "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds",
  "etcd_debugging_mvcc_keys_total",
  "etcd_debugging_mvcc_pending_events_total",
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

/**
 * Series etcd's Grafana dashboards (contrib/mixin's and the older
 * Documentation/op-guide/grafana.json) and the mixin's alerts query on a
 * single member; the peer ones are checked in a cluster below.
 */
const DASHBOARD_SERIES = [
  "etcd_debugging_mvcc_db_total_size_in_bytes",
  "etcd_mvcc_db_total_size_in_use_in_bytes",
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
          // --metrics extensive: every handled call is timed, in its method's histogram.
          const put = ['grpc_method="Put"', 'grpc_type="unary"'];
          assert.equal(
            sample(samples, "grpc_server_handling_seconds_count", ...put),
            sample(samples, "grpc_server_handled_total", ...put, 'grpc_code="OK"'),
          );
          assert.ok(sample(samples, "grpc_server_handling_seconds_count", ...put) >= 1);
          sample(samples, "grpc_server_handling_seconds_bucket", ...put, 'le="+Inf"');
          assert.equal(sample(samples, "etcd_server_has_leader"), 1);
          assert.equal(sample(samples, "etcd_server_is_leader"), 1);
          assert.ok(sample(samples, "etcd_disk_wal_fsync_duration_seconds_count") > 0);
          assert.ok(sample(samples, "etcd_debugging_mvcc_keys_total") >= 1);
          if (kind === "cairn") {
            // etcd 3.5's, which the reference etcd 3.4 does not have.
            assert.ok(sample(samples, "etcd_disk_wal_write_duration_seconds_count") > 0);
            const applied = ['op="Put"', 'success="true"', 'version="v3"'];
            assert.ok(sample(samples, "etcd_server_apply_duration_seconds_count", ...applied) >= 1);
          }
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

/** The peer series of the dashboards and alerts: they exist only where there are peers. */
const PEER_DASHBOARD_SERIES = [
  "etcd_network_peer_received_bytes_total",
  "etcd_network_peer_round_trip_time_seconds_bucket",
  "etcd_network_peer_sent_bytes_total",
];

/**
 * etcd 3.4 families that cairn does not have, and why. The family test
 * fails when this list is wrong either way, so it stays the true list.
 */
const NOT_IN_CAIRN: [RegExp, string][] = [
  [/^go_/, "the Go runtime's: cairn runs on Deno (process_* and nodejs_heap_* instead)"],
  [/^etcd_server_go_version$/, "the Go version etcd was built with"],
  [/^etcd_grpc_proxy_/, "etcd's gRPC proxy mode, which cairn does not have"],
  [/^etcd_debugging_store_/, "etcd's v2 store, which cairn does not have (v3 API only)"],
  [
    /^etcd_debugging_disk_backend_commit_(rebalance|spill|write)_duration_seconds$/,
    "bbolt's commit phases: cairn's state is not kept in bbolt",
  ],
  [/^etcd_mvcc_db_open_read_transactions$/, "bbolt's read transactions: cairn reads from memory"],
];

/** etcd 3.4 families not built yet (the test fails once one appears, so this stays true). */
const NOT_YET: string[] = [];

/** A family's type and label names (le and quantile left out), as printed. */
function families(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1], m[2]);
  const labels = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    let name = /^[^{ ]+/.exec(line)![0];
    if (!types.has(name)) name = name.replace(/_(bucket|sum|count)$/, "");
    const set = labels.get(name) ?? new Set<string>();
    for (const l of line.matchAll(/[{,]([a-zA-Z_]+)="/g)) {
      if (l[1] !== "le" && l[1] !== "quantile") set.add(l[1]);
    }
    labels.set(name, set);
  }
  const out = new Map<string, string>();
  for (const [name, type] of types) {
    out.set(name, `${type} {${[...labels.get(name) ?? []].sort().join(",")}}`);
  }
  return out;
}

/** The same etcdctl commands against either server: every kind of request the counters count. */
async function workload(m: Member): Promise<void> {
  const ep = m.endpoint;
  await etcdctlOk(ep, ["put", "a", "1"]);
  await etcdctlOk(ep, ["put", "a", "22", "--prev-kv"]);
  await etcdctlOk(ep, ["get", "a"]);
  await etcdctlOk(ep, ["get", "", "--prefix", "--keys-only"]);
  await etcdctlOk(ep, ["del", "a", "--prev-kv"]);
  // A writing txn (its compare holds: "a" is gone), then a read-only one.
  await etcdctlOk(ep, ["txn"], { stdin: 'mod("a") = "0"\n\nput b 1\nget b\n\nget a\n\n' });
  await etcdctlOk(ep, ["txn"], { stdin: 'value("b") = "1"\n\nget b\nget a\n\n\n' });
  const granted = await etcdctlOk(ep, ["lease", "grant", "300"]);
  const id = /lease ([0-9a-f]+) granted/.exec(granted)![1];
  await etcdctlOk(ep, ["put", "c", "3", `--lease=${id}`]);
  await etcdctlOk(ep, ["lease", "keep-alive", "--once", id]);
  await etcdctlOk(ep, ["lease", "revoke", id]);
  // Compact everything so far: a, a and a's tombstone go (b, c's tombstone stay).
  const rev = JSON.parse(await etcdctlOk(ep, ["get", "b", "-w", "json"])).header.revision;
  await etcdctlOk(ep, ["compact", String(rev)]);
}

/** An etcdctl watch (of `key`, or of `prefix`) held open until the returned function is called. */
function openWatch(m: Member, key = "w", prefix = false): () => Promise<void> {
  const child = new Deno.Command("etcdctl", {
    args: [`--endpoints=${m.endpoint}`, "watch", key, ...(prefix ? ["--prefix"] : [])],
    env: { ETCDCTL_API: "3" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return async () => {
    child.kill("SIGKILL");
    await child.status;
  };
}

/** Waits (bounded) until the member counts `n` open Watch streams. */
async function waitWatchStreams(m: Member, n: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const streams = sample(
      parse(await scrape(m.clientUrl)),
      "etcd_debugging_mvcc_watch_stream_total",
    );
    if (streams === n) return;
    await sleep(100);
  }
  throw new Error(`${m.options.kind}: ${n} watch streams not seen within 15 s`);
}

Deno.test({
  name:
    "metrics: every family etcd 3.4 exposes is there with its type and labels, or listed with why",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const texts = new Map<MemberKind, string>();
    for (const kind of ["etcd", "cairn"] as MemberKind[]) {
      const m = await Member.start({ kind });
      const unwatch = openWatch(m);
      try {
        await workload(m);
        await waitWatchStreams(m, 1);
        texts.set(kind, await scrape(m.clientUrl));
      } finally {
        await unwatch();
        await m.destroy();
      }
    }
    const etcd = families(texts.get("etcd")!);
    const cairn = families(texts.get("cairn")!);
    // Without --metrics extensive neither times calls.
    for (const f of [etcd, cairn]) assert.ok(!f.has("grpc_server_handling_seconds"));
    const missing: string[] = [];
    const unexplained: string[] = [];
    const different: string[] = [];
    for (const [name, shape] of etcd) {
      const ours = cairn.get(name);
      if (ours === undefined) {
        missing.push(name);
        if (!NOT_IN_CAIRN.some(([re]) => re.test(name))) unexplained.push(name);
      } else if (ours !== shape) different.push(`${name}: etcd ${shape}, cairn ${ours}`);
    }
    assert.deepEqual(different, [], "families whose type or labels differ from etcd's");
    assert.deepEqual(unexplained.sort(), [...NOT_YET].sort(), "etcd families cairn lacks");
    for (const [re, why] of NOT_IN_CAIRN) {
      assert.ok(missing.some((n) => re.test(n)), `${re} (${why}) matches no missing family`);
      assert.ok(![...cairn.keys()].some((n) => re.test(n)), `${re} is listed but cairn has it`);
    }
  },
});

Deno.test({
  name:
    "metrics: store, lease and request counters move as etcd's do for the same etcdctl commands",
  ignore: skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const SERIES: [string, ...string[]][] = [
      ["etcd_mvcc_put_total"],
      ["etcd_mvcc_range_total"],
      ["etcd_mvcc_delete_total"],
      ["etcd_mvcc_txn_total"],
      ["etcd_debugging_mvcc_put_total"],
      ["etcd_debugging_mvcc_range_total"],
      ["etcd_debugging_mvcc_txn_total"],
      ["etcd_debugging_mvcc_total_put_size_in_bytes"],
      ["etcd_debugging_lease_granted_total"],
      ["etcd_debugging_lease_renewed_total"],
      ["etcd_debugging_lease_revoked_total"],
      ["etcd_debugging_lease_ttl_total_sum"],
      ["etcd_server_client_requests_total", 'type="unary"'],
      ["etcd_server_client_requests_total", 'type="stream"'],
      ["grpc_server_started_total", 'grpc_method="Put"'],
      ["grpc_server_started_total", 'grpc_method="Range"'],
      ["grpc_server_started_total", 'grpc_method="DeleteRange"'],
      ["grpc_server_started_total", 'grpc_method="Txn"'],
      ["grpc_server_started_total", 'grpc_method="LeaseGrant"'],
      ["grpc_server_started_total", 'grpc_method="LeaseKeepAlive"'],
      ["grpc_server_handled_total", 'grpc_method="Txn"', 'grpc_code="OK"'],
      ["etcd_debugging_mvcc_events_total"],
      ["etcd_debugging_mvcc_pending_events_total"],
      ["etcd_debugging_mvcc_db_compaction_keys_total"],
      ["etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_count"],
    ];
    const deltas = new Map<MemberKind, string[]>();
    for (const kind of ["etcd", "cairn"] as MemberKind[]) {
      const m = await Member.start({ kind });
      let unwatch = () => Promise.resolve();
      try {
        // Bind the labelled series: etcd prints client_requests only once counted.
        await etcdctlOk(m.endpoint, ["put", "warm", "up"]);
        // A watch of every key: the workload's writes are its events.
        unwatch = openWatch(m, "", true);
        await waitWatchStreams(m, 1);
        const before = parse(await scrape(m.clientUrl));
        await workload(m);
        // Events reach the watcher after the write is acknowledged, and
        // etcd removes compacted revisions in the background: wait
        // (bounded) for the six events of the workload (puts of a, a, b
        // and c, the delete of a, and of c with its lease) and for the
        // compaction to end.
        let after = parse(await scrape(m.clientUrl));
        const grew = (name: string) => sample(after, name) - sample(before, name);
        const until = Date.now() + 10_000;
        while (
          (grew("etcd_debugging_mvcc_events_total") < 6 ||
            grew("etcd_debugging_mvcc_db_compaction_total_duration_milliseconds_count") < 1) &&
          Date.now() < until
        ) {
          await sleep(50);
          after = parse(await scrape(m.clientUrl));
        }
        const value = (s: Map<string, number>, [name, ...labels]: [string, ...string[]]) => {
          try {
            return sample(s, name, ...labels);
          } catch {
            return 0;
          }
        };
        deltas.set(
          kind,
          SERIES.map((ser) => `${ser.join(" ")} ${value(after, ser) - value(before, ser)}`),
        );
      } finally {
        await unwatch();
        await m.destroy();
      }
    }
    assert.deepEqual(deltas.get("cairn"), deltas.get("etcd"));
    // Not vacuous: the commands did count.
    for (const counted of ["etcd_mvcc_put_total 4", "etcd_debugging_mvcc_events_total 6"]) {
      assert.ok(deltas.get("etcd")!.includes(counted), deltas.get("etcd")!.join("\n"));
    }
  },
});

for (const kind of ["cairn", "etcd"] as MemberKind[]) {
  Deno.test({
    name:
      `metrics (${kind}): peer series of a 3-member cluster; bytes the leader sends reach its followers; a lagging one gets a snapshot`,
    ignore: skip,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      // Snapshots every 1,000 entries: a follower 7,000 entries behind
      // gets the leader's snapshot (both keep 5,000 entries after one).
      const members = await startCluster(3, ["--snapshot-count=1000"], kind);
      const client = new GrpcClient((await waitForLeader(members)).clientUrl);
      try {
        const leader = await waitForLeader(members);
        const ids = new Map<Member, string>();
        for (const m of members) ids.set(m, (await leaderView(m))!.memberId.toString(16));
        const followers = members.filter((m) => m !== leader);
        const payload = 100 * 2048;
        for (let i = 0; i < 100; i++) await client.put(`peer/${i}`, "p".repeat(2048));
        // Round trips are probed on a timer: wait (bounded) for the first.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const s = parse(await scrape(leader.clientUrl));
          const probed = [...s].some(([k, v]) =>
            k.startsWith("etcd_network_peer_round_trip_time_seconds_count") && v > 0
          );
          if (probed) break;
          assert.ok(Date.now() < deadline, "no peer round trip measured within 30 s");
          await sleep(200);
        }
        for (const f of followers) {
          // The follower first: what it received was sent before the leader's scrape.
          const got = sample(
            parse(await scrape(f.clientUrl)),
            "etcd_network_peer_received_bytes_total",
            `From="${ids.get(leader)}"`,
          );
          const leaderText = await scrape(leader.clientUrl);
          const sent = sample(
            parse(leaderText),
            "etcd_network_peer_sent_bytes_total",
            `To="${ids.get(f)}"`,
          );
          assert.ok(got >= payload, `${f.name} received ${got} bytes from the leader`);
          assert.ok(sent >= got, `leader sent ${sent} bytes to ${f.name}, which received ${got}`);
          for (const name of PEER_DASHBOARD_SERIES) sample(parse(leaderText), name);
        }
        // A follower down: the leader counts what it cannot send to it (the
        // mixin's etcdMembersDown alert).
        const down = followers[0];
        await down.kill();
        const until = Date.now() + 30_000;
        let failures = 0;
        while (failures === 0) {
          await client.put("after", "down");
          try {
            failures = sample(
              parse(await scrape(leader.clientUrl)),
              "etcd_network_peer_sent_failures_total",
              `To="${ids.get(down)}"`,
            );
          } catch {
            // not counted yet
          }
          assert.ok(Date.now() < until, "no send failure counted within 30 s");
          if (failures === 0) await sleep(200);
        }
        // It comes back 7,000 entries behind: the leader sends a snapshot.
        const writers = Array.from({ length: 8 }, () => new GrpcClient(leader.clientUrl));
        try {
          let n = 0;
          await Promise.all(writers.map(async (w) => {
            while (n < 7000) await w.put(`behind/${n++}`, "x".repeat(32));
          }));
        } finally {
          for (const w of writers) w.destroy();
        }
        down.launch();
        const snapDeadline = Date.now() + 60_000;
        const leaderId = `"${ids.get(leader)}"`;
        const downId = `"${ids.get(down)}"`;
        for (;;) {
          const s = parse(await scrape(leader.clientUrl));
          const r = down.running
            ? await scrape(down.clientUrl).then(parse, () => undefined)
            : undefined;
          const sentOk = [...s].some(([k, v]) =>
            k.startsWith(`etcd_network_snapshot_send_success{To=${downId}`) && v >= 1
          );
          const gotOk = r !== undefined &&
            [...r].some(([k, v]) =>
              k.startsWith(`etcd_network_snapshot_receive_success{From=${leaderId}`) && v >= 1
            );
          // The follower counts the snapshot received when Raft takes it,
          // and saves it in its next Ready (etcd saves the .snap.db first):
          // its save metrics may follow a scrape or two later.
          const saved = gotOk &&
            sample(r!, "etcd_snap_db_save_total_duration_seconds_count") >= 1 &&
            sample(r!, "etcd_snap_db_fsync_duration_seconds_count") >= 1;
          if (sentOk && saved) {
            assert.ok(
              sample(
                s,
                "etcd_network_snapshot_send_total_duration_seconds_count",
                `To=${downId}`,
              ) >=
                1,
            );
            break;
          }
          assert.ok(Date.now() < snapDeadline, "no snapshot sent, received and saved within 60 s");
          await sleep(250);
        }
      } finally {
        client.destroy();
        await destroyAll(members);
      }
    },
  });
}
