import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  PutRequestSchema,
  type PutResponse,
  PutResponseSchema,
  ResponseHeaderSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import { REAL_CLOCK } from "../clock.ts";
import { ServerMetrics } from "../metrics/etcd.ts";
import { ProposalDropped } from "../raft/errors.ts";
import { HeaderedReply, Proposals, responseHeader } from "./proposals.ts";

/** A Raft that records what it is handed, or drops it with `drop`. */
function world(maxRequestBytes = 1024) {
  const w = {
    proposed: [] as Uint8Array[],
    drop: undefined as Error | undefined,
    handingOver: false,
    kicks: 0,
    failed: new ServerMetrics({ serverVersion: "3.5.0", clusterVersion: "3.5" }).proposalsFailed,
    proposals: undefined as unknown as Proposals,
  };
  w.proposals = new Proposals({
    selfId: 7n,
    raft: {
      propose: (data) => {
        if (w.drop) throw w.drop;
        w.proposed.push(data);
      },
      proposeConfChange: () => {
        if (w.drop) throw w.drop;
      },
    },
    // A fixed wall clock: request ids start at now() * 1000.
    clock: { ...REAL_CLOCK, now: () => 5 },
    cfg: { maxRequestBytes, electionTimeoutMs: 1000 },
    failed: w.failed,
    stopped: () => false,
    handingOver: () => w.handingOver,
    kick: () => w.kicks++,
    halt: (where, err) => {
      throw new Error(`halted in ${where}: ${err}`);
    },
  });
  return w;
}

const FIRST_ID = 5000;

function put(bytes = 3): InternalRequest["request"] {
  return {
    case: "put",
    value: create(PutRequestSchema, { key: new Uint8Array([1]), value: new Uint8Array(bytes) }),
  };
}

Deno.test("proposals: one made while no leader is known waits, is proposed once one is, and its apply settles it", async () => {
  const w = world();
  w.drop = new ProposalDropped("no leader");
  const result = w.proposals.propose(put());
  assert.equal(w.proposed.length, 0);
  assert.ok(w.proposals.waitingForLeader);
  assert.ok(w.proposals.inFlight);

  w.drop = undefined;
  w.proposals.proposeWaiting();
  assert.equal(w.proposed.length, 1, "proposed again once a leader is known");
  assert.ok(!w.proposals.waitingForLeader);

  w.proposals.waiters.take(FIRST_ID)?.resolve({ response: undefined, revision: 9 });
  assert.equal((await result).revision, 9);
  assert.ok(!w.proposals.inFlight);
});

Deno.test("proposals: a drop that cannot wait for a leader fails with etcd's no-leader error and counts", async () => {
  const w = world();
  w.drop = new ProposalDropped("raft proposal dropped");
  await assert.rejects(w.proposals.propose(put()), /etcdserver: no leader/);
  assert.equal(w.failed.value, 1);
  assert.ok(!w.proposals.inFlight);
});

Deno.test("proposals: during a hand-over any dropped proposal waits, and none is proposed until it ends", () => {
  const w = world();
  w.handingOver = true;
  w.drop = new ProposalDropped("raft proposal dropped");
  w.proposals.propose(put()).catch(() => {});
  assert.ok(w.proposals.waitingForLeader);
  w.drop = undefined;
  w.proposals.proposeWaiting();
  assert.equal(w.proposed.length, 0, "held while handing over");
  w.handingOver = false;
  w.proposals.proposeWaiting();
  assert.equal(w.proposed.length, 1);
  w.proposals.failAll(new Error("stopped"));
});

Deno.test("proposals: a request over --max-request-bytes is refused before Raft sees it", async () => {
  const w = world(64);
  await assert.rejects(w.proposals.propose(put(100)), /etcdserver: request is too large/);
  assert.equal(w.proposed.length, 0);
});

