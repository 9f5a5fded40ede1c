import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type PutRequest,
  PutRequestSchema,
  PutResponseSchema,
  ResponseHeaderSchema,
} from "./gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { KeyValueSchema } from "./gen/etcd/api/mvccpb/kv_pb.ts";
import { InternalRequestSchema } from "./gen/cairn/internal_pb.ts";
import {
  decodeInternalRequest,
  decodePutRequest,
  encodeInternalRequest,
  encodePutResponse,
  encodePutResponseEnvelope,
  PUT_ENVELOPE_ROOM,
  responseHeaderBody,
  writePutResponseEnvelope,
} from "./fast_codec.ts";
import { ProtoWriter } from "./wire/proto_writer.ts";

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

const header = create(ResponseHeaderSchema, {
  clusterId: 0xfedcba9876543210n,
  memberId: 1n,
  revision: 2n ** 53n + 5n,
  raftTerm: 0n,
});

Deno.test("fast codec: InternalRequest{put} is byte-identical to toBinary", () => {
  const puts = [
    create(PutRequestSchema, {}),
    create(PutRequestSchema, { key: bytes(1), value: bytes(256) }),
    create(PutRequestSchema, { key: bytes(200), value: bytes(20000), lease: 0x694d77aa9e38260fn }),
    create(PutRequestSchema, { key: bytes(3), lease: -1n, prevKv: true, ignoreValue: true }),
    create(PutRequestSchema, { key: bytes(3), ignoreLease: true }),
    create(PutRequestSchema, { key: bytes(100), value: bytes(27) }), // body of exactly 130 bytes
    create(PutRequestSchema, { key: bytes(10), value: bytes(65536), lease: 9n }),
  ];
  for (const [i, put] of puts.entries()) {
    for (const id of [0n, 1n, 2n ** 40n]) {
      const msg = create(InternalRequestSchema, {
        id,
        origin: 0x8e9e05c52164694dn,
        request: { case: "put", value: put },
      });
      assert.deepEqual(
        encodeInternalRequest(msg.id, msg.origin, msg.request),
        toBinary(InternalRequestSchema, msg),
        `put ${i}, id ${id}`,
      );
    }
    // With the caller's credentials (every client request carries them).
    for (
      const auth of [
        {},
        { username: "alice", revision: 7n },
        { revision: 2n ** 60n },
        { username: "é".repeat(100), revision: 1n }, // a body past 127 bytes
      ]
    ) {
      const msg = create(InternalRequestSchema, {
        id: 5n,
        origin: 3n,
        request: { case: "put", value: put },
        auth,
      });
      const enc = encodeInternalRequest(msg.id, msg.origin, msg.request, msg.auth);
      assert.equal(enc.buffer.byteLength, enc.length, "sized exactly: the entry is its buffer");
      assert.deepEqual(
        enc,
        toBinary(InternalRequestSchema, msg),
        `put ${i}, auth ${JSON.stringify(auth, (_k, v) => typeof v === "bigint" ? `${v}` : v)}`,
      );
    }
  }
  const del = create(InternalRequestSchema, {
    id: 3n,
    request: { case: "deleteRange", value: { key: bytes(2) } },
  });
  assert.deepEqual(
    encodeInternalRequest(del.id, del.origin, del.request),
    toBinary(InternalRequestSchema, del),
  );
});

Deno.test("fast codec: PutResponse and ResponseHeader match toBinary, prev_kv included", () => {
  for (
    const resp of [
      create(PutResponseSchema, {}),
      create(PutResponseSchema, { header }),
      create(PutResponseSchema, { header: create(ResponseHeaderSchema, {}) }),
      create(PutResponseSchema, {
        header,
        prevKv: create(KeyValueSchema, { key: bytes(2), value: bytes(9), modRevision: 4n }),
      }),
    ]
  ) {
    assert.deepEqual(encodePutResponse(resp), toBinary(PutResponseSchema, resp));
  }
  assert.deepEqual(responseHeaderBody(header), toBinary(ResponseHeaderSchema, header));
  assert.equal(responseHeaderBody(header), responseHeaderBody(header), "cached per object");
});

