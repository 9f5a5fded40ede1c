import assert from "node:assert/strict";

function assertEquals(a: unknown, b: unknown, msg?: string): void {
  assert.deepStrictEqual(a, b, msg);
}
/** Asserts `fn` throws an error of class `cls` (when given) whose message matches `re`. */
function assertThrows(fn: () => unknown, cls: (new (m: string) => Error) | RegExp, re?: RegExp) {
  const want = cls instanceof RegExp ? cls : re!;
  assert.throws(fn, (e: unknown) => {
    if (!(cls instanceof RegExp)) assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    assert.match((e as Error).message, want);
    return true;
  });
}
import {
  BUCKET_HEADER_SIZE,
  ELEMENT_SIZE,
  LEAF_PAGE,
  PAGE_HEADER_SIZE,
  PAGE_SIZE,
} from "./format.ts";
import { BoltFormatError, BoltReader } from "./reader.ts";
import {
  type BoltEntry,
  buildBolt,
  compareKeys,
  concatPages,
  emitBolt,
  planBoltAsync,
} from "./writer.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Deterministic pseudo-random bytes (xorshift), so failures replay. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

function randomEntries(n: number, seed: number, maxValue: number): BoltEntry[] {
  const r = rng(seed);
  const byKey = new Map<string, BoltEntry>();
  while (byKey.size < n) {
    const key = Uint8Array.from({ length: 1 + Math.floor(r() * 40) }, () => Math.floor(r() * 256));
    const value = Uint8Array.from(
      { length: Math.floor(r() * maxValue) },
      () => Math.floor(r() * 256),
    );
    byKey.set(key.join(","), [key, value]);
  }
  return [...byKey.values()].sort((a, b) => compareKeys(a[0], b[0]));
}

function readAll(r: BoltReader, name: string): BoltEntry[] {
  return [...r.entries(name)].map(([k, v]) => [k.slice(), v.slice()] as const);
}

Deno.test("bbolt: what the writer wrote reads back in order, inline, single-page, multi-level and overflow buckets alike", () => {
  const buckets = [
    { name: "alarm", entries: [] as BoltEntry[] },
    { name: "big", entries: randomEntries(20_000, 7, 60) },
    { name: "huge", entries: randomEntries(30, 9, 20_000) },
    { name: "small", entries: randomEntries(5, 3, 10) },
    { name: "page", entries: randomEntries(40, 5, 60) },
  ].sort((a, b) => compareKeys(enc.encode(a.name), enc.encode(b.name)));
  const db = buildBolt(buckets.map((b) => ({ name: enc.encode(b.name), entries: b.entries })));
  assertEquals(db.length % PAGE_SIZE, 0);
  const r = new BoltReader(db);
  assertEquals(r.size, db.length);
  assertEquals(r.bucketNames().map((n) => dec.decode(n)), buckets.map((b) => b.name));
  for (const b of buckets) assertEquals(readAll(r, b.name), b.entries, b.name);
  assert(!r.hasBucket("missing"));
  assertEquals([...r.entries("missing")], []);
});

Deno.test("bbolt: small buckets are stored inline (header root 0) and large ones get pages", () => {
  const db = buildBolt([
    { name: enc.encode("a"), entries: [[enc.encode("k"), enc.encode("v")]] },
    { name: enc.encode("b"), entries: randomEntries(200, 1, 50) },
  ]);
  // meta, meta, freelist, b's pages, root leaf: the root leaf is last.
  const rootPage = db.length / PAGE_SIZE - 1;
  const v = new DataView(db.buffer);
  const rootOff = rootPage * PAGE_SIZE;
  assertEquals(v.getUint16(rootOff + 8, true), LEAF_PAGE);
  assertEquals(v.getUint16(rootOff + 10, true), 2);
  const aValue = rootOff + PAGE_HEADER_SIZE + v.getUint32(rootOff + PAGE_HEADER_SIZE + 4, true) + 1;
  assertEquals(v.getBigUint64(aValue, true), 0n, "bucket a is inline");
  const e1 = rootOff + PAGE_HEADER_SIZE + ELEMENT_SIZE;
  const bValue = e1 + v.getUint32(e1 + 4, true) + 1;
  assert(v.getBigUint64(bValue, true) >= 3n, "bucket b has its own root page");
});

Deno.test("bbolt: the reader picks the meta page with the higher txid and skips one with a bad checksum", () => {
  const db = buildBolt([{ name: enc.encode("x"), entries: [[enc.encode("k"), enc.encode("v")]] }]);
  const v = new DataView(db.buffer);
  // Damage meta page 1's checksum: page 0 is still valid.
  v.setUint8(PAGE_SIZE + PAGE_HEADER_SIZE + 56, v.getUint8(PAGE_SIZE + PAGE_HEADER_SIZE + 56) ^ 1);
  assertEquals(readAll(new BoltReader(db), "x").length, 1);
  // Both damaged: refused.
  v.setUint8(PAGE_HEADER_SIZE + 56, v.getUint8(PAGE_HEADER_SIZE + 56) ^ 1);
  assertThrows(() => new BoltReader(db), BoltFormatError, /checksum mismatch/);
  assertThrows(() => new BoltReader(new Uint8Array(8192)), BoltFormatError, /invalid magic/);
});

