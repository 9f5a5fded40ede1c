/**
 * Watch, end to end: the raw bidirectional gRPC stream and etcdctl's
 * `watch` (plain, --prefix, --rev, --prev-kv, -w json, interactive -i)
 * against etcd 3.4 and cairn side by side, outputs compared after
 * normalisation. One pair is shared by the file; tests run in order so
 * revisions stay aligned on both sides.
 *
 * Known, intended difference: cairn follows etcd 3.5.8+ for progress
 * requests (answered only once every watcher of the stream is synced, not
 * at all on a stream without watchers), so the scripts only ask for
 * progress when all watchers are synced.
 */

import assert from "node:assert/strict";
import { create, type MessageInitShape, toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  KV,
  Watch,
  type WatchCreateRequest,
  type WatchRequest,
  WatchRequestSchema,
  WatchResponseSchema,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Pair } from "./harness/compare.ts";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { Member, sleep } from "./harness/member.ts";
import { normalizeOutput, normalizeStderr } from "./harness/normalize.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("watch_test.ts");

let shared: Promise<Pair> | undefined;
function pair(): Promise<Pair> {
  shared ??= Pair.start(["--log-level=warn"]);
  return shared;
}

function itest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, sanitizeOps: false, sanitizeResources: false, fn });
}

const enc = (s: string) => new TextEncoder().encode(s);
type WatchInit = MessageInitShape<typeof WatchRequestSchema>;

/** A raw Watch stream over gRPC that records every response as normalised JSON. */
class RawWatch {
  readonly lines: string[] = [];
  readonly #queue: WatchRequest[] = [];
  readonly #abort = new AbortController();
  #wake: (() => void) | undefined;
  #done = false;
  readonly #reader: Promise<void>;

  constructor(url: string) {
    const client = createClient(Watch, createGrpcTransport({ baseUrl: url }));
    this.#reader = (async () => {
      try {
        const it = client.watch(this.#requests(), {
          signal: this.#abort.signal,
          headers: { hasleader: "true" },
        });
        for await (const r of it) {
          const j = toJson(WatchResponseSchema, r) as Record<string, unknown>;
          const h = j.header as Record<string, unknown> | undefined;
          j.header = { revision: h?.revision ?? "0" };
          this.lines.push(JSON.stringify(j));
        }
      } catch (err) {
        if (!this.#abort.signal.aborted) this.lines.push(`error: ${err}`);
      }
    })();
  }

  async *#requests(): AsyncGenerator<WatchRequest> {
    while (!this.#done) {
      const next = this.#queue.shift();
      if (next) yield next;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }

  send(req: WatchInit): void {
    this.#queue.push(create(WatchRequestSchema, req));
    this.#wake?.();
  }

  /** Responses since the last call, sorted (etcd orders watchers of one revision at random). */
  phase(): string[] {
    return this.lines.splice(0).sort();
  }

  async close(): Promise<void> {
    this.#done = true;
    this.#wake?.();
    this.#abort.abort();
    await this.#reader;
  }
}

/** A create request for `key` with extra WatchCreateRequest fields. */
function watchReq(
  key: string,
  more: Partial<Omit<WatchCreateRequest, "key" | "$typeName" | "$unknown">> = {},
): WatchInit {
  return { requestUnion: { case: "createRequest", value: { key: enc(key), ...more } } };
}
const cancelReq = (watchId: bigint): WatchInit => ({
  requestUnion: { case: "cancelRequest", value: { watchId } },
});
const progressReq: WatchInit = { requestUnion: { case: "progressRequest", value: {} } };

