/**
 * What re-applying WAL entries costs, in-process, without the restart
 * around it: a store is loaded with `--keys` puts, then `--entries` put
 * entries (encoded as the WAL holds them, copied out so the encoder's
 * memo does not answer) are applied through `applyRequestEntry`, as a
 * restart re-applies the entries after its newest snapshot. Prints the
 * wall and CPU time of that loop and the page faults taken in it (JSON,
 * one line per run). A hand measurement for bench/NOTES.md (issue 15's restart row), not
 * a bench row: the store is built by puts, not decoded from a snapshot,
 * so its memory is laid out differently from a restarted member's.
 *
 *   deno run -A bench/reapply_probe.ts [--tree DIR] [--keys 900000]
 *     [--entries 100000] [--val 256] [--runs 1]
 *
 * `--tree` measures another copy of the repository (`git archive` of an
 * earlier commit) for an A/B; each run is a fresh process. The machine's
 * load moves the times by tens of per cent: alternate trees and compare
 * medians; the fault counts move much less.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import process from "node:process";
import { repoRoot } from "./lib/tools.ts";

const { values: opt } = parseArgs({
  args: Deno.args,
  options: {
    tree: { type: "string" },
    keys: { type: "string", default: "900000" },
    entries: { type: "string", default: "100000" },
    val: { type: "string", default: "256" },
    runs: { type: "string", default: "1" },
    child: { type: "boolean", default: false },
  },
});

const tree = opt.tree ?? repoRoot();

/** One measured re-apply, in this process, of `tree`'s code. */
async function measure(): Promise<void> {
  const keys = Number(opt.keys);
  const n = Number(opt.entries);
  const src = (p: string) => new URL(`file://${join(tree, "src", p)}`).href;
  const { MvccStore } = await import(src("mvcc/store.ts"));
  const { encodeInternalRequest } = await import(src("fast_codec.ts"));
  const { applyRequestEntry } = await import(src("server/apply_entry.ts"));
  const { Waiters } = await import(src("server/waiters.ts"));
  const { Lessor } = await import(src("lease/lessor.ts"));
  const { AuthStore } = await import(src("auth/store.ts"));
  const { Membership } = await import(src("server/membership.ts"));
  const lessor = new Lessor({ minTtl: 5, now: () => performance.now() });
  const auth = new AuthStore({ tokenTtlSeconds: 300, now: () => performance.now() });
  const store = new MvccStore(lessor.hooks);
  const value = new Uint8Array(Number(opt.val)).fill(0x78);
  const enc = new TextEncoder();
  const put = (i: number) => ({
    $typeName: "etcdserverpb.PutRequest",
    key: enc.encode("s/" + String(i).padStart(8, "0")),
    value,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });
  const origin = 0x34b8cec936cfef77n;
  // The entries lie one after another in one buffer, as a replayed WAL's
  // do. Encoded before the store is loaded: the memory their encoding
  // frees is then taken by the load, not left for the measured loop's
  // slabs (which made 1 MiB slabs look nearly free of page faults).
  const encoded: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; i < n; i++) {
    const e = encodeInternalRequest(1796587031408000n + BigInt(i), origin, {
      case: "put",
      value: put(keys + i),
    });
    encoded.push(e);
    size += e.length;
  }
  const all = new Uint8Array(size);
  const entries: Uint8Array[] = [];
  let off = 0;
  for (const e of encoded) {
    all.set(e, off);
    entries.push(all.subarray(off, off + e.length));
    off += e.length;
  }
  encoded.length = 0;
  (globalThis as { gc?: () => void }).gc?.();
  for (let i = 0; i < keys; i++) store.put(put(i));
  const sm = { store, membership: Membership.fromRecords([]), alarms: [], lessor, auth };
  (globalThis as { gc?: () => void }).gc?.();
  const waiters = new Waiters();
  const faults0 = process.resourceUsage().minorPageFault;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) applyRequestEntry(sm, entries[i], 1000 + i, origin, waiters);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  if (store.currentRevision !== keys + n + 1) throw new Error("not every entry applied");
  console.log(JSON.stringify({
    tree,
    keys,
    entries: n,
    wall_ms: Math.round(wall),
    cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    page_faults: faults,
  }));
}

if (opt.child) {
  await measure();
} else {
  // A fresh process per run, resolving packages through the tree's own config.
  for (let r = 0; r < Number(opt.runs); r++) {
    const args = [
      "run",
      "-A",
      "--config",
      join(tree, "deno.json"),
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      "--child",
      "--tree",
      tree,
      "--keys",
      opt.keys!,
      "--entries",
      opt.entries!,
      "--val",
      opt.val!,
    ];
    const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
    if (!out.success) Deno.exit(1);
    await Deno.stdout.write(out.stdout);
  }
}