Deno.test("bbolt: a truncated file is refused", () => {
  const db = buildBolt([{ name: enc.encode("x"), entries: randomEntries(500, 2, 40) }]);
  assertThrows(
    () => new BoltReader(db.subarray(0, db.length - PAGE_SIZE)),
    BoltFormatError,
    /too small/,
  );
});

Deno.test("bbolt: a nested bucket is refused, not skipped", () => {
  const db = buildBolt([{ name: enc.encode("x"), entries: [[enc.encode("k"), enc.encode("v")]] }]);
  const v = new DataView(db.buffer);
  const rootOff = (db.length / PAGE_SIZE - 1) * PAGE_SIZE;
  const inline = rootOff + PAGE_HEADER_SIZE + v.getUint32(rootOff + PAGE_HEADER_SIZE + 4, true) +
    1 +
    BUCKET_HEADER_SIZE;
  // Flag the inline bucket's only element as a bucket.
  v.setUint32(inline + PAGE_HEADER_SIZE, 1, true);
  const r = new BoltReader(db);
  assertThrows(() => [...r.entries("x")], BoltFormatError, /nested bucket "k"/);
});

Deno.test("bbolt: unordered keys or bucket names are refused", () => {
  assertThrows(
    () =>
      buildBolt([{
        name: enc.encode("x"),
        entries: [[enc.encode("b"), enc.encode("")], [enc.encode("a"), enc.encode("")]],
      }]),
    /not in strictly ascending order/,
  );
  assertThrows(
    () =>
      buildBolt([{ name: enc.encode("y"), entries: [] }, { name: enc.encode("x"), entries: [] }]),
    /bucket names/,
  );
});

Deno.test("bbolt: planning in slices lets other tasks run, and the pages emitted afterwards are the same bytes", async () => {
  const buckets = () => [{ name: enc.encode("key"), entries: randomEntries(30_000, 11, 30) }];
  const a = buildBolt(buckets());
  let turns = 0;
  const timer = setInterval(() => turns++, 0);
  const plan = await planBoltAsync(buckets(), 1);
  clearInterval(timer);
  assert.ok(turns > 0, "other tasks ran while the database was laid out");
  const pages = [...emitBolt(plan)];
  assertEquals(concatPages(pages, plan.size), a);
  assertEquals(plan.size, a.length);
  // Pages come one node at a time, never as one buffer of the whole file.
  assert.ok(pages.length > 10 && pages.every((p) => p.length < a.length / 4));
});

Deno.test("bbolt: entries that cannot be read a second time are refused, not written short", () => {
  function* once(): Generator<BoltEntry> {
    for (let i = 0; i < 2000; i++) {
      yield [enc.encode(`k${String(i).padStart(5, "0")}`), enc.encode("v")];
    }
  }
  assertThrows(
    () => buildBolt([{ name: enc.encode("x"), entries: once() }]),
    /changed between planning and writing/,
  );
});

Deno.test("bbolt: a damaged file fails with a format error in bounded time, never loops or reads out of bounds", () => {
  const db = buildBolt([
    { name: enc.encode("a"), entries: randomEntries(3, 4, 10) },
    { name: enc.encode("key"), entries: randomEntries(3000, 21, 80) },
  ]);
  const r = rng(99);
  let failures = 0;
  for (let round = 0; round < 150; round++) {
    const bad = db.slice();
    // Damage one to three bytes past the meta pages (their checksum catches the rest).
    for (let n = 1 + Math.floor(r() * 3); n > 0; n--) {
      bad[2 * PAGE_SIZE + Math.floor(r() * (bad.length - 2 * PAGE_SIZE))] ^= 1 +
        Math.floor(r() * 255);
    }
    try {
      const reader = new BoltReader(bad);
      for (const b of reader.buckets()) for (const _ of b.entries) { /* walk it all */ }
    } catch (err) {
      assert.ok(
        err instanceof BoltFormatError ||
          (err instanceof Error && /ascending|changed/.test(err.message)),
        String(err),
      );
      failures++;
    }
  }
  assert.ok(failures > 0, "some damage was noticed");
  // A branch pointing back at itself: refused, not walked forever.
  const v = new DataView(db.buffer);
  for (let p = 3; p < db.length / PAGE_SIZE; p++) {
    if (v.getUint16(p * PAGE_SIZE + 8, true) === 0x01) {
      v.setBigUint64(p * PAGE_SIZE + PAGE_HEADER_SIZE + 8, BigInt(p), true);
      break;
    }
  }
  assertThrows(() => [...new BoltReader(db).entries("key")], BoltFormatError, /referenced twice/);
});