Deno.test("ProtoWriter: a sub-message longer than 127 bytes moves its body for a wider length", () => {
  for (const n of [0, 1, 126, 127, 128, 16383, 16384, 70000]) {
    const w = new ProtoWriter(4);
    w.varint(8);
    w.varint(1);
    w.message(2, (b) => b.bytes(bytes(n, 3)));
    w.boolField(3, true);
    const out = w.finish();
    // tag(1) 1, tag(2), varint(n), n bytes, tag(3) 1
    const lenBytes = n < 128 ? 1 : n < 16384 ? 2 : 3;
    assert.equal(out.length, 2 + 1 + lenBytes + n + 2, `n=${n}`);
    assert.equal(out[out.length - 2], 3 << 3);
    assert.equal(out[3 + lenBytes], n > 0 ? 3 : 3 << 3);
  }
});

Deno.test("fast codec: decodeInternalRequest reads what fromBinary reads, puts by hand", () => {
  const cases = [
    create(InternalRequestSchema, {
      id: 7n,
      origin: 0x8e9e05c52164694dn,
      request: { case: "put", value: { key: bytes(3), value: bytes(256) } },
    }),
    create(InternalRequestSchema, {
      id: 2n ** 53n - 1n,
      request: { case: "put", value: { key: bytes(1) } },
    }),
    create(InternalRequestSchema, {
      id: 2n ** 64n - 1n,
      origin: 5n,
      request: { case: "put", value: { key: bytes(1) } },
    }),
    create(InternalRequestSchema, {
      id: 2n ** 53n + 1n,
      request: { case: "put", value: { key: bytes(1) } },
    }),
    create(InternalRequestSchema, {
      id: 2n ** 40n,
      origin: 0xfedcba9876543210n,
      request: {
        case: "put",
        value: { key: bytes(200), value: bytes(20000), lease: 0x694d77aa9e38260fn, prevKv: true },
      },
    }),
    create(InternalRequestSchema, {
      request: { case: "put", value: { key: bytes(1), lease: -1n, ignoreValue: true } },
    }),
    create(InternalRequestSchema, {
      id: 1n,
      request: { case: "put", value: { key: bytes(1), ignoreLease: true } },
    }),
    create(InternalRequestSchema, {
      id: 3n,
      request: { case: "deleteRange", value: { key: bytes(2) } },
    }),
    create(InternalRequestSchema, { id: 4n, origin: 9n }),
    create(InternalRequestSchema, {
      id: 8n,
      request: { case: "put", value: { key: bytes(2), value: bytes(2) } },
      auth: { username: "ümlaut", revision: 3n },
    }),
    create(InternalRequestSchema, {
      id: 9n,
      request: { case: "put", value: { key: bytes(2) } },
      auth: {},
    }),
  ];
  for (const [i, msg] of cases.entries()) {
    const data = toBinary(InternalRequestSchema, msg);
    const mine = decodeInternalRequest(data);
    const theirs = fromBinary(InternalRequestSchema, data);
    // Same fields and the same bytes when written again.
    assert.deepEqual({ ...mine }, { ...theirs }, `case ${i}`);
    assert.deepEqual(toBinary(InternalRequestSchema, mine), data, `case ${i} re-encoded`);
  }
  // A put carrying a field this version does not know is left to fromBinary, which keeps it.
  const known = toBinary(InternalRequestSchema, cases[0]);
  const extra = new Uint8Array([...known, 0xf8, 0x01, 0x05]); // field 31, varint 5
  const decoded = decodeInternalRequest(extra);
  assert.deepEqual(toBinary(InternalRequestSchema, decoded), extra);
});

