import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { type InternalRequest, InternalRequestSchema } from "../gen/cairn/internal_pb.ts";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  AlarmType,
  CompactionRequestSchema,
  LeaseGrantRequestSchema,
  LeaseRevokeRequestSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import { Lessor } from "../lease/lessor.ts";
import { createLogger, type Logger } from "../log.ts";
import { MvccStore } from "../mvcc/store.ts";
import { delReq, op, putReq, txnReq } from "../mvcc/test_helpers.ts";
import type { PeerReply } from "../transport/peer_client.ts";
import {
  CompactHashMonitor,
  CorruptionMonitor,
  DataInconsistency,
  decodeHashKVAnswer,
  decodeHashKVRequest,
  encodeHashKVAnswer,
  encodeHashKVRequest,
  hashKVRoute,
  initialCorruptCheck,
  interpretReply,
  MVCC_COMPACTED,
  MVCC_FUTURE_REV,
  PEER_HASHKV_PATH,
  type PeerCall,
  type PeerInfo,
} from "./corrupt_check.ts";
import { applyRequest, type StateMachine } from "./apply.ts";
import { Membership } from "./membership.ts";
import { AuthStore } from "../auth/store.ts";
import { CompactHashes, compactionHashSteps } from "./compaction_hash.ts";
import { runSteps } from "../mvcc/steps.ts";

const dec = new TextDecoder();
const CLUSTER = 0xc1a5n;
const noHeaders = () => undefined;

/** A logger whose lines land in `lines` (parsed). */
function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger("debug", { writer: (l) => lines.push(JSON.parse(l)) }), lines };
}

/** A store with `n` puts of k<i>=v<i>, `value` replacing the value of the first one. */
function storeWith(n: number, value = "v0"): MvccStore {
  const s = new MvccStore();
  for (let i = 0; i < n; i++) s.put(putReq(`k${i}`, i === 0 ? value : `v${i}`));
  return s;
}

/**
 * A cluster of stores reachable through their hashkv routes, as peer calls
 * over the network would reach them. Members listed in `down` fail to answer.
 */
function network(
  stores: Map<bigint, MvccStore>,
  log: Logger,
  down = new Set<bigint>(),
  clusterOf = (_id: bigint) => CLUSTER,
  hashesOf = new Map<bigint, CompactHashes>(),
) {
  const peers: PeerInfo[] = [...stores.keys()].map((id) => ({
    id,
    peerUrls: [`http://m${id}:2380`],
  }));
  const asked: string[] = [];
  const call: PeerCall = async (url, path, body, _timeout, method, headers) => {
    asked.push(`${method} ${url}${path}`);
    const id = BigInt(new URL(url).hostname.slice(1));
    if (down.has(id)) throw new Error(`connect ECONNREFUSED ${url}`);
    assert.equal(path, PEER_HASHKV_PATH);
    const header = (name: string) => headers.find(([n]) => n === name)?.[1];
    const stored = (rev: number) => hashesOf.get(id)?.byRevision(rev);
    const route = hashKVRoute(() => stores.get(id)!, clusterOf(id), log, stored);
    const answer = await route(body, header);
    return { status: answer.status, body: answer.body };
  };
  return { peers, call, asked };
}

Deno.test("hashkv JSON: requests and answers in the shape etcd's handler uses", () => {
  assert.equal(dec.decode(encodeHashKVRequest(0)), "{}");
  assert.equal(dec.decode(encodeHashKVRequest(12)), `{"revision":12}`);
  assert.equal(decodeHashKVRequest(encodeHashKVRequest(12)), 12);
  assert.equal(decodeHashKVRequest(new TextEncoder().encode("{}")), 0);
  for (const bad of ["", "[]", "null", `{"revision":"x"}`, `{"revision":1.5}`, "{"]) {
    assert.equal(decodeHashKVRequest(new TextEncoder().encode(bad)), undefined, bad);
  }
  const a = { hash: 123456789, compactRevision: -1, revision: 9 };
  assert.equal(
    dec.decode(encodeHashKVAnswer(a)),
    `{"header":{"revision":9},"hash":123456789,"compact_revision":-1}`,
  );
  assert.deepEqual(decodeHashKVAnswer(encodeHashKVAnswer(a)), a);
  // Go omits zero fields; they read back as zero.
  assert.deepEqual(decodeHashKVAnswer(new TextEncoder().encode(`{"header":{}}`)), {
    hash: 0,
    compactRevision: 0,
    revision: 0,
  });
  assert.throws(() => decodeHashKVAnswer(new TextEncoder().encode(`{"hash":"x"}`)));
});

