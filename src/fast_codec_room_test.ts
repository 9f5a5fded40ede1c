import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { type PutRequest, PutRequestSchema } from "./gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { InternalRequestSchema } from "./gen/cairn/internal_pb.ts";
import { decodeInternalRequest, decodePutRequest, encodeInternalRequest } from "./fast_codec.ts";
import { allocWithRoom, hasRoom } from "./wire/headroom.ts";

/** A gRPC request body (5-byte prefix + `payload`) received as the unary call receives a large one. */
function received(payload: Uint8Array, room = true): Uint8Array {
  const body = room ? allocWithRoom(5 + payload.length) : new Uint8Array(5 + payload.length);
  body[4] = payload.length & 0xff; // the prefix is not read here
  body.set(payload, 5);
  return body;
}

const put = create(PutRequestSchema, {
  key: new Uint8Array(12).fill(1),
  value: new Uint8Array(65536).fill(2),
  lease: 0x694d77aa9e38260fn,
  prevKv: true,
});

function decoded(body: Uint8Array): PutRequest {
  const req = decodePutRequest(body, 5, body.length);
  assert.ok(req !== undefined);
  return req;
}

Deno.test("fast codec: a large put's entry is written around the received bytes, byte-identical to toBinary", () => {
  for (const auth of [undefined, { username: "alice", revision: 7n }, { revision: 0n }]) {
    const body = received(toBinary(PutRequestSchema, put));
    const req = decoded(body);
    const msg = create(InternalRequestSchema, {
      id: 2n ** 40n + 3n,
      origin: 0x8e9e05c52164694dn,
      request: { case: "put", value: req },
      auth,
    });
    const enc = encodeInternalRequest(msg.id, msg.origin, msg.request, msg.auth);
    assert.equal(enc.buffer, body.buffer, "in place: the body's memory, not a copy");
    assert.deepEqual(enc, toBinary(InternalRequestSchema, msg));
    assert.equal(hasRoom(body), false, "the room is used up");
    const back = decodeInternalRequest(enc);
    assert.equal(back.request.case, "put");
    assert.deepEqual(back.request.value, req);
    // Proposed again (the same object), it is copied: the room is gone.
    const again = encodeInternalRequest(msg.id, msg.origin, msg.request, msg.auth);
    assert.notEqual(again.buffer, body.buffer);
    assert.deepEqual(again, enc);
  }
});

Deno.test("fast codec: a put not received with room, or not in canonical form, is copied", () => {
  const origin = 9n;
  // No room: an ordinary buffer.
  const plain = received(toBinary(PutRequestSchema, put), false);
  const a = encodeInternalRequest(1n, origin, { case: "put", value: decoded(plain) });
  assert.notEqual(a.buffer, plain.buffer);
  // A default written out (prev_kv = false): longer than canonical, so the
  // entry is re-encoded, and matches toBinary.
  const canonical = toBinary(PutRequestSchema, { ...put, prevKv: false });
  const padded = new Uint8Array(canonical.length + 2);
  padded.set(canonical);
  padded.set([0x20, 0x00], canonical.length);
  const body = received(padded);
  const req = decoded(body);
  assert.equal(req.prevKv, false);
  const b = encodeInternalRequest(1n, origin, { case: "put", value: req });
  assert.notEqual(b.buffer, body.buffer);
  assert.deepEqual(
    b,
    toBinary(
      InternalRequestSchema,
      create(InternalRequestSchema, { id: 1n, origin, request: { case: "put", value: req } }),
    ),
  );
  // Too long a user name for the room after it: copied, same bytes.
  const c = received(toBinary(PutRequestSchema, put));
  const auth = {
    $typeName: "cairn.v1.AuthHeader" as const,
    username: "u".repeat(200),
    revision: 1n,
  };
  const enc = encodeInternalRequest(1n, origin, { case: "put", value: decoded(c) }, auth);
  assert.notEqual(enc.buffer, c.buffer);
  assert.deepEqual(
    enc,
    toBinary(
      InternalRequestSchema,
      create(InternalRequestSchema, {
        id: 1n,
        origin,
        request: { case: "put", value: decoded(received(toBinary(PutRequestSchema, put))) },
        auth,
      }),
    ),
  );
});
