/**
 * The fuzzers' own machinery: cases are reproducible from (seed, index)
 * alone, mutations are deterministic, and the RPC guard keeps fuzzed
 * requests off the acknowledged writes while leaving harmless ones as
 * they are.
 */
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  DeleteRangeRequestSchema,
  PutRequestSchema,
  TxnRequestSchema,
} from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { mutate } from "./mutate.ts";
import { Rng } from "./rng.ts";
import { guardBinary, randomMessage, RPC_METHODS, touchesAcked } from "./rpc_catalog.ts";

const enc = new TextEncoder();
const method = (name: string) => RPC_METHODS.find((m) => m.name === name)!;
const ctx = { selfId: 42n };

Deno.test("fuzz rng: a case's generator depends only on (seed, index)", () => {
  const a = Rng.forCase(7, 1234).bytes(64);
  Rng.forCase(7, 1); // drawing other cases in between changes nothing
  assert.deepEqual(Rng.forCase(7, 1234).bytes(64), a);
  assert.notDeepEqual(Rng.forCase(7, 1235).bytes(64), a);
  assert.notDeepEqual(Rng.forCase(8, 1234).bytes(64), a);
  assert.notDeepEqual(Rng.forCase(7, 1234, 1).bytes(64), a);
});

Deno.test("fuzz rng: below() covers its whole range roughly evenly", () => {
  const rng = Rng.forCase(1, 0);
  const hits = new Array(10).fill(0);
  for (let i = 0; i < 10_000; i++) hits[rng.below(10)]++;
  for (const h of hits) assert.ok(h > 800 && h < 1200, `uneven: ${hits}`);
});

Deno.test("fuzz mutate: same generator, same mutant; the input is not modified", () => {
  const input = toBinary(
    PutRequestSchema,
    create(PutRequestSchema, { key: enc.encode("k"), value: enc.encode("v") }),
  );
  const copy = input.slice();
  const m1 = mutate(Rng.forCase(3, 9), input);
  assert.deepEqual(mutate(Rng.forCase(3, 9), input), m1);
  assert.deepEqual(input, copy);
});

Deno.test("fuzz guard: etcd range semantics decide what touches the acknowledged writes", () => {
  const b = (s: string) => enc.encode(s);
  assert.equal(touchesAcked(b("zz-fuzz-acked/x"), b("")), true);
  assert.equal(touchesAcked(b("zz-fuzz-acked0"), b("")), false);
  assert.equal(touchesAcked(b("\0"), b("\0")), true); // every key
  assert.equal(touchesAcked(b("a"), b("b")), false);
  assert.equal(touchesAcked(b("a"), b("zz-fuzz-acked/")), false); // end is exclusive
  assert.equal(touchesAcked(b("a"), b("zz-fuzz-acked/0")), true);
  assert.equal(touchesAcked(b("zz-fuzz-acked1"), b("\0")), false);
});

Deno.test("fuzz guard: harmful requests are disarmed, harmless and undecodable ones untouched", () => {
  const delAll = toBinary(
    DeleteRangeRequestSchema,
    create(DeleteRangeRequestSchema, { key: enc.encode("\0"), rangeEnd: enc.encode("\0") }),
  );
  const guarded = fromBinary(
    DeleteRangeRequestSchema,
    guardBinary(method("KV.DeleteRange"), delAll, ctx),
  );
  assert.equal(touchesAcked(guarded.key, guarded.rangeEnd), false);

  const txn = toBinary(
    TxnRequestSchema,
    create(TxnRequestSchema, {
      failure: [{
        request: {
          case: "requestPut",
          value: { key: enc.encode("zz-fuzz-acked/a"), value: enc.encode("x") },
        },
      }],
    }),
  );
  const t = fromBinary(TxnRequestSchema, guardBinary(method("KV.Txn"), txn, ctx));
  const op = t.failure[0].request;
  assert.ok(op.case === "requestPut" && !touchesAcked(op.value.key, new Uint8Array()));

  const alarm = toBinary(
    AlarmRequestSchema,
    create(AlarmRequestSchema, { action: AlarmRequest_AlarmAction.ACTIVATE }),
  );
  const a = fromBinary(AlarmRequestSchema, guardBinary(method("Maintenance.Alarm"), alarm, ctx));
  assert.equal(a.action, AlarmRequest_AlarmAction.GET);

  const harmless = toBinary(
    PutRequestSchema,
    create(PutRequestSchema, { key: enc.encode("fz/1"), value: enc.encode("v") }),
  );
  assert.equal(guardBinary(method("KV.Put"), harmless, ctx), harmless);
  const junk = Uint8Array.of(0xff, 0xff);
  assert.equal(guardBinary(method("KV.DeleteRange"), junk, ctx), junk);
});

Deno.test("fuzz catalog: every service method is listed and gets valid random requests", () => {
  assert.ok(RPC_METHODS.length >= 40, `only ${RPC_METHODS.length} methods`);
  for (const name of ["KV.Txn", "Watch.Watch", "Lease.LeaseKeepAlive", "Maintenance.Snapshot"]) {
    assert.ok(RPC_METHODS.some((m) => m.name === name), name);
  }
  const rng = Rng.forCase(5, 5);
  for (const m of RPC_METHODS) {
    for (let i = 0; i < 20; i++) {
      const bytes = toBinary(m.input, randomMessage(rng, m.input));
      fromBinary(m.input, bytes); // round-trips: the generator makes valid messages
    }
  }
});
