import assert from "node:assert/strict";
import { newTokenPrefix, simpleTokenIndex, SimpleTokens } from "./simple_tokens.ts";

Deno.test("simple tokens: prefix is 16 letters, index parses", () => {
  const p = newTokenPrefix();
  assert.match(p, /^[a-zA-Z]{16}$/);
  assert.notEqual(p, newTokenPrefix());
  assert.equal(simpleTokenIndex(`${p}.42`), 42);
  assert.equal(simpleTokenIndex(p), undefined);
  assert.equal(simpleTokenIndex(`${p}.4.2`), undefined);
  assert.equal(simpleTokenIndex(`${p}.x`), undefined);
});

Deno.test("simple tokens: TTL renewed on use, expired tokens dropped", () => {
  let now = 0;
  const t = new SimpleTokens({ ttlSeconds: 10, now: () => now });
  t.assign("a.1", "alice", 1);
  assert.equal(t.lookup("a.1"), undefined, "not kept while auth is disabled");
  t.enable();
  t.assign("a.1", "alice", 1);
  now = 9_000;
  assert.equal(t.lookup("a.1"), "alice");
  now = 18_000; // 9 s after the last use
  assert.equal(t.lookup("a.1"), "alice");
  now = 28_001;
  assert.equal(t.lookup("a.1"), undefined);
});

Deno.test("simple tokens: user invalidation, disable and replayed entries", () => {
  const t = new SimpleTokens({ ttlSeconds: 0 });
  t.enable();
  t.forgetThrough(5);
  t.assign("a.5", "alice", 5);
  assert.equal(t.lookup("a.5"), undefined, "an entry applied before the restart issues nothing");
  t.assign("a.6", "alice", 6);
  t.assign("b.7", "bob", 7);
  t.invalidateUser("alice");
  assert.equal(t.lookup("a.6"), undefined);
  assert.equal(t.lookup("b.7"), "bob");
  t.disable();
  assert.equal(t.lookup("b.7"), undefined);
});
