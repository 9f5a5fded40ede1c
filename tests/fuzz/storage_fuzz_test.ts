/**
 * Fuzzes WAL and snapshot files cut or flipped at random offsets, at unit
 * level against `Wal.open` and `SnapshotStore.loadNewest` in temp dirs.
 *
 * WAL properties, for damage at byte P of segment F:
 * - opening either refuses with a WalCorruptError naming a segment of the
 *   WAL and a byte offset (at or before P when it names F), or succeeds;
 * - a cut of the last segment (a torn final write) and stray bytes in its
 *   zero-filled tail are recovered from, unless the records before the cut
 *   are refused on their own too (a cut can remove a synced snapshot
 *   marker whose released segments are gone: nothing to recover then);
 * - a success returns exactly what a clean WAL of the surviving records
 *   holds (the last segment up to the last whole record before P; every
 *   other segment whole): damage anywhere but the tail of the last segment
 *   never loses a record silently, and a flip followed by valid records
 *   is never taken for a torn tail;
 * - after a recovery the WAL takes appends and reopens clean.
 *
 * Snapshot property: loadNewest returns the newest snapshot that was not
 * damaged, byte for byte, and sets every newer damaged one aside as
 * `.broken` (or refuses with an error naming the file when the damage made
 * it claim a newer format version).
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import type { SnapshotMeta } from "../../src/raft/types.ts";
import { SnapshotStore, SnapshotVersionError } from "../../src/storage/snapshot.ts";
import { Wal, WalCorruptError, type WalReplay } from "../../src/storage/wal.ts";
import { caseRng, forEachBatch, FuzzFailure, fuzzPlan, trace } from "./plan.ts";
import type { Rng } from "./rng.ts";
import { copyDir, recordStarts, type WalDir, writeHistory } from "./wal_files.ts";

/** Cases sharing one written history (writing one costs fsyncs; damaging a copy does not). */
const CASES_PER_BASE = 25;

/** One damage to a file's bytes. */
interface Damage {
  kind: "cut" | "flip" | "zero";
  /** First damaged byte (the new length for a cut). */
  at: number;
  /** Bytes damaged from `at` (0 for a cut). */
  length: number;
  what: string;
}

/** Picks a damage for a file of `size` bytes whose framed data ends at `end`. */
function pickDamage(rng: Rng, size: number, end: number): Damage {
  const kind = rng.weighted([[45, "cut"], [45, "flip"], [10, "zero"]] as const);
  const inData = end > 0 && rng.chance(0.85);
  const at = inData ? rng.below(end) : rng.below(Math.max(1, size));
  if (kind === "flip") {
    const n = rng.int(1, 4);
    return { kind, at, length: n, what: `flip ${n} byte(s) at ${at}` };
  }
  if (kind === "cut") return { kind, at, length: 0, what: `cut at ${at}` };
  return { kind, at, length: 512, what: `zero 512 bytes at ${at}` };
}

/**
 * Applies a damage to a file; false when it would change nothing. A zeroed
 * range is narrowed to start at its first byte that was not zero already,
 * so `at` is always the first byte that changed.
 */
async function damage(path: string, d: Damage): Promise<boolean> {
  const bytes = await Deno.readFile(path);
  if (d.at >= bytes.length) return false;
  if (d.kind === "cut") {
    await Deno.truncate(path, d.at);
    return true;
  }
  if (d.kind === "flip") {
    const n = Math.min(d.length, bytes.length - d.at);
    for (let i = 0; i < n; i++) bytes[d.at + i] ^= 0xff;
  } else {
    const stop = Math.min(bytes.length, d.at + d.length);
    const first = bytes.subarray(d.at, stop).findIndex((x) => x !== 0);
    if (first < 0) return false;
    d.length -= first;
    d.at += first;
    d.what = `zero ${stop - d.at} bytes at ${d.at}`;
    bytes.fill(0, d.at, stop);
  }
  await Deno.writeFile(path, bytes);
  return true;
}

/** A replay reduced to what must match (entries compared by value). */
function summary(r: WalReplay): unknown {
  return {
    metadata: r.metadata,
    hardState: r.hardState,
    snapshot: r.snapshot,
    entries: r.entries.map((e) => [e.index, e.term, e.type, [...e.data].join(",")]),
  };
}

/** Opens a WAL: its summary, or the WalCorruptError it refuses with (closing it either way). */
async function tryOpen(
  dir: string,
): Promise<{ replay?: WalReplay; wal?: Wal; error?: WalCorruptError }> {
  try {
    return await Wal.open(dir);
  } catch (err) {
    if (err instanceof WalCorruptError) return { error: err };
    throw new Error(`open failed with ${err}, not a WalCorruptError`);
  }
}

/**
 * Runs one WAL case: copies the base, damages one segment, opens it and
 * compares with a clean WAL of the records that survived the damage;
 * returns a line for the trace.
 */
