/**
 * Damaged files under a real member: after acknowledged writes and a
 * SIGKILL, the WAL's last segment is cut at a random offset (a torn
 * tail), a record followed by valid ones is flipped, or the newest
 * snapshot file is flipped; then the member is started again.
 *
 * Properties:
 * - torn tail: the member starts, and every acknowledged write whose WAL
 *   record lies wholly before the cut reads back with its value;
 * - flipped record in the middle: the member refuses to start (non-zero
 *   exit) with a message naming the segment file and a byte offset;
 * - flipped snapshot: the member either starts with every acknowledged
 *   write, or refuses to start with a message naming the snapshot file.
 *
 * The case kinds cycle with the case index (0 torn, 1 flip, 2 snapshot);
 * everything else (how many writes, where the damage goes) comes from the
 * seed. Three cases by default (and FUZZ_CASES/500): each costs two
 * member starts.
 */
import assert from "node:assert/strict";
import { basename } from "node:path";
import { GrpcClient, prefixEnd, text } from "../harness/grpc.ts";
import { Member } from "../harness/member.ts";
import { cairnIsEtcd, missingTools } from "../harness/tools.ts";
import { walSegments } from "../harness/wal_files.ts";
import { caseRng, forEachBatch, FuzzFailure, fuzzPlan } from "./plan.ts";
import type { Rng } from "./rng.ts";
import { recordStarts } from "./wal_files.ts";

const skip = missingTools() ??
  (cairnIsEtcd() ? "skipping: these cases target cairn's files" : undefined);
if (skip) console.warn(`fuzz/storage_process_fuzz_test.ts: ${skip}`);

const KINDS = ["torn tail", "flipped record", "flipped snapshot"] as const;

/** Writes `n` keys with unique values; returns them as acknowledged. */
async function writeKeys(m: Member, rng: Rng, n: number): Promise<Map<string, string>> {
  const client = new GrpcClient(m.clientUrl);
  const acked = new Map<string, string>();
  try {
    for (let i = 0; i < n; i++) {
      const key = `fz/${String(i).padStart(4, "0")}`;
      const value = `val-${i}-${rng.u32().toString(36)}-${"x".repeat(rng.int(0, 200))}`;
      await client.put(key, value);
      acked.set(key, value);
    }
  } finally {
    client.destroy();
  }
  return acked;
}

/** What the member holds under fz/. */
async function readKeys(m: Member): Promise<Map<string, string>> {
  const client = new GrpcClient(m.clientUrl);
  try {
    const res = await client.range("fz/", prefixEnd("fz/"));
    return new Map(res.kvs.map((kv) => [text(kv.key), text(kv.value)]));
  } finally {
    client.destroy();
  }
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Starts the member again; true when healthy, false when it exited. */
async function restart(m: Member): Promise<boolean> {
  m.launch();
  try {
    await m.waitHealthy(30_000);
    return true;
  } catch {
    if (m.running) throw new Error(`member neither healthy nor stopped\n${await m.stderrTail()}`);
    return false;
  }
}

/** Runs one case; throws with what went wrong. */
async function runCase(rng: Rng, kind: (typeof KINDS)[number]): Promise<string> {
  const snapshots = kind === "flipped snapshot";
  const m = await Member.start({
    kind: "cairn",
    extraArgs: ["--log-level=warn", ...(snapshots ? ["--snapshot-count=10"] : [])],
  });
  try {
    const acked = await writeKeys(m, rng, rng.int(20, 50));
    await m.kill();
    const segments = await walSegments(m.dataDir);
    const last = segments[segments.length - 1];
    const bytes = await Deno.readFile(last);
    const { starts, end } = recordStarts(bytes);

    if (kind === "torn tail") {
      // Cut somewhere after the segment header (its first three records).
      const from = starts[Math.min(3, starts.length - 1)];
      const cut = rng.int(from, end - 1);
      await Deno.truncate(last, cut);
      if (!(await restart(m))) {
        throw new Error(
          `a torn tail (cut at ${cut} of ${end}) was refused\n${await m.stderrTail()}`,
        );
      }
      const stored = await readKeys(m);
      let kept = 0;
      for (const [key, value] of acked) {
        const at = indexOf(bytes, new TextEncoder().encode(value));
        if (at < 0) continue; // in an earlier segment: untouched
        const next = starts.find((s) => s > at) ?? end;
        if (next > cut) continue; // its record was cut
        kept++;
        assert.equal(stored.get(key), value, `${key}: its record ended before the cut at ${cut}`);
      }
      return `cut at ${cut} of ${end}: ${kept} of ${acked.size} writes were before the cut and read back`;
    }

    if (kind === "flipped record") {
      // A record with valid ones after it: never a torn tail.
      const k = rng.int(3, starts.length - 2);
      const at = rng.int(starts[k], starts[k + 1] - 1);
      bytes[at] ^= 0xff;
      await Deno.writeFile(last, bytes);
      if (await restart(m)) throw new Error(`started although byte ${at} of ${last} was flipped`);
      const err = await m.stderrText();
      assert.ok(
        err.includes(basename(last)) && /offset \d+/.test(err),
        `the refusal must name ${basename(last)} and an offset:\n${await m.stderrTail()}`,
      );
      assert.notEqual(m.exitStatus?.code, 0);
      return `flipped byte ${at} (record at ${starts[k]}): refused`;
    }

    const snapDir = `${m.dataDir}/member/snap`;
    const snaps = [...Deno.readDirSync(snapDir)].map((e) => e.name).filter((n) =>
      n.endsWith(".snap")
    )
      .sort();
    if (snaps.length === 0) throw new Error("no snapshot was written");
    const newest = `${snapDir}/${snaps[snaps.length - 1]}`;
    const snap = await Deno.readFile(newest);
    const at = rng.below(snap.length);
    snap[at] ^= 1 << rng.below(8);
    await Deno.writeFile(newest, snap);
    if (await restart(m)) {
      const stored = await readKeys(m);
      for (const [key, value] of acked) {
        assert.equal(stored.get(key), value, `${key} after restart`);
      }
      return `flipped byte ${at} of ${basename(newest)}: started with every write`;
    }
    const err = await m.stderrText();
    assert.ok(
      err.includes(basename(newest)),
      `the refusal must name ${newest}:\n${await m.stderrTail()}`,
    );
    return `flipped byte ${at} of ${basename(newest)}: refused, naming it`;
  } finally {
    await m.destroy();
  }
}

Deno.test({
  name: "fuzz: a real member refuses damaged files by name and offset, and recovers torn tails",
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const plan = fuzzPlan("storage-process", "tests/fuzz/storage_process_fuzz_test.ts", {
      cases: 3,
      budgetMs: 40_000,
      weight: 1 / 500,
    });
    await forEachBatch(plan, 1, async (i) => {
      const kind = KINDS[i % KINDS.length];
      try {
        console.log(`fuzz storage-process #${i} ${kind}: ${await runCase(caseRng(plan, i), kind)}`);
      } catch (err) {
        throw new FuzzFailure(plan, i, i, `${kind}: ${(err as Error).message}`);
      }
    });
  },
});
