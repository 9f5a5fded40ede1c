import assert from "node:assert/strict";
import { Arena, type Slab } from "./arena.ts";
import { KeyIndex } from "./history.ts";
import { toBinary } from "./keys.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

Deno.test("arena: write copies both parts side by side and never reuses bytes", () => {
  const a = new Arena();
  const src = enc.encode("value");
  const s1 = a.write(enc.encode("k1"), src);
  const o1 = a.lastOffset;
  src[0] = 0x56; // mutating the source after the write changes nothing stored
  const s2 = a.write(enc.encode("k2"), enc.encode("other"));
  const o2 = a.lastOffset;
  assert.equal(dec.decode(new Uint8Array(s1.buf, o1, 7)), "k1value");
  assert.equal(dec.decode(new Uint8Array(s2.buf, o2, 7)), "k2other");
  assert.ok(s1 !== s2 || o2 >= o1 + 7);
  // Freeing does not make space reusable: the next write goes after.
  a.free(s2, 7);
  a.write(enc.encode("k3"), enc.encode("third"));
  assert.ok(a.lastOffset >= o2 + 7 || a.lastOffset === 0);
  assert.equal(dec.decode(new Uint8Array(s2.buf, o2, 7)), "k2other");
});

Deno.test("arena: slabs grow geometrically, oversized values get their own", () => {
  const a = new Arena();
  a.write(bytes(10, 1), bytes(3000, 1));
  const first = a.capacity;
  assert.equal(first, 4096);
  a.write(bytes(10, 2), bytes(3000, 2)); // does not fit: a second, larger slab
  assert.equal(a.slabCount, 2);
  assert.equal(a.capacity, 4096 + 8192);
  const big = a.write(bytes(1, 3), bytes(3 << 20, 3));
  assert.equal(big.bytes.length, (3 << 20) + 1);
  assert.equal(a.liveBytes, 3010 * 2 + (3 << 20) + 1);
  // Freeing the oversized value once it is no longer the open slab drops it.
  a.write(bytes(1, 4), bytes(1, 4));
  a.free(big, (3 << 20) + 1);
  assert.equal(a.slabCount, 3);
  assert.equal(a.capacity, 4096 + 8192 + 32768);
});

Deno.test("arena: sparse slabs are found, and moving their bytes out drops them", () => {
  const a = new Arena();
  const s = a.write(bytes(100, 7), bytes(1900, 7));
  const off = a.lastOffset;
  const dead = a.write(bytes(100, 8), bytes(1900, 8));
  a.write(bytes(100, 9), bytes(3000, 9)); // opens a new slab: the first is closed
  assert.equal(dead, s);
  assert.equal(a.sparseSlabs().size, 0); // 4000 of 4096 live
  a.free(dead, 2000);
  assert.deepEqual([...a.sparseSlabs()], [s]); // 2000 of 4096 live
  const view = new Uint8Array(s.buf, off, 2000);
  const to = a.move(s, off, 2000);
  assert.notEqual(to, s);
  assert.deepEqual(new Uint8Array(to.buf, a.lastOffset, 2000), bytes(2000, 7));
  assert.equal(a.slabCount, 1);
  // A view handed out earlier still reads the old bytes.
  assert.deepEqual(view, bytes(2000, 7));
});

Deno.test("key index: compaction moves survivors out of sparse slabs, bytes intact", () => {
  const idx = new KeyIndex();
  const keys = Array.from({ length: 50 }, (_, i) => enc.encode(`key-${i}`));
  let rev = 1;
  // Ten rounds of 50 keys x 2 KiB: ~1 MiB written, a tenth of it current.
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < keys.length; i++) {
      rev++;
      const hist = idx.history(toBinary(keys[i]));
      const ver = hist === undefined ? 1 : hist[hist.length - 1].ver + 1;
      idx.add(toBinary(keys[i]), keys[i], bytes(2048, round), rev, 0, 2, ver, 0n);
    }
  }
  const before = idx.arena.capacity;
  const early = idx.history(toBinary(keys[0]))![9].value;
  idx.compact(rev);
  assert.equal(idx.log.length, 50);
  // What is left: the survivors, in the open slab.
  assert.ok(idx.arena.capacity < before * 0.6, `${idx.arena.capacity} vs ${before}`);
  assert.equal(idx.arena.slabCount, 1);
  assert.equal(idx.arena.liveBytes, 10 * 5 + 40 * 6 + 50 * 2048);
  assert.ok(idx.arena.liveBytes <= idx.arena.capacity);
  for (let i = 0; i < keys.length; i++) {
    const hist = idx.history(toBinary(keys[i]))!;
    assert.equal(hist.length, 1);
    assert.deepEqual(hist[0].key, keys[i]);
    assert.deepEqual(hist[0].value, bytes(2048, 9));
  }
  assert.deepEqual(early, bytes(2048, 9));
});

