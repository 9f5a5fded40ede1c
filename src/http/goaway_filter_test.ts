import assert from "node:assert/strict";
import { GoawayStripper } from "./goaway_filter.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, payload: number[], streamId = 0): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f[0] = (payload.length >> 16) & 0xff;
  f[1] = (payload.length >> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  new DataView(f.buffer).setUint32(5, streamId);
  f.set(payload, 9);
  return f;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Feeds `input` in chunks cut at `cuts` and returns what passes and how many GOAWAYs were seen. */
function run(input: Uint8Array, cuts: number[]): { out: Uint8Array; goaways: number } {
  const s = new GoawayStripper();
  let goaways = 0;
  s.onGoaway = () => goaways++;
  const parts: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    parts.push(s.filter(input.subarray(prev, c)).slice());
    prev = c;
  }
  return { out: concat(parts), goaways };
}

const settings = frame(0x4, [0, 3, 0, 0, 0, 100]);
const headers = frame(0x1, [1, 2, 3, 4, 5], 1);
const data = frame(0x0, [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9], 1);
const goaway = frame(0x7, [0, 0, 0, 1, 0, 0, 0, 0]);
const ping = frame(0x6, [1, 2, 3, 4, 5, 6, 7, 8]);

Deno.test("GOAWAY frames are removed and everything else passes unchanged, however the stream is cut", () => {
  const input = concat([PREFACE, settings, headers, data, goaway, ping]);
  const expected = concat([PREFACE, settings, headers, data, ping]);
  // Every single cut position, and every pair of cut positions.
  for (let a = 0; a <= input.length; a++) {
    assert.deepEqual(run(input, [a]).out, expected, `cut at ${a}`);
    for (let b = a; b <= input.length; b += 3) {
      const r = run(input, [a, b]);
      assert.deepEqual(r.out, expected, `cuts at ${a}, ${b}`);
      assert.equal(r.goaways, 1);
    }
  }
});

Deno.test("a stream without GOAWAY is passed through as the same bytes", () => {
  const input = concat([PREFACE, settings, headers, data, ping]);
  const r = run(input, [7, 30, 31, 50]);
  assert.deepEqual(r.out, input);
  assert.equal(r.goaways, 0);
});

Deno.test("a HEADERS frame with a URL :authority is rewritten; other frames untouched, at any cut", () => {
  // Literal with incremental indexing, static name index 1 (:authority), raw value.
  const value = "http://127.0.0.1:2379";
  const block = [0x41, value.length, ...new TextEncoder().encode(value)];
  const fixed = [0x41, value.length, ...new TextEncoder().encode("http---127.0.0.1:2379")];
  const headersFrame = (payload: number[]) => {
    const f = frame(0x1, payload, 1);
    f[4] = 0x4; // END_HEADERS
    return f;
  };
  const input = concat([PREFACE, settings, headersFrame([0x83, ...block]), data, ping]);
  const expected = concat([PREFACE, settings, headersFrame([0x83, ...fixed]), data, ping]);
  for (let a = 0; a <= input.length; a++) {
    for (let b = a; b <= input.length; b += 5) {
      assert.deepEqual(run(input, [a, b]).out, expected, `cuts at ${a}, ${b}`);
    }
  }
  const plain = concat([PREFACE, settings, headersFrame([0x83, 0x86]), data]);
  assert.deepEqual(run(plain, [30, 40]).out, plain);
});
