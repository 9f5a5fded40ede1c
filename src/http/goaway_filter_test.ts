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