Deno.test("fast codec: a put whose field runs past the put's own length decodes as fromBinary does", () => {
  // InternalRequest{put, id} whose put is 3 bytes long while its key says
  // 3 bytes after a 2-byte field header: the key runs 2 bytes past the
  // put. The hand reader reads the put with the entry's own reader bounded
  // by the put's end; whatever it makes of this, it must be fromBinary's.
  for (
    const bad of [
      new Uint8Array([0x1a, 0x03, 0x0a, 0x03, 0x01, 0x08, 0x01]),
      new Uint8Array([0x1a, 0x03, 0x0a, 0x03, 0x01, 0x08, 0x01, 0x08, 0x05]),
    ]
  ) {
    const theirs = fromBinary(InternalRequestSchema, bad);
    assert.deepEqual({ ...decodeInternalRequest(bad) }, { ...theirs }, `${bad}`);
  }
  // A put request bounded by its envelope is read only up to its end.
  const k = toBinary(
    PutRequestSchema,
    create(PutRequestSchema, { key: bytes(2), value: bytes(3) }),
  );
  const framed = new Uint8Array([...k, 0x12, 0x01, 0x09]);
  assert.equal(decodePutRequest(framed, 0, k.length - 1), undefined, "cut mid-value");
  assert.deepEqual(decodePutRequest(framed, 0, k.length), fromBinary(PutRequestSchema, k));
});

Deno.test("fast codec: decodePutRequest reads what fromBinary reads, or leaves it to fromBinary", () => {
  const cases = [
    create(PutRequestSchema, {}),
    create(PutRequestSchema, { key: bytes(1), value: bytes(256) }),
    create(PutRequestSchema, { key: bytes(200), value: bytes(70000), lease: 0x694d77aa9e38260fn }),
    create(PutRequestSchema, { key: bytes(3), lease: -1n, prevKv: true, ignoreValue: true }),
    create(PutRequestSchema, { key: bytes(3), ignoreLease: true }),
  ];
  for (const [i, put] of cases.entries()) {
    const wire = toBinary(PutRequestSchema, put);
    const got = decodePutRequest(wire);
    assert.ok(got, `put ${i}`);
    assert.deepEqual(got, fromBinary(PutRequestSchema, wire), `put ${i}`);
  }
  // Unknown fields, a repeated field, a wrong wire type, truncation: not ours to decide.
  const k = toBinary(PutRequestSchema, create(PutRequestSchema, { key: bytes(2) }));
  for (
    const wire of [
      new Uint8Array([...k, 0x48, 0x01]),
      new Uint8Array([...k, ...k]),
      new Uint8Array([0x08, 0x01]),
      new Uint8Array([0x0a, 0x09, 0x01]),
      new Uint8Array([0x18]),
    ]
  ) {
    assert.equal(decodePutRequest(wire), undefined, `${wire}`);
  }
});

Deno.test("fast codec: a PutResponse envelope is the gRPC prefix and toBinary's bytes", () => {
  const headers = [
    undefined,
    create(ResponseHeaderSchema, {}),
    header,
    create(ResponseHeaderSchema, { clusterId: 2n ** 63n, revision: 1n, raftTerm: 2n ** 40n }),
  ];
  for (const [i, h] of headers.entries()) {
    const resp = create(PutResponseSchema, { header: h });
    const body = toBinary(PutResponseSchema, resp);
    const want = new Uint8Array(5 + body.length);
    new DataView(want.buffer).setUint32(1, body.length);
    want.set(body, 5);
    assert.deepEqual(encodePutResponseEnvelope(resp), want, `header ${i}`);
    const out = new Uint8Array(PUT_ENVELOPE_ROOM + 3).fill(0xee);
    const n = writePutResponseEnvelope(resp, out);
    assert.deepEqual(out.subarray(0, n), want, `header ${i} written`);
    assert.ok(out.subarray(n).every((b) => b === 0xee), `header ${i}: nothing past it`);
  }
  assert.throws(() => writePutResponseEnvelope(create(PutResponseSchema, {}), new Uint8Array(8)));
  const prev = create(PutResponseSchema, { header, prevKv: create(KeyValueSchema, {}) });
  assert.equal(encodePutResponseEnvelope(prev), undefined);
  assert.equal(writePutResponseEnvelope(prev, new Uint8Array(PUT_ENVELOPE_ROOM)), 0);
});

