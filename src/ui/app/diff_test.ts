import assert from "node:assert/strict";
import { diffLines, MAX_CELLS } from "./diff.ts";

const show = (before: string, after: string) =>
  diffLines(before, after).map((l) => l.op + l.text).join("|");

Deno.test("diff: kept, removed and added lines", () => {
  assert.equal(show("a\nb\nc", "a\nb\nc"), " a| b| c");
  assert.equal(show("a\nb\nc", "a\nx\nc"), " a|-b|+x| c");
  assert.equal(show("a\nc", "a\nb\nc"), " a|+b| c");
  assert.equal(show("x\na\ny\nb", "a\nb\nz"), "-x| a|-y| b|+z");
});

Deno.test("diff: applying the diff to the old text gives the new one", () => {
  const before = Array.from({ length: 300 }, (_, i) => `line ${(i * 7) % 50}`).join("\n");
  const after = Array.from({ length: 280 }, (_, i) => `line ${(i * 11) % 60}`).join("\n");
  const d = diffLines(before, after);
  assert.equal(d.filter((l) => l.op !== "+").map((l) => l.text).join("\n"), before);
  assert.equal(d.filter((l) => l.op !== "-").map((l) => l.text).join("\n"), after);
});

Deno.test("diff: huge inputs stay bounded and still correct", () => {
  const side = Math.ceil(Math.sqrt(MAX_CELLS)) + 10;
  const before = Array.from({ length: side }, (_, i) => `a${i}`).join("\n");
  const after = Array.from({ length: side }, (_, i) => `b${i}`).join("\n");
  const d = diffLines(before, after);
  assert.equal(d.length, 2 * side);
  assert.equal(d.filter((l) => l.op !== "+").map((l) => l.text).join("\n"), before);
});