itest(
  "grpc Watch stream: create/cancel/progress/ids/txn/delete/compaction match etcd",
  async () => {
    const p = await pair();
    type Side = { kv: ReturnType<typeof createClient<typeof KV>>; w: RawWatch; out: string[][] };
    const sides: Side[] = [p.etcd, p.cairn].map((m) => ({
      kv: createClient(KV, createGrpcTransport({ baseUrl: m.clientUrl })),
      w: new RawWatch(m.clientUrl),
      out: [],
    }));
    const step = async (f: (s: Side) => Promise<unknown> | void, settleMs = 300) => {
      for (const s of sides) await f(s);
      await sleep(settleMs);
      for (const s of sides) s.out.push(s.w.phase());
    };
    try {
      await step(async (s) => {
        for (let i = 0; i < 5; i++) await s.kv.put({ key: enc(`g${i}`), value: enc(`v${i}`) });
      });
      await step((s) =>
        s.w.send(watchReq("g", { rangeEnd: enc("h"), startRevision: 2n, prevKv: true }))
      );
      await step((s) => {
        s.w.send(watchReq("g1", { watchId: 7n }));
        s.w.send(watchReq("g1", { watchId: 7n }));
        s.w.send(watchReq("b", { rangeEnd: enc("a") }));
        s.w.send(watchReq("g2", { filters: [0] })); // NOPUT
        s.w.send(watchReq("g2", { startRevision: -3n }));
        s.w.send(watchReq("", { rangeEnd: new Uint8Array([0]) }));
      });
      await step((s) => s.w.send(progressReq));
      await step((s) =>
        s.kv.txn({
          success: [
            { request: { case: "requestPut", value: { key: enc("g1"), value: enc("x") } } },
            { request: { case: "requestPut", value: { key: enc("g2"), value: enc("y") } } },
          ],
        })
      );
      await step((s) => s.kv.deleteRange({ key: enc("g"), rangeEnd: enc("h") }));
      await step(async (s) => {
        await s.kv.compact({ revision: 4n });
        s.w.send(watchReq("g3", { startRevision: 2n }));
        s.w.send(watchReq("g3", { startRevision: 4n }));
        s.w.send(watchReq("g3", { startRevision: 100n, watchId: 100n }));
      });
      await step((s) => {
        s.w.send(cancelReq(7n));
        s.w.send(cancelReq(55n));
        s.w.send(cancelReq(100n));
      });
      await step((s) => s.w.send(progressReq));
    } finally {
      for (const s of sides) await s.w.close();
    }
    const [want, got] = sides.map((s) =>
      s.out.map((lines, i) => `-- phase ${i}\n${lines.join("\n")}`)
    );
    assert.deepEqual(got, want);
    assert.ok(want.join("\n").includes('"compactRevision":"4"'), "the script reaches compaction");
  },
);

/** A long-running etcdctl (watch) whose output is read while it runs. */
class CtlProcess {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #stdout = "";
  #stderr = "";
  readonly #pumps: Promise<void>[];

  constructor(endpoint: string, args: string[], interactive = false) {
    this.#child = new Deno.Command("etcdctl", {
      args: [`--endpoints=${endpoint}`, "--dial-timeout=3s", ...args],
      env: { ETCDCTL_API: "3" },
      stdin: interactive ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdin = interactive ? this.#child.stdin.getWriter() : undefined;
    const pump = async (s: ReadableStream<Uint8Array>, err: boolean) => {
      const dec = new TextDecoder();
      for await (const chunk of s) {
        if (err) this.#stderr += dec.decode(chunk, { stream: true });
        else this.#stdout += dec.decode(chunk, { stream: true });
      }
    };
    this.#pumps = [pump(this.#child.stdout, false), pump(this.#child.stderr, true)];
  }

  /** Sends one line to an interactive etcdctl (stdin stays open). */
  async line(text: string): Promise<void> {
    await this.#stdin!.write(new TextEncoder().encode(text + "\n"));
  }

  /** Waits (bounded) until stdout holds `n` lines. */
  async waitLines(n: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#stdout.split("\n").length - 1 < n && Date.now() < deadline) await sleep(20);
  }

