/**
 * Watch guarantees not covered elsewhere, each run against etcd 3.4 as
 * well where etcd's behaviour is the specification:
 *
 * - WithRequireLeader (`hasleader: true` metadata) on a follower of a
 *   3-member cluster whose other two members are SIGKILLed: the stream
 *   ends with etcd's status and message, a watch without the metadata on
 *   the same member stays open (and delivers again once a leader is back),
 *   and a new require-leader watch on the leaderless member is refused.
 *   The whole transcript must equal etcd's.
 * - Events from lease expiry, a multi-op Txn and a DeleteRange over a
 *   range, seen by watchers with and without prev_kv and filters: the raw
 *   responses must equal etcd's.
 *
 * The slow-watcher/10,000-watcher test lives in watch_slow_test.ts.
 */

import assert from "node:assert/strict";
import { toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { KV, Lease, WatchResponseSchema } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { destroyAll, startCluster, waitForLeader } from "./harness/cluster.ts";
import { Pair } from "./harness/compare.ts";
import { type Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";
import { createReq, until, type WatchEnd, WatchSession } from "./harness/watch_session.ts";

const ignore = skipIfToolsMissing("watch_guarantees_test.ts");

function itest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, sanitizeOps: false, sanitizeResources: false, fn });
}

const enc = (s: string) => new TextEncoder().encode(s);
const kvClient = (m: Member) =>
  createClient(KV, createGrpcTransport({ baseUrl: m.clientUrl, defaultTimeoutMs: 10_000 }));
const REQUIRE_LEADER = { hasleader: "true" };
const showEnd = (e: WatchEnd | undefined) => e === undefined ? "open" : `${e.code} ${e.message}`;

// ---- WithRequireLeader ----

/**
 * The require-leader scenario on a fresh 3-member cluster of `kind`, with
 * the watches on a follower or on the leader (which must step down once
 * it cannot reach a quorum, etcd's CheckQuorum); returns what a client
 * observes, step by step (no timings, no ids).
 */
async function requireLeaderTranscript(
  kind: "etcd" | "cairn",
  on: "follower" | "leader",
): Promise<string[]> {
  const out: string[] = [];
  const members = await startCluster(3, ["--log-level=warn"], kind);
  const sessions: WatchSession[] = [];
  const open = (m: Member, headers?: Record<string, string>) => {
    const s = new WatchSession(m.clientUrl, headers);
    sessions.push(s);
    return s;
  };
  try {
    const leader = await waitForLeader(members);
    const follower = on === "leader" ? leader : members.find((m) => m !== leader)!;
    const others = members.filter((m) => m !== follower);
    const rl = open(follower, REQUIRE_LEADER);
    const plain = open(follower);
    for (const s of [rl, plain]) s.send(createReq("rl/", "rl0"));
    assert.ok(await rl.waitCreated(1) && await plain.waitCreated(1), `${kind}: watches created`);
    await kvClient(follower).put({ key: enc("rl/a"), value: enc("1") });
    assert.ok(
      await until(() => rl.events().length === 1 && plain.events().length === 1, 10_000),
      `${kind}: both watchers see the first put`,
    );
    out.push(`before: rl=${rl.events()} plain=${plain.events()}`);

    // The follower loses its quorum for good.
    const killedAt = Date.now();
    await Promise.all(others.map((m) => m.kill()));
    const end = await Promise.race([rl.ended, sleep(30_000).then(() => undefined)]);
    const tookMs = Date.now() - killedAt;
    out.push(`require-leader watch after quorum loss: ${showEnd(end)}`);
    console.log(`${kind} ${on}: require-leader watch ended ${tookMs} ms after the kill`);
    // etcd waits for three election timeouts without a leader before ending streams.
    assert.ok(end === undefined || tookMs >= 2_000, `${kind}: ended too early (${tookMs} ms)`);
    await sleep(2_000);
    out.push(`plain watch meanwhile: ${showEnd(plain.end)}`);

    // New watches on the leaderless member.
    const rl2 = open(follower, REQUIRE_LEADER);
    rl2.send(createReq("rl/", "rl0"));
    const end2 = await Promise.race([rl2.ended, sleep(10_000).then(() => undefined)]);
    out.push(`new require-leader watch: ${showEnd(end2)} created=${rl2.responses.length}`);
    const plain2 = open(follower);
    plain2.send(createReq("rl/", "rl0"));
    out.push(`new plain watch created: ${await plain2.waitCreated(1)}`);

    // A leader again: the plain watches deliver the next write.
    for (const m of others) m.launch();
    await Promise.all(others.map((m) => m.waitHealthy(30_000)));
    await waitForLeader(members);
    await kvClient(follower).put({ key: enc("rl/b"), value: enc("2") });
    await until(() => plain.events().length === 2 && plain2.events().length === 1, 10_000);
    out.push(`after recovery: plain=${plain.events()} plain2=${plain2.events()}`);
    out.push(`open at the end: plain=${showEnd(plain.end)} plain2=${showEnd(plain2.end)}`);
    return out;
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
    await destroyAll(members);
  }
}

for (const on of ["follower", "leader"] as const) {
  itest(`WithRequireLeader: watches on a ${on} that loses its quorum end as on etcd`, async () => {
    const want = await requireLeaderTranscript("etcd", on);
    const got = await requireLeaderTranscript("cairn", on);
    assert.deepEqual(got, want);
    // The reference itself must show the behaviour the test is about.
    assert.match(want[1], /^require-leader watch after quorum loss: 14 etcdserver: no leader$/);
    assert.match(want[2], /plain watch meanwhile: open/);
    assert.match(want[3], /new require-leader watch: 14 etcdserver: no leader created=0/);
  });
}

