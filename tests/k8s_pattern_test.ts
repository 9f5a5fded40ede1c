/**
 * The request pattern of Kubernetes' apiserver (its etcd3 storage and
 * reflectors), run against etcd 3.4 and cairn, asserting the same
 * observable behaviour on both:
 *
 * 1. a paginated list: Range with `limit`, continued from the last key +
 *    "\0" with the revision pinned to the first page's, while writes go on;
 * 2. a watch from list revision + 1 with prev_kv and progress_notify, whose
 *    events keep a local view up to date;
 * 3. optimistic updates: Txn comparing mod_revision, a stale update fails
 *    with the current object in the failure branch and is retried; create
 *    (mod_revision == 0) and a preconditioned delete;
 * 4. a bookmark via RequestProgress, then periodic progress notifications;
 * 5. the view equals a fresh list; after compaction the old revision is
 *    "gone" (410 in Kubernetes) for both Range and Watch.
 *
 * Each side records a transcript without member-specific fields; the two
 * transcripts must be equal.
 */

import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  KV,
  type RangeResponse,
  type TxnResponse,
  Watch,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Event_EventType, type KeyValue } from "../src/gen/etcd/api/mvccpb/kv_pb.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("k8s_pattern_test.ts");

const PREFIX = "/registry/pods/";
const PREFIX_END = "/registry/pods0";
const PAGE = 10;
const PROGRESS_MS = 300;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const pod = (n: number) => `${PREFIX}default/p${String(n).padStart(2, "0")}`;

type KvClient = ReturnType<typeof createClient<typeof KV>>;
type WatchInit = MessageInitShape<typeof WatchRequestSchema>;

/** The object as a cache holds it. */
interface Obj {
  value: string;
  create: number;
  mod: number;
  version: number;
}

const obj = (kv: KeyValue): Obj => ({
  value: dec(kv.value),
  create: Number(kv.createRevision),
  mod: Number(kv.modRevision),
  version: Number(kv.version),
});
const objText = (o: Obj | undefined) => o ? `${o.value}@${o.create}/${o.mod}/v${o.version}` : "-";

/** One bidirectional Watch stream: requests are queued, responses collected. */
class WatchConn {
  readonly responses: WatchResponse[] = [];
  error: unknown;
  #cursor = 0;
  readonly #queue: WatchRequest[] = [];
  #wake: (() => void) | undefined;
  readonly #abort = new AbortController();
  readonly #reader: Promise<void>;

  constructor(url: string) {
    const client = createClient(Watch, createGrpcTransport({ baseUrl: url }));
    this.#reader = (async () => {
      try {
        for await (const r of client.watch(this.#requests(), { signal: this.#abort.signal })) {
          this.responses.push(r);
        }
      } catch (err) {
        if (!this.#abort.signal.aborted) this.error = err;
      }
    })();
  }

  async *#requests(): AsyncGenerator<WatchRequest> {
    while (!this.#abort.signal.aborted) {
      const next = this.#queue.shift();
      if (next) yield next;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }

  send(req: WatchInit): void {
    this.#queue.push(create(WatchRequestSchema, req));
    this.#wake?.();
  }

