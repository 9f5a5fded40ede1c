/**
 * Slow watchers never block writes, and memory stays bounded, with 10,000
 * watchers on one cairn member.
 *
 * - 8 "stuck" streams, each on its own HTTP/2 connection, hold 1,000
 *   prefix watchers each and stop reading after their created responses:
 *   once their flow-control windows are full the member cannot send them
 *   anything, for the rest of the test.
 * - 1 "late" stream (10 prefix watchers, 990 single-key watchers) also
 *   stops reading, and resumes after all writes: every watcher must then
 *   get every event exactly once, in order, caught up from history.
 * - 1 "reading" stream (1 prefix watcher with prev_kv, 999 single-key
 *   watchers) reads all along and must get every event exactly once, in
 *   order, while the others are stuck.
 *
 * Meanwhile a separate connection writes 5,000 puts of 300-byte values
 * (8 in flight). Every put must succeed in bounded time and the member's
 * RSS (VmRSS of its process) must stay under a fixed bound: a member that
 * buffered events per stuck watcher would hold 8,000 x 3,000 events.
 */

import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { KV, type WatchResponse } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";
import { createReq, RawWatchStream, until, type WatchInit } from "./harness/watch_session.ts";

const ignore = skipIfToolsMissing("watch_slow_test.ts");

const PREFIX = "sw/";
const PREFIX_END = "sw0";
const KEYS = 999;
const PUTS = 5_000;
const IN_FLIGHT = 8;
const VALUE_BYTES = 300;
const STUCK_STREAMS = 8;
const PER_STREAM = 1_000;
/** Bound on the member's RSS at any moment (a fresh member is ~80 MiB, with 10,000 idle watchers ~140). */
const RSS_BOUND_MIB = 512;
/** Bound on RSS growth from "all watchers created" to the end of the writes. */
const RSS_GROWTH_BOUND_MIB = 256;

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const keyName = (j: number) => `${PREFIX}k${String(j).padStart(4, "0")}`;
const valueOf = (i: number) => `v${i}-`.padEnd(VALUE_BYTES, "x");

/** VmRSS of a process in MiB. */
async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** One written revision. */
interface Written {
  rev: number;
  key: string;
  value: string;
}

/** `rev key value` of every event each watcher got, in arrival order, by watch id. */
function eventsByWatcher(responses: WatchResponse[]): Map<bigint, string[]> {
  const out = new Map<bigint, string[]>();
  for (const r of responses) {
    if (r.created || r.canceled) continue;
    let list = out.get(r.watchId);
    if (list === undefined) out.set(r.watchId, list = []);
    for (const e of r.events) {
      list.push(`${e.kv!.modRevision} ${dec(e.kv!.key)} ${dec(e.kv!.value)}`);
    }
  }
  return out;
}

/**
 * Waits (bounded, polling every 200 ms) until every watcher in `want` got
 * at least as many events as it should, then returns what they got.
 */
async function collect(
  s: RawWatchStream,
  want: Map<bigint, string[]>,
  timeoutMs: number,
): Promise<Map<bigint, string[]>> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const got = eventsByWatcher(s.responses);
    const done = [...want].every(([id, w]) => (got.get(id)?.length ?? 0) >= w.length);
    if (done || Date.now() > deadline) return got;
    await sleep(200);
  }
}

/** Events a watcher of `key` (or of the whole prefix when undefined) must get, in order. */
function expected(written: Written[], key?: string): string[] {
  return written.filter((w) => key === undefined || w.key === key).map((w) =>
    `${w.rev} ${w.key} ${w.value}`
  );
}

/** Opens a stream, creates `reqs` on it and waits (bounded) for every created response. */
async function openStream(url: string, reqs: WatchInit[]): Promise<RawWatchStream> {
  const s = new RawWatchStream(url);
  s.send(reqs);
  const ok = await until(
    () => s.responses.filter((r) => r.created && !r.canceled).length === reqs.length,
    30_000,
  );
  assert.ok(ok, `created ${s.responses.length} of ${reqs.length} watchers`);
  return s;
}