  /** Kills etcdctl and returns what it printed (or exits on its own first). */
  async stop(graceMs = 0): Promise<{ code: number; stdout: string; stderr: string }> {
    const exited = await Promise.race([this.#child.status, sleep(graceMs).then(() => undefined)]);
    if (!exited) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    const status = await this.#child.status;
    await Promise.allSettled(this.#pumps);
    return { code: exited ? status.code : -1, stdout: this.#stdout, stderr: this.#stderr };
  }
}

/**
 * Starts the same etcdctl watch on both sides, runs `writes` (etcdctl
 * argument lists) on both, waits until `lines` lines were printed (bounded),
 * and compares the normalised outputs.
 */
async function compareWatch(opts: {
  watch: string[];
  /** etcdctl argument lists; `{ txn }` runs a non-interactive txn with those success ops. */
  writes: (string[] | { txn: string[] })[];
  lines: number;
  interactive?: string[];
  after?: string[];
  exits?: boolean;
  /**
   * Compare the output's lines as a multiset: etcdctl prints each watcher's
   * events from its own goroutine, so when two watchers' responses arrive
   * in one read their lines interleave in any order (on etcd too).
   */
  unordered?: boolean;
}): Promise<string> {
  const p = await pair();
  const members = [p.etcd, p.cairn];
  const procs = members.map((m) => new CtlProcess(m.endpoint, opts.watch, !!opts.interactive));
  for (const line of opts.interactive ?? []) await Promise.all(procs.map((c) => c.line(line)));
  await sleep(800); // let the watches be created before writing
  for (const w of opts.writes) {
    for (const m of members) {
      if (Array.isArray(w)) await etcdctlOk(m.endpoint, w);
      else await etcdctlOk(m.endpoint, ["txn"], { stdin: `\n${w.txn.join("\n")}\n\n\n` });
    }
  }
  if (opts.after) {
    await sleep(300);
    for (const line of opts.after) await Promise.all(procs.map((c) => c.line(line)));
  }
  await Promise.all(procs.map((c) => c.waitLines(opts.lines)));
  const results = await Promise.all(procs.map((c) => c.stop(opts.exits ? 3000 : 200)));
  const [want, got] = results.map((r, i) => {
    const o = p.normalizeOptions(members[i]);
    let out = normalizeOutput(r.stdout, o);
    if (opts.unordered) out = out.split("\n").sort().join("\n");
    return `exit ${r.code}\n${out}\n${normalizeStderr(r.stderr, o)}`;
  });
  if (Deno.env.get("COMPARE_VERBOSE") === "1") console.log(`== ${opts.watch.join(" ")}\n${want}`);
  assert.equal(got, want);
  return want;
}

itest("etcdctl watch: single key, txn and delete events", async () => {
  const out = await compareWatch({
    watch: ["watch", "wk"],
    writes: [["put", "wk", "1"], ["put", "other", "x"], { txn: ["put wk 2", "put other y"] }, [
      "del",
      "wk",
    ]],
    lines: 8,
  });
  assert.match(out, /PUT\nwk\n1\nPUT\nwk\n2\nDELETE\nwk/);
});

itest("etcdctl watch --prefix --prev-kv", async () => {
  const out = await compareWatch({
    watch: ["watch", "--prefix", "wp/", "--prev-kv"],
    writes: [["put", "wp/a", "1"], ["put", "wp/a", "2"], ["put", "wpx", "no"], [
      "del",
      "wp/",
      "--prefix",
    ]],
    lines: 13,
  });
  assert.match(out, /PUT\nwp\/a\n1\nwp\/a\n2/);
});

itest("etcdctl watch --rev replays history, -w json", async () => {
  const p = await pair();
  const rev = Number(
    JSON.parse(await etcdctlOk(p.etcd.endpoint, ["get", "x", "-w", "json"])).header.revision,
  );
  const out = await compareWatch({
    watch: ["watch", "--prefix", "wp/", `--rev=${rev - 3}`, "-w", "json"],
    writes: [["put", "wp/b", "3"]],
    lines: 2,
  });
  assert.match(out, /"Events"/);
});

itest("etcdctl watch -i: several watches and a progress request on one stream", async () => {
  await compareWatch({
    watch: ["watch", "-i"],
    interactive: ["watch wi1", "watch --prefix wi --prev-kv"],
    unordered: true,
    writes: [["put", "wi1", "a"], ["put", "wi2", "b"]],
    after: ["progress"],
    lines: 3 + 3 + 3 + 2,
  });
});

itest("etcdctl watch --rev below the compaction revision is canceled", async () => {
  const p = await pair();
  for (const m of [p.etcd, p.cairn]) {
    const rev = JSON.parse(await etcdctlOk(m.endpoint, ["put", "wc", "1", "-w", "json"]))
      .header.revision;
    await etcdctlOk(m.endpoint, ["compact", String(rev)]);
  }
  const out = await compareWatch({
    watch: ["watch", "wc", "--rev=2"],
    writes: [],
    lines: 0,
    exits: true,
  });
  assert.match(out, /required revision has been compacted/);
});

itest("cairn: progress_notify at the configured interval", async () => {
  const m = await Member.start({
    kind: "cairn",
    env: { ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL: "300ms" },
    extraArgs: ["--log-level=warn"],
  });
  const w = new RawWatch(m.clientUrl);
  try {
    w.send(watchReq("pn", { progressNotify: true }));
    await sleep(1000);
    const lines = w.phase();
    assert.ok(lines.some((l) => l.includes('"created":true')));
    const progress = lines.filter((l) => l === '{"header":{"revision":"1"}}');
    assert.ok(progress.length >= 2, `progress notifications: ${lines.join("\n")}`);
  } finally {
    await w.close();
    await m.destroy();
  }
});

itest("teardown: stop the shared pair", async () => {
  if (shared) await (await shared).destroy();
});
