import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { PutRequestSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import { REAL_CLOCK } from "../clock.ts";
import { ServerMetrics } from "../metrics/etcd.ts";
import { ProposalDropped } from "../raft/errors.ts";
import { Proposals } from "./proposals.ts";

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