Deno.test({
  name: "10,000 watchers, 9 streams stuck: writes go on, RSS bounded, readers get every event once",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
    const streams: RawWatchStream[] = [];
    let sampling = true;
    let peak = 0;
    let sampler: Promise<void> | undefined;
    try {
      const pid = m.pid!;
      const fresh = await rssMiB(pid);
      // Watch ids are chosen by the client: prefix watchers 1..n, key watchers 10000+j.
      const prefixReqs = (n: number, prevKv = false) =>
        Array.from(
          { length: n },
          (_, i) => createReq(PREFIX, PREFIX_END, { watchId: BigInt(i + 1), prevKv }),
        );
      const keyReqs = (n: number) =>
        Array.from(
          { length: n },
          (_, j) => createReq(keyName(j), "", { watchId: 10_000n + BigInt(j) }),
        );

      for (let i = 0; i < STUCK_STREAMS; i++) {
        const s = await openStream(m.clientUrl, prefixReqs(PER_STREAM));
        s.pause();
        streams.push(s);
      }
      const late = await openStream(m.clientUrl, [...prefixReqs(10), ...keyReqs(PER_STREAM - 10)]);
      late.pause();
      streams.push(late);
      const reading = await openStream(m.clientUrl, [...prefixReqs(1, true), ...keyReqs(KEYS)]);
      streams.push(reading);
      const watchers = streams.reduce((n, s) => n + s.responses.filter((r) => r.created).length, 0);
      assert.equal(watchers, 10_000);
      const withWatchers = await rssMiB(pid);
      sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await rssMiB(pid).catch(() => 0));
          await sleep(200);
        }
      })();

      // The writes, from their own connection.
      const kv = createClient(
        KV,
        createGrpcTransport({ baseUrl: m.clientUrl, defaultTimeoutMs: 20_000 }),
      );
      const written: Written[] = [];
      let next = 0;
      let slowest = 0;
      const started = Date.now();
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next < PUTS) {
          const i = next++;
          const key = keyName(i % KEYS);
          const t = Date.now();
          const res = await kv.put({ key: enc(key), value: enc(valueOf(i)) });
          slowest = Math.max(slowest, Date.now() - t);
          written.push({ rev: Number(res.header!.revision), key, value: valueOf(i) });
        }
      }));
      const writeMs = Date.now() - started;
      written.sort((a, b) => a.rev - b.rev);
      const afterWrites = await rssMiB(pid);
      console.log(
        `puts: ${PUTS} in ${writeMs} ms (${Math.round(PUTS / (writeMs / 1000))}/s), ` +
          `slowest ${slowest} ms; RSS MiB fresh ${fresh.toFixed(0)}, ` +
          `10k watchers ${withWatchers.toFixed(0)}, after writes ${afterWrites.toFixed(0)}`,
      );
      assert.equal(written.length, PUTS);
      assert.equal(written[PUTS - 1].rev - written[0].rev, PUTS - 1, "one revision per put");
      assert.ok(writeMs < 60_000, `writes took ${writeMs} ms`);
      assert.ok(slowest < 10_000, `a put took ${slowest} ms`);

      // The reading stream got everything, once, in order, while the others were stuck.
      const all = expected(written);
      const keyWant = (n: number) =>
        Array.from(
          { length: n },
          (_, j) => [10_000n + BigInt(j), expected(written, keyName(j))] as const,
        );
      const readingWant = new Map<bigint, string[]>([[1n, all], ...keyWant(KEYS)]);
      const readingGot = await collect(reading, readingWant, 30_000);
      for (const [id, w] of readingWant) {
        assert.deepEqual(readingGot.get(id) ?? [], w, `reading stream, watcher ${id}`);
      }
      const prevKvs = reading.responses.flatMap((r) => r.watchId === 1n ? r.events : [])
        .filter((e) => e.prevKv !== undefined).length;
      assert.equal(prevKvs, PUTS - Math.min(KEYS, PUTS), "prev_kv on every overwrite");

      // The late stream, once it reads again, catches up from history.
      late.resume();
      const lateWant = new Map<bigint, string[]>([
        ...Array.from({ length: 10 }, (_, i) => [BigInt(i + 1), all] as const),
        ...keyWant(PER_STREAM - 10),
      ]);
      const lateGot = await collect(late, lateWant, 45_000);
      for (const [id, w] of lateWant) {
        assert.deepEqual(lateGot.get(id) ?? [], w, `late stream, watcher ${id}`);
      }
      const batched = late.responses.some((r) =>
        new Set(r.events.map((e) => e.kv!.modRevision)).size > 1
      );
      assert.ok(batched, "the late stream was caught up from history (it really was blocked)");

      sampling = false;
      await sampler;
      const end = await rssMiB(pid);
      console.log(`RSS MiB: peak ${peak.toFixed(0)}, end ${end.toFixed(0)}`);
      assert.ok(peak < RSS_BOUND_MIB, `peak RSS ${peak.toFixed(0)} MiB`);
      assert.ok(
        peak - withWatchers < RSS_GROWTH_BOUND_MIB,
        `RSS grew ${(peak - withWatchers).toFixed(0)} MiB during the writes`,
      );
      assert.ok(m.running, "the member is still running");
    } finally {
      sampling = false;
      await sampler;
      for (const s of streams) s.destroy();
      await m.destroy();
    }
  },
});
