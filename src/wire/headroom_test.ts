import assert from "node:assert/strict";
import {
  allocWithRoom,
  claimRoom,
  hasRoom,
  HEADROOM,
  SLAB_BYTES,
  SLAB_REGION_MIN,
  TAILROOM,
} from "./headroom.ts";

Deno.test("headroom: room around a buffer of its own, claimed once", () => {
  const v = allocWithRoom(100);
  assert.equal(v.length, 100);
  assert.equal(v.byteOffset, HEADROOM);
  assert.equal(v.buffer.byteLength, HEADROOM + 100 + TAILROOM);
  assert.ok(hasRoom(v) && hasRoom(v.subarray(5)));
  v.fill(9);
  const room = claimRoom(v.subarray(5), 20, 30);
  assert.ok(room !== undefined);
  assert.equal(room.buffer, v.buffer, "the same memory, not a copy");
  assert.equal(room.byteOffset, HEADROOM + 5 - 20);
  assert.equal(room.length, 20 + 95 + 30);
  assert.deepEqual(room.subarray(20, 20 + 95), v.subarray(5));
  // Claimed: nothing else may write around it.
  assert.equal(hasRoom(v), false);
  assert.equal(claimRoom(v, 1, 0), undefined);
});

Deno.test("headroom: foreign buffers and too little room are refused, and leave the room", () => {
  const plain = new Uint8Array(200).subarray(50, 100);
  assert.equal(hasRoom(plain), false);
  assert.equal(claimRoom(plain, 10, 10), undefined);
  const v = allocWithRoom(10);
  assert.equal(claimRoom(v, HEADROOM + 1, 0), undefined);
  assert.equal(claimRoom(v, 0, TAILROOM + 1), undefined);
  assert.ok(hasRoom(v), "a refused claim keeps the room");
  assert.ok(claimRoom(v, HEADROOM, TAILROOM) !== undefined);
});

Deno.test("headroom: large requests share a slab, each region claimed on its own", () => {
  const size = SLAB_REGION_MIN;
  const a = allocWithRoom(size);
  const b = allocWithRoom(size);
  // Neighbours in one slab, each with its own room (a slab may have just filled: retry once).
  const [x, y] = a.buffer === b.buffer ? [a, b] : [b, allocWithRoom(size)];
  assert.equal(x.buffer, y.buffer, "carved from one slab");
  assert.equal(x.buffer.byteLength, SLAB_BYTES);
  assert.equal(y.byteOffset, x.byteOffset + size + TAILROOM + HEADROOM);
  assert.ok(hasRoom(x) && hasRoom(y));
  // x's room ends where y's begins: a claim reaching into y is refused.
  assert.equal(claimRoom(x, 0, TAILROOM + 1), undefined);
  assert.equal(claimRoom(y, HEADROOM + 1, 0), undefined);
  const room = claimRoom(x.subarray(5), HEADROOM + 5, TAILROOM);
  assert.ok(room !== undefined);
  assert.equal(room.byteOffset, x.byteOffset - HEADROOM);
  assert.equal(room.length, HEADROOM + size + TAILROOM);
  assert.equal(hasRoom(x), false);
  assert.equal(claimRoom(x, 1, 0), undefined, "claimed once");
  assert.ok(hasRoom(y), "the neighbour keeps its room");
  assert.ok(claimRoom(y, HEADROOM, TAILROOM) !== undefined);
  // Too large to share a slab: a buffer of its own.
  const big = allocWithRoom(SLAB_BYTES / 2);
  assert.equal(big.byteOffset, HEADROOM);
  assert.equal(big.buffer.byteLength, HEADROOM + SLAB_BYTES / 2 + TAILROOM);
  assert.ok(big.every((v) => v === 0), "zeroed");
});