// ---- events from lease expiry, Txn and DeleteRange, compared with etcd ----

/** Watchers with different options over the same keys, so every event path shows. */
const WATCHERS = [
  createReq("ev/", "ev0", { prevKv: true }),
  createReq("ev/", "ev0", { filters: [0] }), // NOPUT
  createReq("ev/", "ev0", { filters: [1] }), // NODELETE
  createReq("ev/b"),
  createReq("ev/c", "\0", { prevKv: true }), // every key >= ev/c
];

const put = (key: string, value: string, lease = 0n) => ({
  request: { case: "requestPut" as const, value: { key: enc(key), value: enc(value), lease } },
});
const del = (key: string, end = "", prevKv = false) => ({
  request: {
    case: "requestDeleteRange" as const,
    value: { key: enc(key), rangeEnd: enc(end), prevKv },
  },
});

/** Responses as JSON with only the header revision kept, sorted (watchers of one revision race). */
function transcript(s: WatchSession, from: number): string[] {
  return s.responses.slice(from).map((r) => {
    const j = toJson(WatchResponseSchema, r) as Record<string, unknown>;
    j.header = { revision: (j.header as Record<string, unknown> | undefined)?.revision ?? "0" };
    return JSON.stringify(j);
  }).sort();
}

itest(
  "events of lease expiry, lease revoke, multi-op Txn and range DeleteRange match etcd",
  async () => {
    const pair = await Pair.start(["--log-level=warn"]);
    type Side = {
      m: Member;
      kv: ReturnType<typeof kvClient>;
      lease: ReturnType<typeof createClient<typeof Lease>>;
      w: WatchSession;
      seen: number;
      phases: string[];
    };
    const sides: Side[] = [pair.etcd, pair.cairn].map((m) => ({
      m,
      kv: kvClient(m),
      lease: createClient(Lease, createGrpcTransport({ baseUrl: m.clientUrl })),
      w: new WatchSession(m.clientUrl),
      seen: 0,
      phases: [],
    }));
    /** Runs `f` on both sides, waits for `cond` (bounded), records each side's new responses. */
    const step = async (
      name: string,
      f: (s: Side) => Promise<unknown>,
      cond: (s: Side) => Promise<boolean> | boolean = () => true,
    ) => {
      for (const s of sides) await f(s);
      for (const s of sides) {
        const deadline = Date.now() + 15_000;
        while (!(await cond(s)) && Date.now() < deadline) await sleep(100);
      }
      await sleep(400); // every watcher's response has arrived (they race each other)
      for (const s of sides) {
        s.phases.push(`-- ${name}\n${transcript(s.w, s.seen).join("\n")}`);
        s.seen = s.w.responses.length;
      }
    };
    const absent = (key: string) => async (s: Side) =>
      (await s.kv.range({ key: enc(key) })).kvs.length === 0;
    try {
      await step("create watchers", async (s) => {
        for (const w of WATCHERS) s.w.send(w);
        await s.w.waitCreated(WATCHERS.length);
      });
      // Client-chosen ids, so kv.lease is the same on both sides.
      await step("leases and leased keys", async (s) => {
        await s.lease.leaseGrant({ ID: 0x1234n, TTL: 3n });
        await s.lease.leaseGrant({ ID: 0x5678n, TTL: 600n });
        for (const k of ["ev/c", "ev/a", "ev/b"]) {
          await s.kv.put({ key: enc(k), value: enc(`${k}1`), lease: 0x1234n });
        }
        await s.kv.put({ key: enc("ev/d"), value: enc("d1") });
        await s.kv.put({ key: enc("ev/e"), value: enc("e1"), lease: 0x5678n });
        await s.kv.put({ key: enc("ev/g"), value: enc("g1"), lease: 0x5678n });
      });
      await step("txn: puts, a lease detach, a delete, in one revision", (s) =>
        s.kv.txn({
          success: [
            put("ev/f", "f1"),
            put("ev/a", "a2"), // no lease: detached from 0x1234, survives its expiry
            del("ev/d", "", true),
            put("ev/b", "b2", 0x1234n),
            del("ev/zz"), // deletes nothing: no event
          ],
        }));
      await step("nested txn", (s) =>
        s.kv.txn({
          success: [put("ev/h", "h1"), {
            request: {
              case: "requestTxn" as const,
              value: { success: [put("ev/i", "i1"), del("ev/f")] },
            },
          }],
        }));
      // The leader's lessor revokes 0x1234: ev/b and ev/c go at one revision, in key order.
      await step("lease expiry", async () => {}, absent("ev/c"));
      await step("lease revoke", (s) => s.lease.leaseRevoke({ ID: 0x5678n }), absent("ev/g"));
      await step(
        "delete range [ev/a, ev/i)",
        (s) => s.kv.deleteRange({ key: enc("ev/a"), rangeEnd: enc("ev/i") }),
      );
      await step("delete prefix ev/ with prev_kv", async (s) => {
        await s.kv.put({ key: enc("ev/j"), value: enc("j1") });
        await s.kv.put({ key: enc("ev/k"), value: enc("k1") });
        await s.kv.deleteRange({ key: enc("ev/"), rangeEnd: enc("ev0"), prevKv: true });
      });
    } finally {
      for (const s of sides) {
        await s.w.close().catch(() => {});
      }
      await pair.destroy();
    }
    const [want, got] = sides.map((s) => s.phases.join("\n"));
    if (Deno.env.get("COMPARE_VERBOSE") === "1") console.log(want);
    assert.equal(got, want);
    // The reference shows what the test is about: one revision deletes both leased keys.
    const expiry = want.split("-- ").find((p) => p.startsWith("lease expiry"))!;
    assert.match(expiry, /"type":"DELETE".*"type":"DELETE"/, expiry);
  },
);
