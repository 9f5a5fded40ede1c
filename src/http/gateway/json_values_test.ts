import assert from "node:assert/strict";
import { JsonValueSplitter, ValueTooLargeError } from "./json_values.ts";

const enc = (s: string) => new TextEncoder().encode(s);

/** Feeds `text` in chunks of `size` bytes and returns every value, the end included. */
function split(text: string, size: number, limit = 1 << 20): string[] {
  const s = new JsonValueSplitter(limit);
  const bytes = enc(text);
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...s.push(bytes.subarray(i, i + size)));
  const last = s.end();
  if (last !== undefined) out.push(last);
  return out;
}

Deno.test("json values: concatenated objects, whatever the chunking", () => {
  const text = ' {"a":1}\n{"b":{"c":[1,{"d":2}]}}  {"e":"x"}';
  const want = ['{"a":1}', '{"b":{"c":[1,{"d":2}]}}', '{"e":"x"}'];
  for (const size of [1, 2, 3, 7, 100]) {
    assert.deepEqual(split(text, size), want, `chunks of ${size}`);
  }
});

Deno.test("json values: braces, quotes and escapes inside strings do not count", () => {
  const text = '{"k":"}{\\"]["}{"k":"\\\\"}';
  assert.deepEqual(split(text, 1), ['{"k":"}{\\"]["}', '{"k":"\\\\"}']);
});

Deno.test("json values: top-level strings, literals and numbers", () => {
  assert.deepEqual(split('null 12 "s" true[1]', 2), ["null", "12", '"s"', "true", "[1]"]);
});

Deno.test("json values: multi-byte UTF-8 split across chunks stays whole", () => {
  assert.deepEqual(split('{"k":"é€😀"}', 1), ['{"k":"é€😀"}']);
});

Deno.test("json values: a truncated value is handed over at the end, to fail parsing", () => {
  assert.deepEqual(split('{"a":1} {"b":', 4), ['{"a":1}', '{"b":']);
  assert.deepEqual(split("   \n", 1), []);
});

Deno.test("json values: a value over the bound is refused before it is whole", () => {
  const s = new JsonValueSplitter(10);
  assert.deepEqual(s.push(enc('{"a":1}')), ['{"a":1}']);
  assert.throws(() => s.push(enc('{"aaaaaaaaaaaaaaaa')), ValueTooLargeError);
  const t = new JsonValueSplitter(10);
  t.push(enc('{"a":'));
  assert.throws(
    () => t.push(enc('"xxxxxxxxx"}')),
    (e) => e instanceof ValueTooLargeError && e.limit === 10,
  );
});
