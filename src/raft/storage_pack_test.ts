import assert from "node:assert/strict";
import { ErrCompacted } from "./errors.ts";
import { mulberry32 } from "./sim.ts";
import { MemoryStorage, PACK_MAX_BYTES, SLAB_BYTES } from "./storage.ts";
import { type Entry, EntryType } from "./types.ts";

/** An entry whose bytes say where they came from (so a rewritten slab shows). */
function entry(index: number, term: number, size: number, salt: number): Entry {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (index * 31 + term * 7 + salt + i) & 0xff;
  return { index, term, type: size % 3 === 0 ? EntryType.ConfChange : EntryType.Normal, data };
}

function sameEntries(actual: Entry[], expected: Entry[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: count`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const x = expected[i];
    assert.equal(a.index, x.index, `${what}: index`);
    assert.equal(a.term, x.term, `${what}: term of ${x.index}`);
    assert.equal(a.type, x.type, `${what}: type of ${x.index}`);
    assert.deepEqual(a.data, x.data, `${what}: data of ${x.index}`);
  }
}

/**
 * Random appends (with conflicting tails), compactions and reads against a
 * plain array of entries, packing on or off; every view handed out must
 * still hold its bytes at the end.
 */
function modelRun(seed: number, pack: boolean): void {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const s = new MemoryStorage();
  s.packEntries = pack;
  let offset = 0; // index of the dummy
  let model: Entry[] = []; // entries offset+1 ..
  const handedOut: [Uint8Array, Uint8Array][] = [];
  let term = 1;
  for (let step = 0; step < 400; step++) {
    const op = rnd();
    const last = offset + model.length;
    if (op < 0.55) {
      const from = offset + 1 + int(model.length + 1); // a conflict, or right after the last
      if (rnd() < 0.3) term++;
      const n = 1 + int(40);
      const ents: Entry[] = [];
      for (let k = 0; k < n; k++) {
        const big = rnd() < 0.05;
        const size = big ? PACK_MAX_BYTES + 1 + int(3 * PACK_MAX_BYTES) : int(700);
        ents.push(entry(from + k, term, size, step));
      }
      s.append(ents);
      model = [...model.slice(0, from - offset - 1), ...ents];
    } else if (op < 0.65 && model.length > 0) {
      const at = offset + 1 + int(model.length);
      s.compact(at);
      model = model.slice(at - offset);
      offset = at;
    } else if (model.length > 0) {
      const lo = offset + 1 + int(model.length);
      const hi = lo + 1 + int(last + 1 - lo);
      const max = rnd() < 0.5 ? Infinity : int(4000);
      const got = s.entries(lo, hi, max);
      let want = model.slice(lo - offset - 1, hi - offset - 1);
      if (max !== Infinity) {
        let size = want[0].data.length + 24;
        let k = 1;
        for (; k < want.length; k++) {
          size += want[k].data.length + 24;
          if (size > max) break;
        }
        want = want.slice(0, k);
      }
      sameEntries(got, want, `seed ${seed} step ${step} entries(${lo}, ${hi}, ${max})`);
      for (const g of got) handedOut.push([g.data, g.data.slice()]);
    }
    assert.equal(s.firstIndex(), offset + 1, `seed ${seed} step ${step}: firstIndex`);
    assert.equal(s.lastIndex(), offset + model.length, `seed ${seed} step ${step}: lastIndex`);
    if (model.length > 0) {
      const i = offset + 1 + int(model.length);
      assert.equal(s.term(i), model[i - offset - 1].term);
    }
  }
  assert.throws(() => s.entries(offset, offset + 1), ErrCompacted);
  if (model.length > 0) {
    sameEntries(s.entries(offset + 1, offset + model.length + 1), model, `seed ${seed} at the end`);
  }
  for (const [view, copy] of handedOut) {
    assert.deepEqual(view, copy, `seed ${seed}: a view changed`);
  }
  if (!pack) assert.equal(s.slabCount, 0);
}

Deno.test("MemoryStorage behaves as a plain list of entries, packed or not (seeded runs)", () => {
  for (let seed = 1; seed <= 40; seed++) {
    modelRun(seed, true);
    modelRun(seed, false);
  }
});

Deno.test("packed entries share slabs; a slab goes once all its entries are compacted", () => {
  const s = new MemoryStorage();
  const per = 1000; // bytes per entry
  const perSlab = Math.floor(SLAB_BYTES / per);
  const n = perSlab * 4;
  const ents: Entry[] = [];
  for (let i = 1; i <= n; i++) ents.push(entry(i, 1, per, 0));
  s.append(ents);
  assert.equal(s.slabCount, 4, "4 slabs of packed bytes for 4 slabs' worth of entries");
  const got = s.entries(1, 3);
  assert.equal(got[0].data.buffer, got[1].data.buffer, "neighbours share one slab");
  assert.notEqual(got[0].data, ents[0].data, "packed: a copy, not the appended buffer");
  s.compact(perSlab * 2 - 1);
  assert.equal(s.slabCount, 3, "the first slab's entries are all compacted");
  s.compact(n - 1);
  assert.equal(s.slabCount, 1, "the slab still being filled stays");
  sameEntries(s.entries(n, n + 1), [ents[n - 1]], "the last entry");
  assert.deepEqual(got[0].data, ents[0].data, "views handed out earlier still hold their bytes");
});

Deno.test("large entries keep their own buffer; packing off keeps every buffer", () => {
  const s = new MemoryStorage();
  const big = entry(1, 1, PACK_MAX_BYTES + 1, 0);
  s.append([big, entry(2, 1, 10, 0)]);
  assert.equal(s.entries(1, 2)[0].data, big.data, "a large entry is not copied");
  assert.equal(s.slabCount, 1);
  const lone = new MemoryStorage();
  lone.packEntries = false;
  const small = entry(1, 1, 10, 0);
  lone.append([small]);
  assert.equal(lone.entries(1, 2)[0].data, small.data);
  assert.equal(lone.slabCount, 0);
});

Deno.test("a long log compacted to a few entries keeps every entry right, growing and shrinking its columns", () => {
  for (const pack of [true, false]) {
    const s = new MemoryStorage();
    s.packEntries = pack;
    const all: Entry[] = [];
    let next = 1;
    for (let round = 0; round < 3; round++) {
      const batch: Entry[] = [];
      for (let k = 0; k < 20_000; k++, next++) batch.push(entry(next, round + 1, next % 50, round));
      s.append(batch);
      all.push(...batch);
      const keep = 7 + round;
      s.compact(next - 1 - keep);
      sameEntries(s.entries(next - keep, next), all.slice(next - 1 - keep), `round ${round}`);
      assert.equal(s.term(next - 1 - keep), round + 1, "the dummy keeps its term");
      assert.throws(() => s.entries(next - 1 - keep, next), ErrCompacted);
    }
  }
});
