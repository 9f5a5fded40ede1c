import assert from "node:assert/strict";
import { ancestors, type KeyReader, listChildren } from "./tree.ts";

/** A sorted in-memory key set read the way Range with a limit reads it. */
function reader(keys: string[]): KeyReader & { calls: number; read: number } {
  const sorted = [...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const fn = ((from: string, end: string, limit: number) => {
    fn.calls++;
    const inRange = sorted.filter((k) => k >= from && (end === "\0" || k < end));
    fn.read += Math.min(limit, inRange.length);
    return Promise.resolve({ keys: inRange.slice(0, limit), more: inRange.length > limit });
  }) as KeyReader & { calls: number; read: number };
  fn.calls = 0;
  fn.read = 0;
  return fn;
}

Deno.test("tree: children of a prefix are its keys and its sub-directories", async () => {
  const read = reader(["a", "app/", "app/x", "app/y/z", "b/1", "b/2", "c"]);
  const page = await listChildren(read, "");
  assert.deepEqual(page.entries.map((e) => `${e.kind}:${e.name}`), [
    "key:a",
    "key:app/",
    "dir:app/",
    "dir:b/",
    "key:c",
  ]);
  assert.equal(page.next, undefined);
  const sub = await listChildren(read, "app/");
  assert.deepEqual(sub.entries.map((e) => `${e.kind}:${e.name}`), ["key:", "key:x", "dir:y/"]);
  assert.equal(sub.entries[2].path, "app/y/");
});

Deno.test("tree: a directory of many keys costs one read, not one per key", async () => {
  const keys: string[] = [];
  for (let d = 0; d < 5; d++) for (let i = 0; i < 10_000; i++) keys.push(`big/${d}/${i}`);
  const read = reader(keys);
  const page = await listChildren(read, "big/", { batch: 10 });
  assert.deepEqual(page.entries.map((e) => e.name), ["0/", "1/", "2/", "3/", "4/"]);
  assert.ok(read.read <= 50, `read ${read.read} keys`);
});

Deno.test("tree: pages continue from the cursor without gaps or repeats", async () => {
  const keys = Array.from({ length: 250 }, (_, i) => `p/${String(i).padStart(3, "0")}`);
  const read = reader(keys);
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await listChildren(read, "p/", { pageSize: 100, batch: 64, cursor });
    seen.push(...page.entries.map((e) => e.path));
    cursor = page.next;
    pages++;
  } while (cursor !== undefined && pages < 10);
  assert.deepEqual(seen, keys);
  assert.equal(pages, 3);
});

Deno.test("tree: keys with 0xff bytes and a prefix ending in 0xff", async () => {
  const read = reader(["\xff/a", "\xff/b", "\xff\xff"]);
  const page = await listChildren(read, "");
  assert.deepEqual(page.entries.map((e) => e.name), ["\xff/", "\xff\xff"]);
  const sub = await listChildren(read, "\xff\xff");
  assert.deepEqual(sub.entries.map((e) => e.name), [""]);
});

Deno.test("tree: ancestors are the breadcrumbs of a prefix", () => {
  assert.deepEqual(ancestors("a/b/c"), ["", "a/", "a/b/"]);
  assert.deepEqual(ancestors("a/b/"), ["", "a/"]);
  assert.deepEqual(ancestors(""), [""]);
});
