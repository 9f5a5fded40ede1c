import assert from "node:assert/strict";
import { compareBytes, fromBinary, toBinary } from "./keys.ts";

/** What toBinary must give: one char code per byte, built the slow, obvious way. */
function reference(bytes: Uint8Array): string {
  let s = "";
  for (const x of bytes) s += String.fromCharCode(x);
  return s;
}

/** Deterministic bytes covering 0..255 (a different start per length). */
function bytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed * 31 + i * 97 + (i >> 3)) & 0xff;
  return out;
}

Deno.test("toBinary: every length through each path (arguments, scratch, chunks) gives one char per byte", () => {
  // 0-12 pass bytes as arguments, 13-256 go through the scratch array,
  // longer ones through chunks of 8192.
  const lengths = [...Array(300).keys(), 8191, 8192, 8193, 20000];
  for (const n of lengths) {
    const bytes = bytesOf(n, n);
    const got = toBinary(bytes);
    assert.equal(got, reference(bytes), `length ${n}`);
    assert.equal(got.length, n);
    assert.deepEqual(fromBinary(got), bytes, `round trip, length ${n}`);
  }
});

Deno.test("toBinary: views into a larger buffer, every byte value, and a shorter key after a longer one", () => {
  const all = new Uint8Array(256).map((_, i) => i);
  assert.equal(toBinary(all), reference(all));
  const big = bytesOf(1000, 7);
  for (const [start, n] of [[3, 10], [500, 12], [17, 200], [0, 13], [999, 1], [40, 0]]) {
    const view = big.subarray(start, start + n);
    assert.equal(toBinary(view), reference(view), `view ${start}+${n}`);
  }
  // The scratch array is reused: a shorter key must not carry the longer one's tail.
  assert.equal(toBinary(bytesOf(200, 1)), reference(bytesOf(200, 1)));
  assert.equal(toBinary(bytesOf(20, 2)), reference(bytesOf(20, 2)));
  assert.equal(toBinary(bytesOf(100, 3)), reference(bytesOf(100, 3)));
});

Deno.test("toBinary strings compare in byte order, as compareBytes does", () => {
  const keys = [
    [0xff],
    [0x80, 0x00],
    [0x7f],
    [],
    [0x00],
    [0x61, 0x62, 0x63],
    [0x61, 0x62],
    ...[...Array(20).keys()].map((i) => [...bytesOf(13 + i, i)]),
  ].map((k) => new Uint8Array(k));
  for (const a of keys) {
    for (const c of keys) {
      const sa = toBinary(a);
      const sc = toBinary(c);
      assert.equal(sa < sc ? -1 : sa > sc ? 1 : 0, compareBytes(a, c));
    }
  }
});
