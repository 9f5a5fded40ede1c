import assert from "node:assert/strict";
import { crc32c, crc32cAppend, crc32cRange } from "./crc32c.ts";

/** Bit-at-a-time CRC-32C straight from the definition: the reference the fast one must match. */
function reference(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

Deno.test("crc32c: known answers (RFC 3720's check value and iSCSI test vectors)", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

Deno.test("crc32c: matches the bitwise definition on every length up to 300 and large buffers", () => {
  for (let n = 0; n <= 300; n++) {
    const b = randomBytes(n, n + 1);
    assert.equal(crc32c(b), reference(b), `length ${n}`);
  }
  const big = randomBytes(1 << 20, 7);
  assert.equal(crc32c(big), reference(big));
  // Unsigned, even when the top bit is set.
  assert.ok(crc32c(new TextEncoder().encode("123456789")) > 0x7fffffff);
});

Deno.test("crc32cAppend: checksums taken piece by piece equal the whole's", () => {
  const whole = randomBytes(5000, 42);
  for (const cuts of [[0], [1], [4999], [13, 700, 701, 4000], [2500, 2500]]) {
    let sum = 0;
    let from = 0;
    for (const cut of [...cuts, whole.length]) {
      sum = crc32cAppend(sum, whole.subarray(from, cut));
      from = cut;
    }
    assert.equal(sum, crc32c(whole), `cuts ${cuts}`);
  }
  assert.equal(crc32cAppend(0, new Uint8Array(0)), 0);
});

Deno.test("crc32cRange: a range inside a larger buffer equals the checksum of its copy", () => {
  const whole = randomBytes(4096, 9);
  for (const [start, end] of [[0, 0], [0, 4096], [1, 17], [3, 4000], [100, 116], [4095, 4096]]) {
    const part = whole.slice(start, end);
    assert.equal(crc32cRange(whole, start, end), reference(part), `${start}..${end}`);
    assert.equal(crc32cRange(whole, start, end, 0x12345678), crc32cAppend(0x12345678, part));
  }
});
