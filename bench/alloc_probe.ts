/**
 * Where a request's allocations (or CPU time) go: starts one cairn member
 * of a tree with the inspector on, loads it with kvtool requests (puts
 * unless `--op` says; a warm-up of a third, then the measured run), and
 * prints the bytes allocated per request, objects scavenges freed included
 * (V8's sampling heap profiler), or with `--cpu` the self time per
 * request, by function; `--survivors` counts only the allocations that
 * outlived a scavenge. One member, a few seconds: a hand measurement for
 * bench/NOTES.md, not a bench row.
 *
 *   deno run -A bench/alloc_probe.ts [--tree DIR] [--total 30000] [--clients 100]
 *     [--conns 10] [--val 256] [--top 40] [--cpu] [--survivors] [--op put|txn|get|getser]
 *
 * `--tree` runs another copy of the repository (say `git archive` of an
 * earlier commit) for an A/B against this one. Heap sampling counts are
 * steady to a few per cent between runs whatever the machine's load; CPU
 * profiles are not (a sample taken while the thread waits is charged to
 * the frame it waits in).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { cairnDenoFlags, cairnV8Flags } from "./lib/cairn_cmd.ts";
import { type CpuProfile, cpuTotals, type HeapNode, heapTotals, top } from "./lib/profile_top.ts";
import { ensureKvtool, repoRoot } from "./lib/tools.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    tree: { type: "string" },
    total: { type: "string", default: "30000" },
    clients: { type: "string", default: "100" },
    conns: { type: "string", default: "10" },
    val: { type: "string", default: "256" },
    top: { type: "string", default: "40" },
    cpu: { type: "boolean", default: false },
    survivors: { type: "boolean", default: false },
    op: { type: "string", default: "put" },
  },
});

/** A free loopback port (the listener is closed again at once). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A minimal Chrome DevTools Protocol session over the inspector's WebSocket. */
class Inspector {
  #seq = 0;
  readonly #pending = new Map<number, (result: unknown) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      const done = this.#pending.get(m.id);
      if (done === undefined) return;
      this.#pending.delete(m.id);
      done(m.result);
    };
  }

  static async connect(port: number): Promise<Inspector> {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
    await new Promise((ok, fail) => {
      ws.onopen = ok;
      ws.onerror = fail;
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#seq;
    return new Promise((done) => {
      this.#pending.set(id, done as (r: unknown) => void);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

const repo = repoRoot();
const tree = opt.tree ?? repo;
const kvtool = await ensureKvtool(repo);
const [client, peer, inspect] = [freePort(), freePort(), freePort()];
const dataDir = await Deno.makeTempDir({ prefix: "alloc-probe-" });
const url = (p: number) => `http://127.0.0.1:${p}`;
const flags = cairnV8Flags(tree);
const member = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    `--inspect=127.0.0.1:${inspect}`,
    ...cairnDenoFlags(tree),
    ...(flags ? [`--v8-flags=${flags}`] : []),
    join(tree, "main.ts"),
    ...["--data-dir", join(dataDir, "m"), "--listen-client-urls", url(client)],
    ...["--advertise-client-urls", url(client), "--listen-peer-urls", url(peer)],
    ...["--initial-advertise-peer-urls", url(peer), "--initial-cluster", `default=${url(peer)}`],
  ],
  cwd: tree,
  stdout: "null",
  stderr: "null",
}).spawn();

/** kvtool puts against the member; its JSON result line. */
async function puts(total: number): Promise<string> {
  const out = await new Deno.Command(kvtool, {
    args: [
      ...["-mode", "kv", "-op", opt.op, "-endpoint", `127.0.0.1:${client}`],
      ...["-clients", opt.clients, "-conns", opt.conns, "-total", String(total)],
      ...["-keys", "1000", "-val", opt.val, "-timeout", "120s"],
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`kvtool: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

try {
  // Ready once a put goes through (kvtool retries nothing: poll with a tiny run).
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await puts(1);
      break;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const total = Number(opt.total);
  await puts(Math.ceil(total / 3));
  const insp = await Inspector.connect(inspect);
  let totals: Map<string, number>;
  let result: string;
  if (opt.cpu) {
    await insp.call("Profiler.enable");
    await insp.call("Profiler.setSamplingInterval", { interval: 50 });
    await insp.call("Profiler.start");
    result = await puts(total);
    totals = cpuTotals((await insp.call<{ profile: CpuProfile }>("Profiler.stop")).profile);
  } else {
    await insp.call("HeapProfiler.enable");
    await insp.call("HeapProfiler.startSampling", {
      samplingInterval: 256,
      includeObjectsCollectedByMajorGC: true,
      // --survivors: only objects that lived through a scavenge (copied at
      // least once: what makes scavenges long), whether or not a full
      // collection freed them later.
      includeObjectsCollectedByMinorGC: !opt.survivors,
    });
    result = await puts(total);
    const p = await insp.call<{ profile: { head: HeapNode } }>("HeapProfiler.stopSampling");
    totals = heapTotals(p.profile.head);
  }
  insp.close();
  let sum = 0;
  for (const v of totals.values()) sum += v;
  const unit = opt.cpu ? "µs" : "B";
  console.log(`${tree}: ${(sum / total).toFixed(opt.cpu ? 1 : 0)} ${unit} per ${opt.op}`);
  console.log(result);
  for (const [name, v] of top(totals, Number(opt.top))) {
    console.log(`${(v / total).toFixed(opt.cpu ? 1 : 0).padStart(7)} ${name}`);
  }
} finally {
  member.kill();
  await member.status;
  await Deno.remove(dataDir, { recursive: true });
}