  /** Waits (bounded) for the next response matching `pred`, skipping none silently. */
  async next(what: string, timeoutMs = 5000): Promise<WatchResponse> {
    const deadline = Date.now() + timeoutMs;
    while (this.#cursor >= this.responses.length) {
      if (this.error) {
        throw new Error(`watch stream failed while waiting for ${what}: ${this.error}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`no watch response within ${timeoutMs}ms: ${what}`);
      }
      await sleep(10);
    }
    return this.responses[this.#cursor++];
  }

  /** Responses not yet consumed by next(). */
  pending(): WatchResponse[] {
    const out = this.responses.slice(this.#cursor);
    this.#cursor = this.responses.length;
    return out;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await this.#reader;
  }
}

/** A paginated list as the apiserver does it; returns the objects and the list revision. */
async function list(
  kv: KvClient,
  log: string[],
  between?: () => Promise<void>,
): Promise<{ rev: number; items: Map<string, Obj> }> {
  const items = new Map<string, Obj>();
  let rev = 0;
  let key = PREFIX;
  for (let page = 0; page < 20; page++) {
    const res: RangeResponse = await kv.range({
      key: enc(key),
      rangeEnd: enc(PREFIX_END),
      limit: BigInt(PAGE),
      revision: BigInt(rev),
    });
    if (rev === 0) rev = Number(res.header!.revision);
    const keys = res.kvs.map((kv) => dec(kv.key));
    log.push(
      `page ${page}: header=${res.header!.revision} more=${res.more} count=${res.count} ` +
        `kvs=${res.kvs.map((kv) => `${dec(kv.key).slice(PREFIX.length)}=${objText(obj(kv))}`)}`,
    );
    assert.ok(res.kvs.length <= PAGE, "limit respected");
    for (const kv of res.kvs) {
      assert.ok(Number(kv.modRevision) <= rev, "pinned page shows nothing newer than the list");
      items.set(dec(kv.key), obj(kv));
    }
    if (!res.more) return { rev, items };
    key = keys[keys.length - 1] + "\0";
    await between?.();
  }
  throw new Error("list did not end within 20 pages");
}

const modIs = (key: string, rev: number) => ({
  key: enc(key),
  target: Compare_CompareTarget.MOD,
  result: Compare_CompareResult.EQUAL,
  targetUnion: { case: "modRevision" as const, value: BigInt(rev) },
});
const putOp = (key: string, value: string) => ({
  request: { case: "requestPut" as const, value: { key: enc(key), value: enc(value) } },
});
const getOp = (key: string) => ({
  request: { case: "requestRange" as const, value: { key: enc(key) } },
});

/** The object a failed Txn's failure-branch Range returned (the apiserver's fresh read). */
function failureObj(res: TxnResponse): Obj | undefined {
  const r = res.responses[0]?.response;
  return r?.case === "responseRange" && r.value.kvs[0] ? obj(r.value.kvs[0]) : undefined;
}

/** GuaranteedUpdate: compare-and-swap on mod_revision, re-read on conflict, bounded retries. */
async function guaranteedUpdate(
  kv: KvClient,
  key: string,
  known: Obj,
  update: (o: Obj) => string,
  log: string[],
  who: string,
): Promise<number> {
  let cur = known;
  for (let attempt = 0; attempt < 5; attempt++) {
    const res = await kv.txn({
      compare: [modIs(key, cur.mod)],
      success: [putOp(key, update(cur))],
      failure: [getOp(key)],
    });
    log.push(`${who} update ${key} if mod=${cur.mod}: succeeded=${res.succeeded}`);
    if (res.succeeded) return Number(res.header!.revision);
    cur = failureObj(res)!;
    assert.ok(cur, "failure branch returns the current object");
  }
  throw new Error(`${who}: no successful update in 5 attempts`);
}

interface Outcome {
  transcript: string[];
  progressNotifies: number;
}

/** The whole pattern against one member. */
async function scenario(m: Member): Promise<Outcome> {
  const log: string[] = [];
  const kv = createClient(
    KV,
    createGrpcTransport({ baseUrl: m.clientUrl, defaultTimeoutMs: 5000 }),
  );
  for (let i = 0; i < 25; i++) await kv.put({ key: enc(pod(i)), value: enc(`{"gen":0,"n":${i}}`) });
  // Neighbours just outside the prefix must never show up.
  await kv.put({ key: enc("/registry/pods0"), value: enc("outside") });
  await kv.put({ key: enc("/registry/pod"), value: enc("outside") });

  // 1. Paginated list while a writer changes objects on both sides of the cursor.
  let wrote = false;
  const { rev: listRev, items: view } = await list(kv, log, async () => {
    if (wrote) return;
    wrote = true;
    await kv.put({ key: enc(pod(3)), value: enc('{"gen":1,"n":3}') });
    await kv.deleteRange({ key: enc(pod(20)) });
    await kv.put({ key: enc(pod(99)), value: enc('{"gen":0,"n":99}') });
    await kv.put({ key: enc(pod(12)), value: enc('{"gen":1,"n":12}') });
  });
  assert.deepEqual([...view.keys()], Array.from({ length: 25 }, (_, i) => pod(i)));
  assert.ok([...view.values()].every((o) => o.value.startsWith('{"gen":0')), "list is at listRev");

  // 2. Watch from listRev + 1; events keep the view current and carry prev_kv.
  const w = new WatchConn(m.clientUrl);
  let viewRev = listRev;
  const apply = (r: WatchResponse) => {
    for (const e of r.events) {
      const key = dec(e.kv!.key);
      const prev = e.prevKv ? obj(e.prevKv) : undefined;
      assert.deepEqual(prev, view.get(key), `prev_kv of ${key} @${e.kv!.modRevision}`);
      if (e.type === Event_EventType.DELETE) view.delete(key);
      else view.set(key, obj(e.kv!));
      viewRev = Number(e.kv!.modRevision);
      log.push(
        `event ${Event_EventType[e.type]} ${key.slice(PREFIX.length)} ${objText(obj(e.kv!))} ` +
          `prev=${objText(prev)}`,
      );
    }
  };
  /** Applies responses until the view reaches `rev`, counting progress notifications. */
  let progressNotifies = 0;
  const catchUp = async (rev: number) => {
    for (let i = 0; i < 100 && viewRev < rev; i++) {
      const r = await w.next(`events up to ${rev}`);
      if (r.events.length === 0 && !r.created && !r.canceled) progressNotifies++;
      apply(r);
    }
    assert.equal(viewRev, rev, "watch caught up");
  };
  try {
    w.send({
      requestUnion: {
        case: "createRequest",
        value: {
          key: enc(PREFIX),
          rangeEnd: enc(PREFIX_END),
          startRevision: BigInt(listRev + 1),
          prevKv: true,
          progressNotify: true,
        },
      },
    });
    const created = await w.next("created");
    log.push(`created id=${created.watchId} canceled=${created.canceled}`);
    assert.ok(created.created);
    const afterWrites = Number((await kv.range({ key: enc(pod(0)) })).header!.revision);
    await catchUp(afterWrites);

    // 3. Optimistic concurrency: two controllers read the same object.
    const readA = obj((await kv.range({ key: enc(pod(5)) })).kvs[0]);
    const readB = obj((await kv.range({ key: enc(pod(5)) })).kvs[0]);
    await guaranteedUpdate(kv, pod(5), readA, () => '{"gen":1,"n":5,"by":"a"}', log, "A");
    let last = await guaranteedUpdate(
      kv,
      pod(5),
      readB,
      (o) => o.value.replace("}", ',"by2":"b"}'),
      log,
      "B",
    );
    // Create: only if absent (mod_revision == 0); a second create finds the object.
    for (const who of ["C1", "C2"]) {
      const res = await kv.txn({
        compare: [modIs(pod(50), 0)],
        success: [putOp(pod(50), `{"n":50,"by":"${who}"}`)],
        failure: [getOp(pod(50))],
      });
      log.push(
        `${who} create: succeeded=${res.succeeded} existing=${objText(failureObj(res))}`,
      );
      if (res.succeeded) last = Number(res.header!.revision);
    }
    // Delete with a precondition: a stale mod_revision fails, a fresh one deletes.
    const p7 = view.get(pod(7))!;
    for (const mod of [p7.mod - 1, p7.mod]) {
      const res = await kv.txn({
        compare: [modIs(pod(7), mod)],
        success: [{ request: { case: "requestDeleteRange", value: { key: enc(pod(7)) } } }],
        failure: [getOp(pod(7))],
      });
      log.push(`delete ${pod(7)} if mod=${mod}: succeeded=${res.succeeded}`);
      if (res.succeeded) last = Number(res.header!.revision);
    }
    await catchUp(last);

    // 4. A bookmark: RequestProgress once the watcher is synced.
    w.send({ requestUnion: { case: "progressRequest", value: {} } });
    for (let i = 0; i < 20; i++) {
      const r = await w.next("bookmark");
      if (r.watchId === -1n) {
        assert.equal(r.events.length, 0);
        log.push(`bookmark watchId=${r.watchId} rev=${r.header!.revision}`);
        break;
      }
      progressNotifies++; // an unrelated periodic notification came first
    }
    await sleep(PROGRESS_MS * 3);
    for (const r of w.pending()) {
      assert.equal(r.events.length, 0, "nothing was written meanwhile");
      assert.equal(r.watchId, created.watchId, "periodic progress is per watcher");
      assert.equal(Number(r.header!.revision), last, "progress carries the current revision");
      progressNotifies++;
    }

    // 5. The watcher's view equals a fresh list.
    const fresh = await list(kv, log);
    assert.equal(fresh.rev, viewRev, "fresh list at the view's revision");
    assert.deepEqual(view, fresh.items, "the watch-maintained view equals a fresh list");
    const counted = await kv.range({
      key: enc(PREFIX),
      rangeEnd: enc(PREFIX_END),
      countOnly: true,
    });
    log.push(`count_only: count=${counted.count} kvs=${counted.kvs.length}`);

    // After compaction, the old list revision is gone for both Range and Watch.
    await kv.compact({ revision: BigInt(last) });
    const gone = await kv.range({ key: enc(PREFIX), revision: BigInt(listRev) }).then(
      () => "no error",
      (err) => `${Code[ConnectError.from(err).code]}: ${ConnectError.from(err).rawMessage}`,
    );
    log.push(`range at compacted ${listRev}: ${gone}`);
    const w2 = new WatchConn(m.clientUrl);
    try {
      w2.send({
        requestUnion: {
          case: "createRequest",
          value: { key: enc(PREFIX), rangeEnd: enc(PREFIX_END), startRevision: BigInt(listRev) },
        },
      });
      for (let i = 0; i < 3; i++) {
        const r = await w2.next("compacted watch");
        log.push(
          `watch from compacted ${listRev}: created=${r.created} canceled=${r.canceled} ` +
            `compact_revision=${r.compactRevision}`,
        );
        if (r.canceled) break;
      }
    } finally {
      await w2.close();
    }
  } finally {
    await w.close();
  }
  return { transcript: log, progressNotifies };
}

Deno.test({
  name: "k8s pattern: paginated list, watch from list rev, CAS updates, bookmarks (= etcd 3.4)",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const env = { ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL: `${PROGRESS_MS}ms` };
    const extraArgs = ["--log-level=warn"];
    const started = await Promise.allSettled([
      Member.start({ kind: "etcd", env, extraArgs }),
      Member.start({ kind: "cairn", env, extraArgs }),
    ]);
    const members = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
    try {
      for (const s of started) if (s.status === "rejected") throw s.reason;
      const [etcd, cairn] = await Promise.all(members.map((m) => scenario(m)));
      if (Deno.env.get("COMPARE_VERBOSE") === "1") {
        console.log(etcd.transcript.join("\n"));
        console.log(
          `progress notifications: etcd ${etcd.progressNotifies}, cairn ${cairn.progressNotifies}`,
        );
      }
      assert.deepEqual(cairn.transcript, etcd.transcript);
      assert.ok(etcd.progressNotifies >= 1, "etcd sent periodic progress");
      assert.ok(cairn.progressNotifies >= 1, "cairn sent periodic progress");
      const text = etcd.transcript.join("\n");
      assert.match(text, /B update .* succeeded=false\nB update .* succeeded=true/);
      assert.match(text, /C2 create: succeeded=false existing=\{"n":50,"by":"C1"\}/);
      assert.match(
        text,
        /range at compacted \d+: OutOfRange: .*required revision has been compacted/,
      );
      assert.match(text, /canceled=true compact_revision=[1-9]/);
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
    }
  },
});
