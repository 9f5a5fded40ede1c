import assert from "node:assert/strict";
import { LeaseIdGenerator } from "./ids.ts";

Deno.test("lease ids: positive int63, distinct, member bits on top, time below", () => {
  const gen = new LeaseIdGenerator(0xabcd_1234_5678_9abcn, 1_700_000_000_000);
  const ids = Array.from({ length: 1000 }, () => gen.next());
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) {
    assert.ok(id > 0n && id < 1n << 63n);
    assert.equal(id >> 48n, 0x1abcn & 0x7fffn); // low 16 member bits, top bit masked off
  }
  assert.equal(ids[0] & 0xffn, 1n);
  assert.equal((ids[0] >> 8n) & ((1n << 40n) - 1n), 1_700_000_000_000n & ((1n << 40n) - 1n));
  // Another member started at the same instant picks different ids.
  const other = new LeaseIdGenerator(0x0001n, 1_700_000_000_000);
  assert.notEqual(other.next(), new LeaseIdGenerator(0x0002n, 1_700_000_000_000).next());
});

Deno.test("lease ids: never 0 even when every bit wraps", () => {
  const gen = new LeaseIdGenerator(0n, 2 ** 40 - 1);
  for (let i = 0; i < 600; i++) assert.notEqual(gen.next(), 0n);
});
