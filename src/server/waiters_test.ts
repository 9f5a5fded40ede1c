import assert from "node:assert/strict";
import { Waiters } from "./waiters.ts";

Deno.test("waiters: take settles one waiter once; expire rejects only overdue ones; failAll the rest", () => {
  const w = new Waiters<string>();
  const got: string[] = [];
  const settle = (name: string) =>
    [
      (r: string) => got.push(`${name} ok ${r}`),
      (e: Error) => got.push(`${name} err ${e.message}`),
    ] as const;
  w.add(1, 100, ...settle("a"));
  w.add(2, 200, ...settle("b"));
  w.add(3, 300, ...settle("c"));
  w.take(1)?.resolve("r1");
  assert.equal(w.take(1), undefined, "taken once");
  w.expire(250, () => new Error("timeout"));
  w.failAll(new Error("stopped"));
  assert.deepEqual(got, ["a ok r1", "b err timeout", "c err stopped"]);
  assert.equal(w.take(3), undefined);
});