Deno.test("hashkv route: the store's HashKV, and etcd's 400s for compacted, future and bad requests", async () => {
  const { log } = captureLog();
  const store = storeWith(5);
  store.compact(3);
  const route = hashKVRoute(() => store, CLUSTER, log);

  const ok = await route(encodeHashKVRequest(0), noHeaders);
  assert.equal(ok.status, 200);
  const want = store.hashKV(0);
  assert.deepEqual(decodeHashKVAnswer(ok.body), {
    hash: want.hash,
    compactRevision: 3,
    revision: store.currentRevision,
  });
  const at5 = await route(encodeHashKVRequest(5), noHeaders);
  assert.equal(decodeHashKVAnswer(at5.body).hash, store.hashKV(5).hash);

  const compacted = await route(encodeHashKVRequest(2), noHeaders);
  assert.equal(compacted.status, 400);
  assert.equal(dec.decode(compacted.body), `${MVCC_COMPACTED}\n`);
  assert.deepEqual(interpretReply(compacted), { kind: "compacted" });

  const future = await route(encodeHashKVRequest(99), noHeaders);
  assert.equal(future.status, 400);
  assert.equal(dec.decode(future.body), `${MVCC_FUTURE_REV}\n`);
  assert.deepEqual(interpretReply(future), { kind: "future" });

  const bad = await route(new TextEncoder().encode("not json"), noHeaders);
  assert.equal(bad.status, 400);
  assert.equal(dec.decode(bad.body), "error unmarshalling request\n");
  assert.deepEqual(interpretReply(bad), {
    kind: "failed",
    message: "unknown error: error unmarshalling request\n",
  });
});

Deno.test("hashkv route: a caller from another cluster gets etcd's 412 and is skipped", async () => {
  const { log, lines } = captureLog();
  const route = hashKVRoute(() => storeWith(3), CLUSTER, log);
  const other = await route(encodeHashKVRequest(0), () => "abc");
  assert.equal(other.status, 412);
  assert.equal(dec.decode(other.body), "cluster ID mismatch\n");
  assert.deepEqual(interpretReply(other), { kind: "clusterMismatch" });
  const same = await route(encodeHashKVRequest(0), () => CLUSTER.toString(16));
  assert.equal(same.status, 200);

  // A "peer" of another cluster with another hash does not stop the member.
  const stores = new Map([[1n, storeWith(5, "mine")], [2n, storeWith(5)]]);
  const net = network(stores, log, new Set(), (id) => id === 2n ? 0xbadn : CLUSTER);
  await initialCorruptCheck(
    { selfId: 1n, clusterId: CLUSTER, log, call: net.call, timeoutMs: 1000 },
    stores.get(1n)!,
    net.peers,
  );
  assert.ok(lines.some((l) => l.msg === "cluster ID mismatch"));
});

Deno.test("interpretReply: a refusal without a body keeps the peer's reason", () => {
  const r: PeerReply = { status: 404, body: new Uint8Array(), error: "not found" };
  assert.deepEqual(interpretReply(r), { kind: "failed", message: "unknown error: not found" });
});

Deno.test("initial check: passes when every peer has the same hash at our revision", async () => {
  const { log, lines } = captureLog();
  // Peers are ahead of us: they hash at our revision, not their own.
  const stores = new Map([[1n, storeWith(5)], [2n, storeWith(8)], [3n, storeWith(6)]]);
  const net = network(stores, log);
  await initialCorruptCheck(
    { selfId: 1n, clusterId: CLUSTER, log, call: net.call, timeoutMs: 1000 },
    stores.get(1n)!,
    net.peers,
  );
  assert.deepEqual(net.asked.sort(), [
    "GET http://m2:2380/members/hashkv",
    "GET http://m3:2380/members/hashkv",
  ]);
  assert.ok(lines.some((l) => l.msg === "initial corruption checking passed; no corruption"));
});