async function walCase(base: WalDir, work: string, rng: Rng): Promise<string> {
  const victim = rng.below(base.segments.length);
  const isLast = victim === base.segments.length - 1;
  const name = basename(base.segments[victim]);
  const pristine = await Deno.readFile(base.segments[victim]);
  const { starts, end } = recordStarts(pristine);
  const d = pickDamage(rng, pristine.length, end);
  const dir = join(work, "damaged");
  await copyDir(base.dir, dir);
  const path = join(dir, name);
  if (!(await damage(path, d))) return `${name}: ${d.what} -> unchanged`;
  const what = `${name} (${isLast ? "last" : "not last"} of ${base.segments.length}): ${d.what}`;

  // Where the surviving records of the damaged file end: a cut keeps every
  // whole record before it; other damage loses the record it hits onward.
  const inTail = d.at >= end;
  const hit = starts.filter((x) => x <= d.at).pop() ?? 0;
  const keep = inTail
    ? end
    : d.kind === "cut"
    ? Math.max(...[...starts, end].filter((b) => b <= d.at))
    : hit;
  const damageEnd = d.at + d.length;
  const validAfter = starts.some((x) => x >= damageEnd);

  // The clean WAL of those survivors (only the last segment may lose a tail).
  const clean = join(work, "clean");
  await copyDir(base.dir, clean);
  if (isLast) await Deno.truncate(join(clean, name), keep);
  const want = await tryOpen(clean);
  if (want.wal) {
    await want.wal.close();
    assert.equal(want.replay!.truncatedTail, undefined, `${what}: survivors are not clean`);
  }

  const got = await tryOpen(dir).catch((err) => {
    throw new Error(`${what}: ${(err as Error).message}`);
  });
  if (got.error) {
    const err = got.error;
    assert.ok(
      err.message.includes(err.path) && err.message.includes(`byte offset ${err.offset}`),
      `${what}: the error must name the file and offset: ${err.message}`,
    );
    assert.ok(
      base.segments.some((x) => basename(x) === basename(err.path)),
      `${what}: names ${err.path}, not a segment`,
    );
    if (basename(err.path) === name) {
      assert.ok(err.offset <= d.at, `${what}: error at ${err.offset}, after the damage`);
    }
    // A torn tail (a cut, or stray bytes past the data) of the last segment
    // is refused only when what came before it does not stand on its own.
    if (isLast && (d.kind === "cut" || inTail) && want.replay) {
      throw new Error(`${what}: a torn tail was refused: ${err.message}`);
    }
    return `${what} -> refused: ${err.message.slice(err.message.indexOf("offset"), 140)}`;
  }
  const { wal, replay } = got as { wal: Wal; replay: WalReplay };
  if (!isLast) {
    await wal.close();
    // want is the pristine WAL here: older segments never lose records silently.
    assert.ok(want.replay, `${what}: opened, but the pristine WAL does not`);
    assert.deepEqual(
      summary(replay),
      summary(want.replay),
      `${what}: damage in an older segment changed the replay`,
    );
    return `${what} -> harmless`;
  }
  if (!want.replay) {
    await wal.close();
    throw new Error(
      `${what}: opened, but the surviving records alone are refused: ${want.error?.message}`,
    );
  }
  if (d.kind !== "cut" && !inTail && validAfter) {
    await wal.close();
    throw new Error(`${what}: a damaged record followed by valid ones was cut as a torn tail`);
  }
  const expected = summary(want.replay) as { entries: unknown[] };
  assert.deepEqual(
    summary(replay),
    expected,
    `${what}: the recovered WAL is not the records before the damage`,
  );
  // Appends continue after the cut, and the result reopens clean.
  const next = (replay.entries.at(-1)?.index ?? replay.snapshot?.index ?? 0) + 1;
  await wal.save(undefined, [{ term: 99, index: next, type: 0, data: Uint8Array.of(1, 2, 3) }]);
  await wal.close();
  const { wal: again, replay: after } = await Wal.open(dir);
  await again.close();
  assert.equal(after.truncatedTail, undefined, `${what}: still torn after recovery`);
  assert.deepEqual(
    summary(after),
    { ...expected, entries: [...expected.entries, [next, 99, 0, "1,2,3"]] },
    `${what}: an append after recovery did not read back`,
  );
  return `${what} -> recovered${
    replay.truncatedTail ? ` (cut at ${replay.truncatedTail.offset})` : ""
  }`;
}

