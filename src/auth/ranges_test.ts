import assert from "node:assert/strict";
import { intervalOf, RangeSet } from "./ranges.ts";

Deno.test("ranges: a single-key permission covers that key and nothing after it", () => {
  const set = RangeSet.of([intervalOf("foo", "")]);
  assert.ok(set.hasKey("foo"));
  assert.ok(!set.hasKey("foo\0"));
  assert.ok(!set.hasKey("fo"));
  assert.ok(set.covers("foo", "foo\0"));
  assert.ok(!set.covers("foo", null), "an open-ended range is not a single key");
  assert.ok(!set.covers("foo", "fop"));
});

Deno.test("ranges: prefix and open-ended permissions", () => {
  const set = RangeSet.of([intervalOf("a/", "a0"), intervalOf("m", "\0")]);
  assert.ok(set.covers("a/", "a0"));
  assert.ok(set.covers("a/x", "a/y"));
  assert.ok(!set.covers("a", "a0"));
  assert.ok(set.covers("m", null));
  assert.ok(set.covers("zzz", null));
  assert.ok(!set.covers("l", null));
  assert.ok(set.hasKey("\xff\xff"));
});

Deno.test("ranges: touching and overlapping permissions merge, gaps do not", () => {
  const set = RangeSet.of([
    intervalOf("b", "d"),
    intervalOf("a", "b"),
    intervalOf("c", "f"),
    intervalOf("h", "i"),
  ]);
  assert.equal(set.size, 2);
  assert.ok(set.covers("a", "f"));
  assert.ok(!set.covers("a", "g"));
  assert.ok(!set.covers("e", "i"));
  assert.ok(set.covers("h", "i"));
});

Deno.test("ranges: empty and inverted request ranges are refused", () => {
  const set = RangeSet.of([intervalOf("a", "\0")]);
  assert.ok(!set.covers("c", "c"));
  assert.ok(!set.covers("d", "c"));
  assert.ok(!RangeSet.EMPTY.hasKey("a"));
});