Deno.test("key index: rollback frees the bytes of the undone version", () => {
  const idx = new KeyIndex();
  const k = enc.encode("a");
  idx.add("a", k, bytes(10, 1), 2, 0, 2, 1, 0n);
  const live = idx.arena.liveBytes;
  const v = idx.add("a", k, bytes(20, 2), 3, 0, 2, 2, 0n);
  assert.equal(idx.arena.liveBytes, live + 21);
  idx.unappend(v);
  assert.equal(idx.arena.liveBytes, live);
  assert.deepEqual(idx.history("a")![0].value, bytes(10, 1));
});

Deno.test("slackBytes (a running count) equals the free space summed slab by slab", () => {
  const a = new Arena();
  const held: { slab: Slab; n: number }[] = [];
  let cur: Slab | undefined;
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const brute = () => {
    // Every slab still referenced is in `held` or is the open one.
    const slabs = new Set(held.map((h) => h.slab));
    if (cur !== undefined) slabs.add(cur);
    let n = 0;
    for (const s of slabs) n += s.used - s.live;
    return n;
  };
  for (let i = 0; i < 20_000; i++) {
    const r = rnd();
    if (r < 0.6 || held.length === 0) {
      const n = 1 + Math.floor(rnd() * 3000);
      const slab = a.write(new Uint8Array(n), new Uint8Array(0));
      held.push({ slab, n });
      cur = slab;
    } else if (r < 0.995) {
      const j = Math.floor(rnd() * held.length);
      const [h] = held.splice(j, 1);
      a.free(h.slab, h.n);
    } else {
      a.seal();
      cur = undefined;
    }
    if (i % 97 === 0) {
      // The open slab's unused tail is not slack; closed slabs' tails are (used = size).
      assert.equal(a.slackBytes, brute());
      assert.equal(a.liveBytes, held.reduce((t, h) => t + h.n, 0));
    }
  }
});

Deno.test("arena: slabs double up to 8 MiB, and bytes written across large slabs read back", () => {
  const a = new Arena();
  // The size of each slab opened, in order.
  const sizes: number[] = [];
  let last: Slab | undefined;
  const written: { slab: Slab; off: number; fill: number }[] = [];
  // 64 KiB values (the first slabs are oversized for them): ~25 MiB in all.
  for (let i = 0; i < 400; i++) {
    const slab = a.write(bytes(16, i & 0xff), bytes(65520, (i * 7) & 0xff));
    written.push({ slab, off: a.lastOffset, fill: i });
    if (slab !== last) sizes.push(slab.size);
    last = slab;
  }
  const MiB = 1024 * 1024;
  // Doubling past 1 MiB (the cap before), then 8 MiB each.
  assert.deepEqual(sizes.slice(sizes.indexOf(MiB)), [1, 2, 4, 8, 8, 8].map((n) => n * MiB));
  assert.ok(sizes.every((n, i) => i === 0 || n >= sizes[i - 1]), `${sizes}`);
  for (const { slab, off, fill } of written) {
    const got = new Uint8Array(slab.buf, off, 65536);
    assert.equal(got[0], fill & 0xff);
    assert.equal(got[15], fill & 0xff);
    assert.equal(got[16], (fill * 7) & 0xff);
    assert.equal(got[65535], (fill * 7) & 0xff);
  }
  assert.equal(a.liveBytes, 400 * 65536);
});
