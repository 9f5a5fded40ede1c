import assert from "node:assert/strict";
import { join } from "node:path";
import { type Entry, EntryType } from "../raft/types.ts";
import { RecordWriter } from "./record.ts";
import { Wal, type WalMetadata } from "./wal.ts";

const meta: WalMetadata = { clusterId: 7n, memberId: 9n, extra: new Uint8Array(0) };

function ent(index: number, size: number): Entry {
  return { index, term: 2, type: EntryType.Normal, data: new Uint8Array(size).fill(index & 0xff) };
}

Deno.test("record writer: records written over a used scratch buffer match a fresh writer's", () => {
  const scratch = new Uint8Array(4096).fill(0xee); // what an earlier save left
  const e = ent(5, 300);
  const hs = { term: 2, vote: 3n, commit: 5 };
  const size = 26 + 300 + 33;
  const fresh = new RecordWriter(size);
  const reused = new RecordWriter(size, scratch);
  for (const w of [fresh, reused]) {
    w.entry(e);
    w.hardState(hs);
  }
  const out = reused.finish();
  assert.equal(out.buffer, scratch.buffer, "written into the scratch buffer");
  assert.deepEqual(out, fresh.finish());
  // Too small a scratch buffer: a fresh one.
  assert.notEqual(new RecordWriter(size, new Uint8Array(10)).bytes.buffer.byteLength, 10);
});

Deno.test("WAL: saves of growing and shrinking sizes (the reused buffer) replay exactly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cairn-wal-scratch-" });
  try {
    const path = join(dir, "wal");
    const wal = await Wal.create(path, meta);
    // Small, large (grows the buffer), small again (a shorter save over
    // longer old bytes), over the reuse limit (its own buffer), small.
    const sizes = [[10, 20], [70_000, 70_000, 5], [1], [1_100_000], [3, 3, 3]];
    const all: Entry[] = [];
    let index = 1;
    for (const batch of sizes) {
      const entries = batch.map((n) => ent(index++, n));
      all.push(...entries);
      await wal.save({ term: 2, vote: 3n, commit: index - 1 }, entries);
    }
    await wal.close();
    const { wal: again, replay } = await Wal.open(path);
    assert.deepEqual(replay.entries, all);
    assert.deepEqual(replay.hardState, { term: 2, vote: 3n, commit: index - 1 });
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WAL: saves of large values share one buffer, dropped by the next small save, and replay exactly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cairn-wal-scratch-" });
  try {
    const path = join(dir, "wal");
    const wal = await Wal.create(path, meta);
    const big = () => (wal as unknown as { bigScratch?: Uint8Array }).bigScratch;
    const all: Entry[] = [];
    let index = 1;
    const save = async (sizes: number[]) => {
      const entries = sizes.map((n) => ent(index++, n));
      all.push(...entries);
      await wal.save({ term: 2, vote: 3n, commit: index - 1 }, entries);
    };
    await save([1_100_000]);
    const first = big();
    assert.ok(first !== undefined && first.length >= 1_100_000, "a large save keeps its buffer");
    await save([1_200_000, 1_300_000]); // grows it
    const grown = big();
    assert.ok(grown !== undefined && grown.length >= 2_500_000);
    await save([1_050_000]); // a shorter save over longer old bytes
    assert.equal(big(), grown, "the next large save reuses it");
    await save([10]);
    assert.equal(big(), undefined, "a small save lets it go");
    await save([1_100_000, 7]);
    await wal.close();
    const { wal: again, replay } = await Wal.open(path);
    assert.deepEqual(replay.entries, all);
    await again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