Deno.test({
  name:
    "fuzz: WAL segments cut or flipped at random offsets: refused with file and offset, or torn tail recovered",
  sanitizeResources: false,
  fn: async () => {
    const plan = fuzzPlan("wal-files", "tests/fuzz/storage_fuzz_test.ts", {
      cases: 700,
      budgetMs: 10_000,
    });
    const root = await Deno.makeTempDir({ prefix: "cairn-fuzz-wal-" });
    const bases = new Map<number, WalDir>();
    const outcomes = new Map<string, number>();
    try {
      await forEachBatch(plan, CASES_PER_BASE, async (from, to) => {
        for (let i = from; i <= to; i++) {
          const b = Math.floor(i / CASES_PER_BASE);
          let base = bases.get(b);
          if (!base) {
            bases.clear();
            base = await writeHistory(caseRng(plan, b, 1), join(root, `base-${b}`));
            bases.set(b, base);
          }
          const work = join(root, `case-${i}`);
          try {
            const line = await walCase(base, work, caseRng(plan, i));
            const k = line.replace(/.* -> /, "").replace(/[:( ].*/, "");
            outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
            trace(plan, i, line);
          } catch (err) {
            throw new FuzzFailure(plan, i, i, (err as Error).message);
          } finally {
            await Deno.remove(work, { recursive: true }).catch(() => {});
          }
        }
      });
      console.log(`fuzz wal-files outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

/** Snapshot metadata of the k-th snapshot of a case. */
function snapMeta(rng: Rng, index: number): SnapshotMeta {
  const voters = Array.from({ length: rng.int(1, 5) }, () => BigInt(rng.u32()) << 8n);
  return {
    term: rng.int(1, 9),
    index,
    confState: { voters, learners: rng.chance(0.3) ? [7n] : [] },
  };
}

Deno.test({
  name: "fuzz: snapshot files cut or flipped at random offsets: the newest intact one is loaded",
  sanitizeResources: false,
  fn: async () => {
    const plan = fuzzPlan("snapshot-files", "tests/fuzz/storage_fuzz_test.ts", {
      cases: 300,
      budgetMs: 5_000,
      weight: 1 / 2,
    });
    const root = await Deno.makeTempDir({ prefix: "cairn-fuzz-snap-" });
    try {
      await forEachBatch(plan, 50, async (from, to) => {
        for (let i = from; i <= to; i++) {
          const rng = caseRng(plan, i);
          const dir = join(root, `case-${i}`);
          await Deno.mkdir(dir);
          try {
            const store = new SnapshotStore(dir, { onWarning: () => {} });
            const saved: { meta: SnapshotMeta; data: Uint8Array; path: string }[] = [];
            let index = 0;
            for (let k = rng.int(1, 4); k > 0; k--) {
              index += rng.int(1, 50);
              const meta = snapMeta(rng, index);
              const data = rng.bytes(rng.size(3000));
              saved.push({ meta, data, path: await store.save(meta, data) });
            }
            const victim = rng.below(saved.length);
            const size = (await Deno.stat(saved[victim].path)).size;
            const d = pickDamage(rng, size, size);
            const what = `${basename(saved[victim].path)} of ${saved.length}: ${d.what}`;
            if (!(await damage(saved[victim].path, d))) continue;
            let loaded;
            try {
              loaded = await store.loadNewest();
            } catch (err) {
              if (
                err instanceof SnapshotVersionError && err.path === saved[victim].path && d.at < 12
              ) {
                trace(plan, i, `${what} -> refused: ${err.message}`);
                continue;
              }
              throw new FuzzFailure(plan, i, i, `${what}: loadNewest failed: ${err}`);
            }
            const intact = saved.filter((_, k) => k !== victim);
            const want = intact.length > 0 ? intact[intact.length - 1] : undefined;
            const newest = victim === saved.length - 1;
            const fail = (why: string) => new FuzzFailure(plan, i, i, `${what}: ${why}`);
            if (want === undefined || (newest && want.meta.index < saved[victim].meta.index)) {
              // The damaged file was the newest: the next intact one (or none) must come back.
              if (want === undefined ? loaded !== undefined : !loaded) {
                throw fail(`loaded ${loaded?.meta.index}`);
              }
            }
            if (!newest) {
              // Damage to an older file changes nothing about the newest.
              const top = saved[saved.length - 1];
              if (!loaded || loaded.meta.index !== top.meta.index) {
                throw fail(`loaded ${loaded?.meta.index}, want ${top.meta.index}`);
              }
              assert.deepEqual(loaded.data, top.data, `${what}: newest snapshot data changed`);
              trace(plan, i, `${what} -> newest intact one loaded`);
              continue;
            }
            if (want) {
              if (!loaded) throw fail("nothing loaded");
              assert.deepEqual(loaded.meta, want.meta, `${what}: wrong snapshot meta`);
              assert.deepEqual(loaded.data, want.data, `${what}: wrong snapshot data`);
            }
            const names = [...Deno.readDirSync(dir)].map((e) => e.name);
            if (!names.includes(`${basename(saved[victim].path)}.broken`)) {
              throw fail(`the damaged file was not set aside (files: ${names.join(", ")})`);
            }
            trace(
              plan,
              i,
              `${what} -> set aside, ${want ? `index ${want.meta.index}` : "none"} loaded`,
            );
          } finally {
            await Deno.remove(dir, { recursive: true }).catch(() => {});
          }
        }
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