Deno.test("proposals: an expired proposal fails with the leader-failure timeout when no leader is known, else the plain one", async () => {
  const w = world();
  w.drop = new ProposalDropped("no leader");
  const first = w.proposals.propose(put());
  w.proposals.expire(Number.MAX_SAFE_INTEGER, false);
  await assert.rejects(first, /request timed out, possibly due to previous leader failure/);

  w.drop = undefined;
  const second = w.proposals.propose(put());
  assert.equal(w.kicks, 1, "an accepted proposal schedules a Ready round");
  w.proposals.expire(Number.MAX_SAFE_INTEGER, true);
  await assert.rejects(second, (err: Error) => /etcdserver: request timed out$/.test(err.message));
  assert.equal(w.failed.value, 2);
});

/** A sink that records what it is told. */
function recorder() {
  const told: string[] = [];
  return {
    told,
    sink: {
      resolve: (r: { revision: number }) => told.push(`ok ${r.revision}`),
      reject: (e: Error) => told.push(`err ${e.message}`),
    },
  };
}

Deno.test("proposals: proposeTo tells its sink the apply result once, and refusals at once with no promise", () => {
  const w = world(64);
  const ok = recorder();
  w.proposals.proposeTo(put(), undefined, ok.sink);
  assert.equal(w.proposed.length, 1);
  assert.deepEqual(ok.told, [], "nothing told before the apply");
  w.proposals.waiters.take(FIRST_ID)?.resolve({ response: undefined, revision: 4 });
  assert.deepEqual(ok.told, ["ok 4"]);
  assert.equal(w.proposals.waiters.take(FIRST_ID), undefined, "settled once");

  const big = recorder();
  w.proposals.proposeTo(put(100), undefined, big.sink);
  assert.deepEqual(
    big.told,
    ["err [invalid_argument] etcdserver: request is too large"],
    "told inside the call",
  );

  w.drop = new ProposalDropped("raft proposal dropped");
  const dropped = recorder();
  w.proposals.proposeTo(put(), undefined, dropped.sink);
  assert.deepEqual(dropped.told, ["err [unavailable] etcdserver: no leader"]);

  w.drop = new ProposalDropped("no leader");
  const waiting = recorder();
  w.proposals.proposeTo(put(), undefined, waiting.sink);
  assert.ok(w.proposals.waitingForLeader);
  w.proposals.expire(Number.MAX_SAFE_INTEGER, false);
  assert.deepEqual(waiting.told, [
    "err [unavailable] etcdserver: request timed out, possibly due to previous leader failure",
  ]);
});

Deno.test("proposals: the response header literal is the object create() builds", () => {
  const literal = responseHeader(1n << 63n, 42n, 7, 3);
  const made = create(ResponseHeaderSchema, {
    clusterId: 1n << 63n,
    memberId: 42n,
    revision: 7n,
    raftTerm: 3n,
  });
  assert.deepEqual(literal, made);
  assert.deepEqual(Object.keys(literal), Object.keys(made), "same keys in the same order");
  assert.equal(Object.getPrototypeOf(literal), Object.getPrototypeOf(made));
});

Deno.test("proposals: HeaderedReply fills the header for the applied revision, or passes the error on", () => {
  const replies: PutResponse[] = [];
  const fails: unknown[] = [];
  const out = { reply: (r: PutResponse) => replies.push(r), fail: (e: unknown) => fails.push(e) };
  const headers = { header: (rev: number) => responseHeader(1n, 2n, rev, 5) };
  new HeaderedReply<PutResponse>(headers, out).resolve({
    response: create(PutResponseSchema, {}),
    revision: 11,
  });
  assert.equal(replies.length, 1);
  assert.equal(replies[0].header?.revision, 11n);
  assert.equal(replies[0].header?.raftTerm, 5n);
  const err = new Error("etcdserver: no leader");
  new HeaderedReply<PutResponse>(headers, out).reject(err);
  assert.deepEqual(fails, [err]);
});
