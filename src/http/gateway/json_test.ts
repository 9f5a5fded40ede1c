import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  LeaseGrantRequestSchema,
  RangeRequest_SortOrder,
  RangeRequestSchema,
  RangeResponseSchema,
  ResponseHeaderSchema,
  StatusResponseSchema,
  TxnRequestSchema,
  WatchResponseSchema,
} from "../../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Event_EventType, EventSchema, KeyValueSchema } from "../../gen/etcd/api/mvccpb/kv_pb.ts";
import { decodeGatewayJson, encodeGatewayJson, goJsonString, parseJsonExact } from "./json.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const header = create(ResponseHeaderSchema, {
  clusterId: 14841639068965178418n,
  memberId: 10276657743932975437n,
  revision: 2n,
  raftTerm: 2n,
});

Deno.test("gateway json: etcd's range answer, byte for byte", () => {
  const resp = create(RangeResponseSchema, {
    header,
    kvs: [create(KeyValueSchema, {
      key: enc("foo"),
      createRevision: 2n,
      modRevision: 2n,
      version: 1n,
      value: enc("bar"),
    })],
    count: 1n,
  });
  assert.equal(
    encodeGatewayJson(RangeResponseSchema, resp),
    '{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",' +
      '"revision":"2","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2",' +
      '"mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}',
  );
});

Deno.test("gateway json: zero values left out, enums by name, set empty messages kept", () => {
  const resp = create(WatchResponseSchema, {
    header: create(ResponseHeaderSchema),
    watchId: 0n,
    created: false,
    events: [create(EventSchema, {
      type: Event_EventType.DELETE,
      kv: create(KeyValueSchema, { key: new Uint8Array([0xfb, 0xff]), modRevision: 5n }),
    })],
  });
  assert.equal(
    encodeGatewayJson(WatchResponseSchema, resp),
    '{"header":{},"events":[{"type":"DELETE","kv":{"key":"+/8=","mod_revision":"5"}}]}',
  );
  // Proto names such as TTL, ID, dbSize are kept as written in the .proto.
  assert.equal(
    encodeGatewayJson(StatusResponseSchema, create(StatusResponseSchema, { dbSize: 7n })),
    '{"dbSize":"7"}',
  );
});

Deno.test("gateway json: Go's HTML-safe escapes", () => {
  assert.equal(
    goJsonString({ e: "a<b>&c\u2028\u2029" }),
    '{"e":"a\\u003cb\\u003e\\u0026c\\u2028\\u2029"}',
  );
  assert.equal(goJsonString({ e: "plain" }), '{"e":"plain"}');
});

Deno.test("gateway json: integers past 2^53 sent as numbers stay exact", () => {
  assert.deepEqual(parseJsonExact('{"ID":7587862541563062528,"TTL":60}'), {
    ID: "7587862541563062528",
    TTL: 60,
  });
  const req = decodeGatewayJson(LeaseGrantRequestSchema, '{"ID":7587862541563062528,"TTL":"60"}');
  assert.equal(req.ID, 7587862541563062528n);
  assert.equal(req.TTL, 60n);
  // Decimals and short numbers are plain numbers.
  assert.deepEqual(parseJsonExact("[1.5, 12]"), [1.5, 12]);
});

Deno.test("gateway json: proto and lowerCamelCase names, enum names or numbers, unknown fields", () => {
  const a = decodeGatewayJson(
    RangeRequestSchema,
    '{"key":"Zm9v","range_end":"AA==","sort_order":"DESCEND","zzz":{"x":1}}',
  );
  const b = decodeGatewayJson(RangeRequestSchema, '{"key":"Zm9v","rangeEnd":"AA","sortOrder":2}');
  for (const r of [a, b]) {
    assert.deepEqual(r.key, enc("foo"));
    assert.deepEqual(r.rangeEnd, new Uint8Array([0]));
    assert.equal(r.sortOrder, RangeRequest_SortOrder.DESCEND);
  }
  const txn = decodeGatewayJson(
    TxnRequestSchema,
    '{"success":[{"request_put":{"key":"YQ==","value":"Yg==","lease":"5"}}]}',
  );
  assert.equal(txn.success[0].request.case, "requestPut");
  assert.deepEqual(decodeGatewayJson(RangeRequestSchema, "null"), create(RangeRequestSchema));
});

Deno.test("gateway json: text that is not JSON or does not fit fails with InvalidArgument", () => {
  for (const text of ["{bad", '{"key":5}', '{"limit":"x"}', '{"key":"Zm9v"']) {
    assert.throws(
      () => decodeGatewayJson(RangeRequestSchema, text),
      (e) => e instanceof ConnectError && e.code === Code.InvalidArgument,
      text,
    );
  }
});
