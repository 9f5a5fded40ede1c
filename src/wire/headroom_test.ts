import assert from "node:assert/strict";
import { allocWithRoom, claimRoom, hasRoom, HEADROOM, TAILROOM } from "./headroom.ts";

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
