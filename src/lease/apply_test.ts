import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  LeaseCheckpointRequestSchema,
  LeaseCheckpointSchema,
  LeaseGrantRequestSchema,
  LeaseRevokeRequestSchema,
  PutRequestSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Event } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { MvccStore } from "../mvcc/store.ts";
import { applyLeaseCheckpoint, applyLeaseGrant, applyLeaseRevoke } from "./apply.ts";
import { Lessor } from "./lessor.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("apply: grant answers id and effective TTL; revoke deletes keys in one revision", () => {
  const lessor = new Lessor({ minTtl: 2 });
  const store = new MvccStore(lessor.hooks);
  const revisions: [number, string[]][] = [];
  store.onEvents = (rev: number, events: Event[]) =>
    revisions.push([rev, events.map((e) => dec.decode(e.kv!.key))]);
  const g = applyLeaseGrant(lessor, create(LeaseGrantRequestSchema, { ID: 42n, TTL: 1n }));
  assert.equal(g.ID, 42n);
  assert.equal(g.TTL, 2n);
  for (const k of ["z", "a", "m"]) {
    store.put(create(PutRequestSchema, { key: enc.encode(k), value: enc.encode("v"), lease: 42n }));
  }
  revisions.length = 0;
  const rev = store.currentRevision;
  applyLeaseRevoke(lessor, store, create(LeaseRevokeRequestSchema, { ID: 42n }));
  assert.deepEqual(revisions, [[rev + 1, ["a", "m", "z"]]]);
  assert.equal(lessor.lookup(42n), undefined);

  // A lease without keys goes away without a revision.
  applyLeaseGrant(lessor, create(LeaseGrantRequestSchema, { ID: 43n, TTL: 10n }));
  applyLeaseRevoke(lessor, store, create(LeaseRevokeRequestSchema, { ID: 43n }));
  assert.equal(store.currentRevision, rev + 1);
});

Deno.test("apply: checkpoint sets remaining TTLs of known leases", () => {
  const lessor = new Lessor({ minTtl: 2 });
  applyLeaseGrant(lessor, create(LeaseGrantRequestSchema, { ID: 1n, TTL: 100n }));
  applyLeaseCheckpoint(
    lessor,
    create(LeaseCheckpointRequestSchema, {
      checkpoints: [
        create(LeaseCheckpointSchema, { ID: 1n, remainingTTL: 33n }),
        create(LeaseCheckpointSchema, { ID: 2n, remainingTTL: 5n }),
      ],
    }),
  );
  assert.equal(lessor.lookup(1n)!.remainingTtl, 33);
  assert.equal(lessor.lookup(2n), undefined);
});
