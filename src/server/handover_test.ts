import assert from "node:assert/strict";
import { REAL_CLOCK } from "../clock.ts";
import { createLogger } from "../log.ts";
import {
  EntryType,
  type Message,
  MessageType,
  newMessage,
  type PeerStatus,
  StateRole,
  type Status,
} from "../raft/types.ts";
import { LeadershipHandover } from "./handover.ts";

/** A leader (member 1) whose followers have the given progress; `active` are connected. */
function world(opts: {
  role?: StateRole;
  voters: bigint[];
  progress?: [bigint, number, boolean][];
  active?: bigint[];
  electionTimeoutMs?: number;
}) {
  const w = {
    leader: opts.role === StateRole.Follower ? 2n : 1n,
    transfers: [] as bigint[],
    forwarded: [] as Uint8Array[],
    waitingProposed: 0,
    logs: [] as string[],
    /** Runs when Raft is told to transfer (the new leader appears, or not). */
    onTransfer: (_to: bigint) => {},
    handover: undefined as unknown as LeadershipHandover,
  };
  const progress = new Map<bigint, PeerStatus>();
  for (const [id, match, recentActive] of opts.progress ?? []) {
    progress.set(id, {
      match,
      next: match + 1,
      state: "replicate",
      isLearner: false,
      recentActive,
    });
  }
  w.handover = new LeadershipHandover({
    selfId: 1n,
    log: createLogger("info", { writer: (line) => w.logs.push(line) }),
    clock: REAL_CLOCK,
    cfg: { heartbeatIntervalMs: 1, electionTimeoutMs: opts.electionTimeoutMs ?? 1000 },
    raft: {
      transferLeader: (to) => {
        w.transfers.push(to);
        w.onTransfer(to);
      },
      status: () => ({ progress }) as Status,
    },
    proposals: {
      proposeForwarded: (data) => w.forwarded.push(data),
      proposeWaiting: () => w.waitingProposed++,
    },
    role: () => opts.role ?? StateRole.Leader,
    leader: () => w.leader,
    voters: () => opts.voters,
    isPeerActive: (id) => (opts.active ?? opts.voters).includes(id),
    stopped: () => false,
    kick: () => {},
  });
  return w;
}

function prop(data: number): Message {
  return newMessage({
    type: MessageType.Prop,
    from: 3n,
    to: 1n,
    entries: [{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array([data]) }],
  });
}

Deno.test("handover: the target is the connected, recently active voter furthest along the log", async () => {
  const w = world({
    voters: [1n, 2n, 3n, 4n, 5n],
    // 3 is furthest but not connected, 4 not recently active, 5 behind 2.
    progress: [[2n, 7, true], [3n, 9, true], [4n, 8, false], [5n, 6, true]],
    active: [1n, 2n, 4n, 5n],
  });
  w.onTransfer = (to) => (w.leader = to);
  await w.handover.onStop();
  assert.deepEqual(w.transfers, [2n]);
  assert.ok(w.logs.some((l) => l.includes("leadership transfer finished")));
});

Deno.test("handover: proposals forwarded during the hand-over are held, then proposed to the new leader", async () => {
  const w = world({ voters: [1n, 2n, 3n], progress: [[2n, 5, true], [3n, 5, true]] });
  let activeDuring = false;
  w.onTransfer = (to) => {
    activeDuring = w.handover.active;
    w.handover.hold(prop(1));
    w.handover.hold(prop(2));
    assert.equal(w.forwarded.length, 0, "held, not proposed, while the transfer runs");
    setTimeout(() => (w.leader = to), 5);
  };
  await w.handover.onStop();
  assert.ok(activeDuring);
  assert.ok(!w.handover.active);
  assert.deepEqual(w.forwarded.map((d) => d[0]), [1, 2]);
  assert.equal(w.waitingProposed, 1, "our own waiting proposals go too");
});

Deno.test("handover: a follower, or a leader with no other voter, transfers nothing", async () => {
  const follower = world({ role: StateRole.Follower, voters: [1n, 2n, 3n] });
  await follower.handover.onStop();
  assert.deepEqual(follower.transfers, []);
  assert.ok(follower.logs.some((l) => l.includes("local server is not leader")));

  const alone = world({ voters: [1n] });
  await alone.handover.onStop();
  assert.deepEqual(alone.transfers, []);
  assert.ok(alone.logs.some((l) => l.includes("single voting member cluster")));
});

Deno.test("handover: MoveLeader rejects with etcd's timeout when the target never leads", async () => {
  const w = world({ voters: [1n, 2n], electionTimeoutMs: 4 });
  await assert.rejects(w.handover.moveTo(2n), /etcdserver: request timed out/);
  assert.deepEqual(w.transfers, [2n]);
});