Deno.test("initial check: a peer at the same compact revision with another hash stops the member", async () => {
  const { log, lines } = captureLog();
  const stores = new Map([[1n, storeWith(5, "altered")], [2n, storeWith(5)], [3n, storeWith(5)]]);
  const net = network(stores, log);
  await assert.rejects(
    initialCorruptCheck(
      { selfId: 1n, clusterId: CLUSTER, log, call: net.call, timeoutMs: 1000 },
      stores.get(1n)!,
      net.peers,
    ),
    (err: Error) => {
      assert.ok(err instanceof DataInconsistency);
      assert.equal(err.message, "1 found data inconsistency with peers");
      return true;
    },
  );
  const found = lines.filter((l) => l.msg === "found different hash values from remote peer");
  assert.equal(found.length, 2);
  assert.equal(found[0]["local-member-id"], "1");
  assert.equal(found[0]["local-member-revision"], 6);
  assert.notEqual(found[0]["local-member-hash"], found[0]["remote-peer-hash"]);
});

Deno.test("initial check: unreachable, compacted-past and slow peers are skipped, as etcd skips them", async () => {
  const { log, lines } = captureLog();
  const behind = storeWith(2); // revision 3: our revision 6 is in its future
  const compactedPast = storeWith(9);
  compactedPast.compact(8);
  const otherCompaction = storeWith(6, "whatever");
  otherCompaction.compact(2); // same revision, another compact revision: not comparable
  const stores = new Map([
    [1n, storeWith(5, "altered")],
    [2n, storeWith(5)],
    [3n, behind],
    [4n, compactedPast],
    [5n, otherCompaction],
  ]);
  const net = network(stores, log, new Set([2n]));
  await initialCorruptCheck(
    { selfId: 1n, clusterId: CLUSTER, log, call: net.call, timeoutMs: 1000 },
    stores.get(1n)!,
    net.peers,
  );
  const msgs = lines.map((l) => l.msg);
  assert.ok(msgs.includes("failed hash kv request"));
  assert.ok(msgs.includes("cannot fetch hash from slow remote peer"));
  assert.ok(msgs.includes("cannot fetch hash from remote peer; local member is behind"));
  assert.ok(msgs.includes("found different compact revision values from remote peer"));
  assert.ok(msgs.includes("initial corruption checking passed; no corruption"));
});

/** A monitor over `stores` as seen by member 1, the leader; returns the alarms it raised. */
function monitorFor(stores: Map<bigint, MvccStore>, leader = true) {
  const { log, lines } = captureLog();
  const net = network(stores, log);
  const raised: bigint[] = [];
  let barriers = 0;
  const monitor = new CorruptionMonitor({
    selfId: 1n,
    clusterId: CLUSTER,
    log,
    call: net.call,
    timeoutMs: 1000,
    store: () => stores.get(1n)!,
    peers: () => net.peers,
    isLeader: () => leader,
    readBarrier: () => {
      barriers++;
      return Promise.resolve();
    },
    raiseCorrupt: (id) => raised.push(id),
  });
  return { monitor, raised, lines, barriers: () => barriers };
}

Deno.test("periodic check: a follower whose hash differs raises one CORRUPT alarm (member 0, as etcd)", async () => {
  const stores = new Map([
    [1n, storeWith(5)],
    [2n, storeWith(5)],
    [3n, storeWith(5, "altered")],
    [4n, storeWith(5, "also altered")],
  ]);
  const { monitor, raised, lines, barriers } = monitorFor(stores);
  await monitor.check();
  // One alarm per pass, for member 0 as etcd 3.4/3.5 raise it; the log names the suspect.
  assert.deepEqual(raised, [0n]);
  assert.equal(barriers(), 1);
  const warn = lines.find((l) => l.msg === "same compact revision then hashes must match");
  assert.equal(warn?.["follower-peer-id"], "3");
  assert.equal(lines.at(-1)?.msg, "finished peer corruption check");
  assert.equal(lines.at(-1)?.["number-of-peers-checked"], 3);
});

Deno.test("periodic check: matching followers, and followers behind the leader, raise nothing", async () => {
  const stores = new Map([[1n, storeWith(6)], [2n, storeWith(6)], [3n, storeWith(5)]]);
  const { monitor, raised } = monitorFor(stores);
  await monitor.check();
  assert.deepEqual(raised, []);
});

