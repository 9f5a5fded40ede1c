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

Deno.test("waiters: expire follows deadlines, not the order of adding, and forgets settled ids", () => {
  const w = new Waiters<string>();
  const got: string[] = [];
  const sink = (name: string) => ({
    resolve: (r: string) => got.push(`${name} ok ${r}`),
    reject: (e: Error) => got.push(`${name} err ${e.message}`),
  });
  w.addSink(1, 300, sink("late"));
  w.addSink(2, 100, sink("early")); // added after, due before
  w.addSink(3, 200, sink("mid"));
  w.addSink(4, 150, sink("taken"));
  w.take(4)?.resolve("r4");
  assert.equal(w.expire(150, () => new Error("timeout")), 1);
  assert.deepEqual(got, ["taken ok r4", "early err timeout"]);
  assert.equal(w.expire(250, () => new Error("timeout")), 1);
  assert.equal(w.size, 1);
  assert.equal(w.expire(300, () => new Error("timeout")), 1);
  assert.deepEqual(got.slice(2), ["mid err timeout", "late err timeout"]);
  assert.equal(w.size, 0);
});

Deno.test("waiters: thousands settled among the pending still expire exactly the overdue ones", () => {
  const w = new Waiters<number>();
  const expired: number[] = [];
  let now = 0;
  for (let i = 0; i < 5000; i++) {
    const id = i;
    w.addSink(id, i, {
      resolve: () => {},
      reject: () => {
        assert.ok(id <= now, `${id} expired at ${now}, before its deadline`);
        expired.push(id);
      },
    });
    // Nine in ten settle at once; one in ten is left to time out.
    if (i % 10 !== 0) w.take(i);
    // Sweeps far apart: the ring grows past its first size and wraps.
    if (i % 1500 === 1499) w.expire(now = i - 1200, () => new Error("timeout"));
  }
  assert.equal(w.size, 500 - expired.length, "the rest still pending");
  w.expire(now = Infinity, () => new Error("timeout"));
  assert.equal(w.size, 0);
  assert.deepEqual(expired, Array.from({ length: 500 }, (_, k) => k * 10), "in deadline order");
});
