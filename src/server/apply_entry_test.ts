import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { LeaseRevokeRequestSchema, PutRequestSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { AuthStore } from "../auth/store.ts";
import { encodeInternalRequest } from "../fast_codec.ts";
import { Lessor } from "../lease/lessor.ts";
import { MvccStore } from "../mvcc/store.ts";
import { InvariantViolation } from "../raft/errors.ts";
import type { ApplyResult, StateMachine } from "./apply.ts";
import { applyRequestEntry } from "./apply_entry.ts";
import { Membership } from "./membership.ts";
import { Waiters } from "./waiters.ts";

const SELF = 7n;
const enc = new TextEncoder();

function machine(): StateMachine {
  const lessor = new Lessor({ minTtl: 1 });
  return {
    store: new MvccStore(lessor.hooks),
    membership: Membership.fromRecords([]),
    alarms: [],
    lessor,
    auth: new AuthStore({ tokenTtlSeconds: 300 }),
  };
}

/** A waiter for request `id` that records how it was settled. */
function wait(waiters: Waiters<ApplyResult>, id: number) {
  const seen: { result?: ApplyResult; error?: Error } = {};
  waiters.add(id, Infinity, (r) => (seen.result = r), (e) => (seen.error = e));
  return seen;
}

const put = (key: string) => ({
  case: "put" as const,
  value: create(PutRequestSchema, { key: enc.encode(key), value: enc.encode("v") }),
});

Deno.test("apply entry: our own request settles its waiter with the result; another member's does not", () => {
  const sm = machine();
  const waiters = new Waiters<ApplyResult>();
  const mine = wait(waiters, 1);
  const theirs = wait(waiters, 2);
  applyRequestEntry(sm, encodeInternalRequest(1n, SELF, put("a")), 5, SELF, waiters);
  assert.equal(mine.result?.revision, 2);
  // Request id 2 of another member is not ours, even with the same number.
  applyRequestEntry(sm, encodeInternalRequest(2n, 99n, put("b")), 6, SELF, waiters);
  assert.equal(theirs.result, undefined);
  assert.ok(waiters.has(2));
  assert.equal(sm.store.currentRevision, 3, "applied either way");
});

Deno.test("apply entry: an etcd error is the request's answer and changes nothing", () => {
  const sm = machine();
  const waiters = new Waiters<ApplyResult>();
  const seen = wait(waiters, 3);
  const revoke = {
    case: "leaseRevoke" as const,
    value: create(LeaseRevokeRequestSchema, { ID: 42n }),
  };
  applyRequestEntry(sm, encodeInternalRequest(3n, SELF, revoke), 5, SELF, waiters);
  assert.match(seen.error?.message ?? "", /requested lease not found/);
  assert.equal(sm.store.currentRevision, 1);
});

Deno.test("apply entry: an undecodable or unknown entry is a broken invariant, not an answer", () => {
  const sm = machine();
  const waiters = new Waiters<ApplyResult>();
  const seen = wait(waiters, 4);
  assert.throws(
    () => applyRequestEntry(sm, new Uint8Array([0xff, 0xff, 0xff]), 8, SELF, waiters),
    (err: Error) =>
      err instanceof InvariantViolation && /entry 8 does not decode/.test(err.message),
  );
  const nothing = encodeInternalRequest(4n, SELF, { case: undefined, value: undefined });
  assert.throws(
    () => applyRequestEntry(sm, nothing, 9, SELF, waiters),
    (err: Error) => err instanceof InvariantViolation && /kind undefined/.test(err.message),
  );
  // The proposer hears nothing: the member stops before acknowledging more.
  assert.equal(seen.result, undefined);
  assert.equal(seen.error, undefined);
});