Deno.test("periodic check: a follower ahead of the leader or compacted further raises CORRUPT", async () => {
  const ahead = new Map([[1n, storeWith(5)], [2n, storeWith(5)]]);
  // The follower applies a put the leader has not: its revision is beyond the leader's.
  const { monitor, raised, lines } = monitorFor(ahead);
  ahead.get(2n)!.put(putReq("extra", "x"));
  await monitor.check();
  assert.deepEqual(raised, [0n]);
  const warn = lines.find((l) =>
    l.msg === "revision from follower must be less than or equal to leader's"
  );
  assert.equal(warn?.["follower-peer-id"], "2");

  const compacted = new Map([[1n, storeWith(5)], [2n, storeWith(5)]]);
  compacted.get(2n)!.compact(3);
  const second = monitorFor(compacted);
  await second.monitor.check();
  assert.deepEqual(second.raised, [0n]);
  assert.ok(
    second.lines.some((l) =>
      l.msg === "compact revision from follower must be less than or equal to leader's"
    ),
  );
});

Deno.test("periodic check: tick runs only on the leader and never two passes at once", async () => {
  const stores = new Map([[1n, storeWith(3)], [2n, storeWith(3, "altered")]]);
  const follower = monitorFor(stores, false);
  follower.monitor.tick();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(follower.barriers(), 0);

  const leader = monitorFor(stores);
  leader.monitor.tick();
  leader.monitor.tick(); // still running: ignored
  const deadline = Date.now() + 2000;
  while (leader.raised.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(leader.raised, [0n]);
  assert.equal(leader.barriers(), 1);
});

Deno.test("apply under CORRUPT: writes, compaction, lease grant/revoke refused until disarmed; reads pass", () => {
  const lessor = new Lessor({ minTtl: 2 });
  const sm: StateMachine = {
    store: new MvccStore(lessor.hooks),
    membership: Membership.fromRecords([]),
    alarms: [],
    lessor,
    auth: new AuthStore({ tokenTtlSeconds: 0 }),
  };
  const apply = (request: InternalRequest["request"]) =>
    applyRequest(sm, create(InternalRequestSchema, { id: 1n, origin: 1n, request }));
  const alarm = (action: AlarmRequest_AlarmAction) =>
    apply({
      case: "alarm",
      value: create(AlarmRequestSchema, { action, memberID: 3n, alarm: AlarmType.CORRUPT }),
    });
  apply({ case: "put", value: putReq("a", "1") });
  apply({ case: "leaseGrant", value: create(LeaseGrantRequestSchema, { ID: 7n, TTL: 10n }) });
  alarm(AlarmRequest_AlarmAction.ACTIVATE);
  assert.deepEqual(sm.alarms.map((a) => [a.memberID, a.alarm]), [[3n, AlarmType.CORRUPT]]);

  const refused: InternalRequest["request"][] = [
    { case: "put", value: putReq("a", "2") },
    { case: "deleteRange", value: delReq("a") },
    { case: "txn", value: txnReq([], [op.put("b")]) },
    { case: "compaction", value: create(CompactionRequestSchema, { revision: 1n }) },
    { case: "leaseGrant", value: create(LeaseGrantRequestSchema, { ID: 8n, TTL: 10n }) },
    { case: "leaseRevoke", value: create(LeaseRevokeRequestSchema, { ID: 7n }) },
  ];
  const rev = sm.store.currentRevision;
  for (const r of refused) {
    assert.throws(() => apply(r), (err) => isEtcdError(err, EtcdErrors.corrupt), r.case);
  }
  assert.equal(sm.store.currentRevision, rev, "nothing refused changed the store");
  assert.ok(sm.lessor.lookup(7n), "the lease was not revoked");
  // A read-only txn is served (etcd answers it without the log).
  const readOnly = txnReq([], [op.range("a")]);
  assert.doesNotThrow(() => apply({ case: "txn", value: readOnly }));

  alarm(AlarmRequest_AlarmAction.DEACTIVATE);
  assert.equal(sm.alarms.length, 0);
  apply({ case: "put", value: putReq("a", "3") });
  assert.equal(sm.store.currentRevision, rev + 1);
});

/** Compacts `st` at `rev`, recording the compaction's hash as a member does. */
function compactRecording(st: MvccStore, hashes: CompactHashes, rev: number): void {
  hashes.store(runSteps(compactionHashSteps(st.pointInTime(), rev, 1000)));
  st.compact(rev);
}

/**
 * Members 1 (the leader) to `n`, each with `puts` puts (member `altered`'s
 * first value differs) compacted at each of `revs`, recording hashes.
 */
function compactedCluster(n: number, puts: number, revs: number[], altered = 0n) {
  const stores = new Map<bigint, MvccStore>();
  const hashes = new Map<bigint, CompactHashes>();
  for (let id = 1n; id <= BigInt(n); id++) {
    const st = storeWith(puts, id === altered ? "altered" : "v0");
    const hs = new CompactHashes();
    for (const rev of revs) {
      compactRecording(st, hs, rev);
      st.put(putReq(`after${rev}`, "x"));
    }
    stores.set(id, st);
    hashes.set(id, hs);
  }
  return { stores, hashes };
}

/** The compact hash check over `stores` as member 1 runs it; returns the alarms it raised. */
function compactMonitorFor(
  stores: Map<bigint, MvccStore>,
  hashes: Map<bigint, CompactHashes>,
  down = new Set<bigint>(),
  leader = true,
) {
  const { log, lines } = captureLog();
  const net = network(stores, log, down, undefined, hashes);
  const raised: bigint[] = [];
  const monitor = new CompactHashMonitor({
    selfId: 1n,
    clusterId: CLUSTER,
    log,
    call: net.call,
    timeoutMs: 1000,
    hashes: () => hashes.get(1n)!.list(),
    peers: () => net.peers,
    isLeader: () => leader,
    raiseCorrupt: (id) => raised.push(id),
  });
  return { monitor, raised, lines, asked: net.asked };
}

Deno.test("hashkv route: a revision with a recorded compaction hash answers with that hash", async () => {
  const st = storeWith(6);
  const hs = new CompactHashes();
  const before = st.hashKV(4);
  compactRecording(st, hs, 4);
  const route = hashKVRoute(() => st, CLUSTER, captureLog().log, (rev) => hs.byRevision(rev));
  // Without the recorded hash, revision 4 is compacted now (etcd's 400).
  const plain = await hashKVRoute(() => st, CLUSTER, captureLog().log)(
    encodeHashKVRequest(4),
    noHeaders,
  );
  assert.equal(plain.status, 400);
  const a = await route(encodeHashKVRequest(4), noHeaders);
  assert.equal(a.status, 200);
  assert.deepEqual(decodeHashKVAnswer(a.body), {
    hash: before.hash,
    compactRevision: -1,
    revision: st.currentRevision,
  });
  // Other revisions are hashed as before.
  const cur = await route(encodeHashKVRequest(0), noHeaders);
  assert.equal(decodeHashKVAnswer(cur.body).hash, st.hashKV(0).hash);
});

Deno.test("compact hash check: a follower's different hash at a compaction raises CORRUPT for member 0", async () => {
  const { stores, hashes } = compactedCluster(3, 8, [4, 9], 3n);
  const { monitor, raised, lines } = compactMonitorFor(stores, hashes);
  assert.equal(await monitor.check(), true);
  assert.deepEqual(raised, [0n]);
  const err = lines.find((l) => l.msg === "failed compaction hash check");
  assert.equal(err?.level, "error");
  assert.equal(err?.["follower-peer-id"], "3");
  // The newest compaction first; the pass ends at the mismatch.
  assert.equal(err?.revision, 9);
  assert.equal(err?.["leader-compact-revision"], 4);
  assert.ok(!lines.some((l) => l.msg === "finished compaction hash check"));
});

Deno.test("compact hash check: matching hashes raise nothing, and a checked revision is not asked again", async () => {
  const { stores, hashes } = compactedCluster(3, 8, [3, 6, 9]);
  const { monitor, raised, lines, asked } = compactMonitorFor(stores, hashes);
  assert.equal(await monitor.check(), false);
  assert.deepEqual(raised, []);
  assert.ok(
    lines.some((l) =>
      l.msg === "successfully checked hash on whole cluster" && l.revision === 9 &&
      l["number-of-peers-checked"] === 2
    ),
  );
  assert.equal(
    lines.find((l) => l.msg === "finished compaction hash check")?.["number-of-hashes-checked"],
    1,
  );
  assert.equal(asked.length, 2);
  // Nothing newer than revision 9 since: the next pass checks nothing.
  await monitor.check();
  assert.equal(asked.length, 2);
  assert.equal(lines.at(-1)?.["number-of-hashes-checked"], 0);
  // A new compaction is checked on the next pass.
  for (const [id, st] of stores) compactRecording(st, hashes.get(id)!, 11);
  await monitor.check();
  assert.equal(asked.length, 4);
  assert.deepEqual(raised, []);
});

Deno.test("compact hash check: a revision some peer could not be checked at is skipped and retried", async () => {
  const { stores, hashes } = compactedCluster(3, 8, [5], 3n);
  const down = new Set([3n]);
  const { monitor, raised, lines } = compactMonitorFor(stores, hashes, down);
  await monitor.check();
  assert.deepEqual(raised, []);
  assert.ok(
    lines.some((l) =>
      l.msg === "skipped revision in compaction hash check; was not able to check all peers" &&
      l["number-of-peers-checked"] === 1 && l["number-of-peers"] === 2
    ),
  );
  // Member 3 answers again: its different hash is found on the next pass.
  down.clear();
  assert.equal(await monitor.check(), true);
  assert.deepEqual(raised, [0n]);
});

Deno.test("compact hash check: a peer without the hash, or with another compact revision, is not compared", async () => {
  const { stores, hashes } = compactedCluster(3, 8, [4, 7]);
  // Member 2 lost its hashes (a restart): revision 7 is compacted there, so no answer.
  hashes.set(2n, new CompactHashes());
  // Member 3's data differs, but its hash at 7 follows another compaction.
  const odd = storeWith(8, "altered");
  const oddHashes = new CompactHashes();
  compactRecording(odd, oddHashes, 5);
  odd.put(putReq("after4", "x"));
  compactRecording(odd, oddHashes, 7);
  stores.set(3n, odd);
  hashes.set(3n, oddHashes);
  const { monitor, raised } = compactMonitorFor(stores, hashes);
  assert.equal(await monitor.check(), false);
  assert.deepEqual(raised, []);
});

Deno.test("compact hash check: tick runs only on the leader and never two passes at once", async () => {
  const { stores, hashes } = compactedCluster(2, 5, [3], 2n);
  const follower = compactMonitorFor(stores, hashes, new Set(), false);
  follower.monitor.tick();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(follower.asked, []);

  const leader = compactMonitorFor(stores, hashes);
  leader.monitor.tick();
  leader.monitor.tick(); // still running: ignored
  const deadline = Date.now() + 2000;
  while (leader.raised.length === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.deepEqual(leader.raised, [0n]);
  assert.equal(leader.asked.length, 1);
});

/** Polls `done` every 5 ms for up to 2 s. */
async function waitFor(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

Deno.test("periodic checks: a pass that throws is logged as etcd logs it and the next tick runs again", async () => {
  // Member 1's store (periodic check) or hashes (compaction check) gone: the pass throws.
  const stores = new Map([[1n, storeWith(3)], [2n, storeWith(3)]]);
  const periodic = monitorFor(stores);
  const own = stores.get(1n)!;
  stores.delete(1n);
  periodic.monitor.tick();
  const failed = () => periodic.lines.some((l) => l.msg === "failed to check hash KV");
  await waitFor(failed);
  assert.ok(failed(), "the failure is logged");
  stores.set(1n, own);
  const finished = () => periodic.lines.some((l) => l.msg === "finished peer corruption check");
  // The failed pass released the ticker: a later tick runs a pass.
  await waitFor(() => {
    periodic.monitor.tick();
    return finished();
  });
  assert.ok(finished(), "a pass ran after the failed one");

  const c = compactedCluster(2, 5, [3]);
  const compact = compactMonitorFor(c.stores, c.hashes);
  const mine = c.hashes.get(1n)!;
  c.hashes.delete(1n);
  compact.monitor.tick();
  const compactFailed = () =>
    compact.lines.some((l) => l.msg === "failed compaction hash check" && l.level === "warn");
  await waitFor(compactFailed);
  assert.ok(compactFailed(), "the failure is logged");
  c.hashes.set(1n, mine);
  const compactFinished = () =>
    compact.lines.some((l) => l.msg === "finished compaction hash check");
  await waitFor(() => {
    compact.monitor.tick();
    return compactFinished();
  });
  assert.ok(compactFinished(), "a pass ran after the failed one");
});
