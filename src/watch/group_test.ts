import assert from "node:assert/strict";
import { WatcherGroup } from "./group.ts";
import { type HubResponse, Watcher, type WatchSink } from "./watcher.ts";

const te = new TextEncoder();
const sink: WatchSink = { full: false, offer: (_r: HubResponse) => true };
let ids = 0n;
const watcher = (key: string, end = "") =>
  new Watcher(++ids, { key: te.encode(key), rangeEnd: te.encode(end) }, 0, 1, sink);

function matching(g: WatcherGroup, k: string): bigint[] {
  const out: bigint[] = [];
  g.forEachMatching(k, (w) => out.push(w.id));
  return out.sort((a, b) => (a < b ? -1 : 1));
}

Deno.test("WatcherGroup: watchers of one key, alone and shared, found by key and removed", () => {
  const g = new WatcherGroup();
  const a = watcher("k");
  const b = watcher("k");
  const c = watcher("other");
  g.add(a);
  g.add(c);
  assert.deepEqual(matching(g, "k"), [a.id]);
  g.add(b);
  assert.equal(g.size, 3);
  assert.deepEqual(matching(g, "k"), [a.id, b.id]);
  assert.deepEqual([...g].map((w) => w.id).sort(), [a.id, b.id, c.id].sort());
  assert.equal(g.delete(a), true);
  assert.equal(g.delete(a), false);
  assert.deepEqual(matching(g, "k"), [b.id]);
  assert.equal(g.delete(b), true);
  assert.deepEqual(matching(g, "k"), []);
  assert.equal(g.delete(b), false);
  assert.equal(g.size, 1);
  assert.deepEqual(matching(g, "other"), [c.id]);
});

Deno.test("WatcherGroup: adding a watcher twice counts it once", () => {
  const g = new WatcherGroup();
  const a = watcher("k");
  const b = watcher("k");
  g.add(a);
  g.add(a);
  assert.equal(g.size, 1);
  g.add(b);
  g.add(b);
  assert.equal(g.size, 2);
  assert.deepEqual(matching(g, "k"), [a.id, b.id]);
});

Deno.test("WatcherGroup: ranges and from-key spans match by containment", () => {
  const g = new WatcherGroup();
  const r = watcher("a", "c");
  const from = watcher("b", "\0");
  const single = watcher("b");
  for (const w of [r, from, single]) g.add(w);
  assert.deepEqual(matching(g, "a"), [r.id]);
  assert.deepEqual(matching(g, "b"), [r.id, from.id, single.id]);
  assert.deepEqual(matching(g, "c"), [from.id]);
  assert.deepEqual(matching(g, "0"), []);
});

Deno.test("Watcher: the byte forms of its span are rebuilt as etcd sent them", () => {
  const single = watcher("k");
  assert.deepEqual(single.key, te.encode("k"));
  assert.deepEqual(single.rangeEnd, new Uint8Array(0));
  const from = watcher("k", "\0");
  assert.deepEqual(from.rangeEnd, new Uint8Array([0]));
  const range = new Watcher(
    1n,
    { key: new Uint8Array([0xff, 1]), rangeEnd: new Uint8Array([0xff, 9]) },
    0,
    1,
    sink,
  );
  assert.deepEqual(range.key, new Uint8Array([0xff, 1]));
  assert.deepEqual(range.rangeEnd, new Uint8Array([0xff, 9]));
});

Deno.test("WatcherGroup: many ranges, added and removed in any order, match as a scan would", () => {
  const g = new WatcherGroup();
  const keys = ["", "a", "ab", "b", "ba", "c", "d", "zz", "\xff"];
  let seed = 7;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  const live: Watcher[] = [];
  for (let step = 0; step < 400; step++) {
    if (live.length > 0 && rnd(3) === 0) {
      const w = live.splice(rnd(live.length), 1)[0];
      assert.equal(g.delete(w), true);
    } else {
      const a = keys[1 + rnd(keys.length - 1)];
      const kind = rnd(3);
      const w = kind === 0
        ? watcher(a)
        : kind === 1
        ? watcher(a, "\0")
        : watcher(a, a + String.fromCharCode(1 + rnd(200)));
      g.add(w);
      live.push(w);
    }
    for (const k of [...keys, "aa", "bz", "c\x01", "zzz"]) {
      const expected = live.filter((w) => w.contains(k)).map((w) => w.id).sort((
        x,
        y,
      ) => (x < y ? -1 : 1));
      assert.deepEqual(matching(g, k), expected, `key ${JSON.stringify(k)} at step ${step}`);
    }
  }
});