Deno.test("fast codec: the buffer a put was encoded into decodes once to its own request, equal to fromBinary's", () => {
  const cases = [
    { id: 11n, origin: 0x8e9e05c52164694dn, put: { key: bytes(3), value: bytes(256) } },
    { id: 12n, origin: 5n, put: { key: bytes(1), lease: -1n, ignoreValue: true } },
    {
      id: 13n,
      origin: 5n,
      put: { key: bytes(2), prevKv: true },
      auth: { username: "ümlaut", revision: 3n },
    },
    { id: 14n, origin: 5n, put: { key: bytes(2) }, auth: {} },
  ];
  for (const [i, c] of cases.entries()) {
    const msg = create(InternalRequestSchema, {
      id: c.id,
      origin: c.origin,
      request: { case: "put", value: c.put },
      auth: c.auth,
    });
    const data = encodeInternalRequest(msg.id, msg.origin, msg.request, msg.auth);
    const theirs = fromBinary(InternalRequestSchema, data);
    const mine = decodeInternalRequest(data);
    assert.equal(mine.request, msg.request, `case ${i}: the request it was written from`);
    assert.equal(mine.auth, msg.auth, `case ${i}: its auth header`);
    assert.deepEqual({ ...mine, request: { ...mine.request } }, {
      ...theirs,
      request: { ...theirs.request },
    }, `case ${i}`);
    // Once only: decoded again, or a copy of the bytes, it is read from the bytes.
    const again = decodeInternalRequest(data);
    assert.notEqual(again.request, msg.request, `case ${i} again`);
    assert.deepEqual({ ...again }, { ...theirs }, `case ${i} again`);
  }
  const msg = create(InternalRequestSchema, {
    id: 20n,
    origin: 5n,
    request: { case: "put", value: { key: bytes(1) } },
  });
  const copied = encodeInternalRequest(msg.id, msg.origin, msg.request);
  assert.notEqual(decodeInternalRequest(copied.slice()).request, msg.request, "a copy");
  // A later proposal whose id takes the same slot: the earlier entry is read from its bytes.
  const first = encodeInternalRequest(msg.id, msg.origin, msg.request);
  const other = { case: "put" as const, value: msg.request.value as PutRequest };
  const later = encodeInternalRequest(msg.id + 1024n, msg.origin, other);
  const back = decodeInternalRequest(first);
  assert.notEqual(back.request, msg.request, "slot taken by a later id");
  assert.deepEqual({ ...back }, { ...fromBinary(InternalRequestSchema, first) });
  assert.equal(decodeInternalRequest(later).request, other, "the later one is remembered");
});

Deno.test("fast codec: a txn's entry decodes once to its own request, equal to fromBinary's; other requests never", () => {
  const txn = create(InternalRequestSchema, {
    id: 31n,
    origin: 5n,
    request: {
      case: "txn",
      value: {
        compare: [{ key: bytes(2), target: 2, targetUnion: { case: "modRevision", value: 9n } }],
        success: [{ request: { case: "requestPut", value: { key: bytes(2), value: bytes(40) } } }],
        failure: [{ request: { case: "requestRange", value: { key: bytes(2) } } }],
      },
    },
    auth: { username: "root", revision: 4n },
  });
  const data = encodeInternalRequest(txn.id, txn.origin, txn.request, txn.auth);
  assert.deepEqual(data, toBinary(InternalRequestSchema, txn), "toBinary's bytes");
  const mine = decodeInternalRequest(data);
  assert.equal(mine.request, txn.request, "the request it was written from");
  assert.equal(mine.auth, txn.auth);
  const theirs = fromBinary(InternalRequestSchema, data);
  assert.deepEqual({ ...mine, request: { ...mine.request } }, {
    ...theirs,
    request: { ...theirs.request },
  });
  const again = decodeInternalRequest(data);
  assert.notEqual(again.request, txn.request, "once only");
  assert.deepEqual(again, theirs);
  // Requests other than puts and txns are read from their bytes, as before.
  const grant = create(InternalRequestSchema, {
    id: 32n,
    origin: 5n,
    request: { case: "leaseGrant", value: { TTL: 5n, ID: 7n } },
  });
  const g = encodeInternalRequest(grant.id, grant.origin, grant.request);
  assert.notEqual(decodeInternalRequest(g).request, grant.request, "not remembered");
});
