/**
 * Watch across a leader failover on a 3-member cairn cluster, checked the
 * way a client sees it.
 *
 * Watchers (prefix, prev_kv) sit on the leader and on followers behind a
 * client that resumes like clientv3: when its stream breaks it reconnects
 * to the next member and re-creates the watch from the last revision it
 * saw + 1. A writer puts, deletes and runs txns under the prefix; midway the
 * history is compacted at a revision every watcher has seen, then the
 * leader is SIGKILLed. Afterwards every watcher must hold the same events,
 * each once, in revision order, with prev_kv and metadata that replay
 * correctly, matching the writer's acknowledged operations and a final
 * Range. A watch asking for compacted history is canceled with
 * compact_revision, on every member.
 */

import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  KV,
  Watch,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import {
  destroyAll,
  type EventRec,
  type KvRec,
  kvRec,
  ResumingWatcher,
  startCluster,
  waitForLeader,
} from "./harness/cluster.ts";
import { type Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("watch_failover_test.ts");

const PREFIX = "/wf/";
const PREFIX_END = "/wf0"; // "/" + 1
const enc = (s: string) => new TextEncoder().encode(s);
const TARGET = { key: enc(PREFIX), rangeEnd: enc(PREFIX_END), prevKv: true };
const OPS = 300;
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const kvClient = (m: Member) =>
  createClient(KV, createGrpcTransport({ baseUrl: m.clientUrl, defaultTimeoutMs: 5000 }));

// ---- the writer ----

type Op =
  | { kind: "put"; key: string; value: string }
  | { kind: "del"; key: string; end?: string }
  | { kind: "txn"; cmp: string; b: string; c: string; d: string; tag: string };

/** What a revision's events look like, without metadata. */
type Shape = { type: "PUT" | "DELETE"; key: string; value: string }[];

const keyName = (j: number) => `${PREFIX}k${String(j).padStart(2, "0")}`;

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function genOp(i: number, rnd: () => number): Op {
  const pick = () => Math.floor(rnd() * 12);
  const r = rnd();
  if (r < 0.55) return { kind: "put", key: keyName(pick()), value: `v${i}` };
  if (r < 0.75) {
    const j = pick();
    return rnd() < 0.8 ? { kind: "del", key: keyName(j) } : {
      kind: "del",
      key: keyName(j),
      end: keyName(j + 3),
    };
  }
  const ks = new Set<number>();
  while (ks.size < 4) ks.add(pick());
  const [a, b, c, d] = [...ks].map(keyName);
  return { kind: "txn", cmp: a, b, c, d, tag: `v${i}` };
}

/** Runs one op; returns its revision and event shape, or throws (then the outcome is unknown). */
async function runOp(kv: ReturnType<typeof kvClient>, op: Op): Promise<[number, Shape]> {
  if (op.kind === "put") {
    const res = await kv.put({ key: enc(op.key), value: enc(op.value) });
    return [Number(res.header!.revision), [{ type: "PUT", key: op.key, value: op.value }]];
  }
  if (op.kind === "del") {
    const res = await kv.deleteRange({
      key: enc(op.key),
      rangeEnd: op.end === undefined ? undefined : enc(op.end),
      prevKv: true,
    });
    const shape: Shape = res.prevKvs.map((p) => ({ type: "DELETE", key: dec(p.key), value: "" }));
    return [Number(res.header!.revision), shape];
  }
  const put = (key: string, value: string) => ({
    request: { case: "requestPut" as const, value: { key: enc(key), value: enc(value) } },
  });
  const res = await kv.txn({
    compare: [{
      key: enc(op.cmp),
      target: Compare_CompareTarget.VERSION,
      result: Compare_CompareResult.GREATER,
      targetUnion: { case: "version", value: 0n },
    }],
    success: [put(op.b, `${op.tag}b`), put(op.c, `${op.tag}c`), {
      request: { case: "requestDeleteRange", value: { key: enc(op.d), prevKv: true } },
    }],
    failure: [put(op.b, `${op.tag}f`)],
  });
  const rev = Number(res.header!.revision);
  if (!res.succeeded) return [rev, [{ type: "PUT", key: op.b, value: `${op.tag}f` }]];
  const del = res.responses[2].response;
  const deleted = del.case === "responseDeleteRange" ? Number(del.value.deleted) : -1;
  assert.ok(deleted === 0 || deleted === 1, `txn delete count ${deleted}`);
  const shape: Shape = [
    { type: "PUT", key: op.b, value: `${op.tag}b` },
    { type: "PUT", key: op.c, value: `${op.tag}c` },
  ];
  if (deleted === 1) shape.push({ type: "DELETE", key: op.d, value: "" });
  return [rev, shape];
}

/** Whether a revision's events could be the outcome of an op whose answer was lost. */
function couldBe(op: Op, shape: Shape): boolean {
  const same = (want: Shape) => JSON.stringify(want) === JSON.stringify(shape);
  if (op.kind === "put") return same([{ type: "PUT", key: op.key, value: op.value }]);
  if (op.kind === "del") {
    const end = op.end ?? op.key + "\0";
    return shape.length > 0 &&
      shape.every((e) => e.type === "DELETE" && e.key >= op.key && e.key < end);
  }
  const puts: Shape = [
    { type: "PUT", key: op.b, value: `${op.tag}b` },
    { type: "PUT", key: op.c, value: `${op.tag}c` },
  ];
  return same(puts) || same([...puts, { type: "DELETE", key: op.d, value: "" }]) ||
    same([{ type: "PUT", key: op.b, value: `${op.tag}f` }]);
}

// ---- checks ----

/** Splits events into per-revision groups, asserting revisions never go backwards. */
function byRevision(events: EventRec[], who: string): Map<number, EventRec[]> {
  const groups = new Map<number, EventRec[]>();
  let last = 0;
  const seen = new Set<string>();
  for (const e of events) {
    assert.ok(e.rev >= last, `${who}: revision ${e.rev} after ${last}`);
    const id = `${e.rev}/${e.key}`;
    assert.ok(!seen.has(id), `${who}: event ${id} delivered twice`);
    seen.add(id);
    last = e.rev;
    groups.set(e.rev, [...(groups.get(e.rev) ?? []), e]);
  }
  return groups;
}

/** Replays events from an empty prefix, checking prev_kv and metadata; returns the final state. */
function replay(events: EventRec[], who: string): Map<string, KvRec> {
  const model = new Map<string, KvRec>();
  for (const e of events) {
    const prev = model.get(e.key);
    const at = `${who}: ${e.type} ${e.key} @${e.rev}`;
    assert.deepEqual(e.prev, prev, `${at}: prev_kv`);
    if (e.type === "DELETE") {
      assert.ok(prev, `${at}: delete of an absent key`);
      model.delete(e.key);
      continue;
    }
    assert.equal(e.create, prev ? prev.create : e.rev, `${at}: create_revision`);
    assert.equal(e.version, prev ? prev.version + 1 : 1, `${at}: version`);
    model.set(e.key, { value: e.value, create: e.create, mod: e.rev, version: e.version });
  }
  return model;
}

/** Watches from `startRevision` on `m` and returns the first canceling response (bounded). */
async function compactedWatch(m: Member, startRevision: number): Promise<WatchResponse> {
  const client = createClient(Watch, createGrpcTransport({ baseUrl: m.clientUrl }));
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000);
  async function* requests(): AsyncGenerator<WatchRequest> {
    yield create(WatchRequestSchema, {
      requestUnion: {
        case: "createRequest",
        value: {
          key: enc(PREFIX),
          rangeEnd: enc(PREFIX_END),
          startRevision: BigInt(startRevision),
        },
      },
    });
    await new Promise<void>((resolve) => abort.signal.addEventListener("abort", () => resolve()));
  }
  try {
    for await (const r of client.watch(requests(), { signal: abort.signal })) {
      if (r.canceled) return r;
    }
    throw new Error(`${m.name}: watch from ${startRevision} ended without a cancel`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(25);
  }
}

Deno.test({
  name: "watch failover: resumed watchers see every event once, in order, with prev_kv",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const seed = Number(Deno.env.get("WATCH_FAILOVER_SEED") ?? Date.now() % 100_000);
    const members = await startCluster(3, ["--log-level=warn"]);
    const watchers: ResumingWatcher[] = [];
    try {
      const leader = await waitForLeader(members);
      const [fa, fb] = members.filter((m) => m !== leader);
      const r0 = Number((await kvClient(fa).range({ key: enc(PREFIX) })).header!.revision);
      watchers.push(
        new ResumingWatcher("leader-a", members, leader, TARGET, r0 + 1),
        new ResumingWatcher("leader-now", members, leader, TARGET, 0),
        new ResumingWatcher("follower-a", members, fa, TARGET, r0 + 1),
        new ResumingWatcher("follower-b-cut", members, fb, TARGET, r0 + 1),
      );
      await waitUntil(
        "watches created",
        () => watchers.every((w) => w.sessions.length > 0),
        10_000,
      );

      const rnd = prng(seed);
      const acked = new Map<number, { i: number; shape: Shape }>();
      const lost = new Map<number, Op>();
      // Writes go to every live member, the doomed leader included (its last answers may be lost).
      const clients = new Map(members.map((m) => [m, kvClient(m)]));
      const writable = new Set(members);
      const writerFor = (i: number) => {
        const live = members.filter((m) => writable.has(m));
        return clients.get(live[i % live.length])!;
      };
      let lastAcked = r0;
      let compactRev = 0;
      let killed: Promise<void> | undefined;
      let restarted: Promise<void> | undefined;
      for (let i = 0; i < OPS; i++) {
        const op = genOp(i, rnd);
        try {
          const [rev, shape] = await runOp(writerFor(i), op);
          lastAcked = Math.max(lastAcked, rev);
          if (shape.length > 0) {
            assert.ok(!acked.has(rev), `two acknowledged ops at revision ${rev}`);
            acked.set(rev, { i, shape });
          }
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          lost.set(i, op);
          await sleep(100);
        }
        if (i === 60 || i === 200 || i === 260) watchers[3].cut();
        if (i === 100) {
          // Compact at a revision every watcher has already seen.
          const target = lastAcked;
          await waitUntil("watchers reach " + target, () => {
            return watchers.every((w) => w.lastRev >= target);
          }, 10_000);
          compactRev = target - 5;
          await clients.get(fa)!.compact({ revision: BigInt(compactRev) });
          for (const m of members) {
            const r = await compactedWatch(m, r0 + 1);
            assert.equal(r.compactRevision, BigInt(compactRev), `${m.name}: compact_revision`);
          }
        }
        if (i === 150) {
          // Not awaited: the leader dies while the writer's next requests are in flight.
          killed = sleep(Math.floor(rnd() * 20)).then(async () => {
            await leader.kill();
            writable.delete(leader);
          });
        }
        if (i === 190) {
          // The old leader comes back on its data dir while writes go on.
          restarted = killed!.then(async () => {
            leader.launch();
            await leader.waitHealthy(30_000);
            writable.add(leader);
          });
        }
        if (i === 270) {
          // Watchers that lived on the old leader resume on it after its restart.
          await restarted;
          watchers[0].cut(leader);
          watchers[1].cut(leader);
        }
      }
      await waitForLeader(members, 15_000);

      const final = await kvClient(fa).range({ key: enc(PREFIX), rangeEnd: enc(PREFIX_END) });
      const finalRev = Number(final.header!.revision);
      await waitUntil(
        `watchers reach ${finalRev}`,
        () => watchers.every((w) => w.lastRev >= finalRev || w.canceled),
        15_000,
      ).catch((err) => {
        throw new Error(`${err.message}\n${describe(watchers)}`);
      });
      // Every member, the restarted one included, refuses compacted history after the failover.
      for (const m of members) {
        const r = await compactedWatch(m, compactRev - 1);
        assert.equal(r.compactRevision, BigInt(compactRev), `${m.name}: compact_revision`);
      }
      for (const w of watchers) await w.stop();

      // 1. Per watcher: no duplicates, revisions in order, prev_kv replays to the final Range.
      const finalState = new Map(final.kvs.map((kv) => [dec(kv.key), kvRec(kv)]));
      for (const w of watchers) {
        assert.equal(w.canceled, undefined, `${w.name} was canceled`);
        byRevision(w.events, w.name);
        assert.deepEqual(replay(w.events, w.name), finalState, `${w.name}: replay = final Range`);
      }
      // 2. All watchers saw the same history.
      for (const w of watchers.slice(1)) {
        assert.deepEqual(w.events, watchers[0].events, `${w.name} vs ${watchers[0].name}`);
      }
      // 3. The history is the writer's: every revision present, acknowledged ops exactly,
      //    each op whose answer was lost at most once.
      const groups = byRevision(watchers[0].events, "history");
      const used = new Set<number>();
      for (let rev = r0 + 1; rev <= finalRev; rev++) {
        const got = groups.get(rev);
        assert.ok(got, `revision ${rev} missing from the history`);
        const shape: Shape = got.map((e) => ({
          type: e.type,
          key: e.key,
          value: e.type === "PUT" ? e.value : "",
        }));
        const mine = acked.get(rev);
        if (mine) {
          assert.deepEqual(shape, mine.shape, `revision ${rev}: op ${mine.i}`);
          continue;
        }
        const match = [...lost].find(([i, op]) => !used.has(i) && couldBe(op, shape));
        assert.ok(match, `revision ${rev} is no op of the writer: ${JSON.stringify(shape)}`);
        used.add(match[0]);
      }
      assert.equal(groups.size, finalRev - r0, "no events beyond the final revision");
      for (const rev of acked.keys()) assert.ok(rev <= finalRev, `acked ${rev} > final`);

      if (Deno.env.get("WATCH_FAILOVER_VERBOSE") === "1") {
        console.log(
          `seed=${seed} r0=${r0} compact=${compactRev} final=${finalRev} acked=${acked.size} ` +
            `lost=${[...lost.keys()]} (applied: ${[...used]})\n${describe(watchers)}`,
        );
      }
      // The scenario really happened: failover and forced cuts made watchers resume.
      assert.ok(watchers[0].sessions.length >= 2, describe(watchers));
      assert.ok(watchers[3].sessions.length >= 4, describe(watchers));
      assert.ok(acked.size > OPS / 2, `only ${acked.size} ops acknowledged`);
    } catch (err) {
      console.error(`watch_failover_test seed=${seed}`);
      throw err;
    } finally {
      await Promise.all(watchers.map((w) => w.stop()));
      await destroyAll(members);
    }
  },
});

function describe(watchers: ResumingWatcher[]): string {
  return watchers.map((w) => w.describe()).join("\n");
}
