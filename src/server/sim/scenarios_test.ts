/**
 * Hand-made scenarios on the simulation's machinery: exact interleavings
 * the random runs found once, kept as regressions that do not depend on
 * how the random runs draw their numbers.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { MemberRecordSchema } from "../../gen/cairn/internal_pb.ts";
import { PutRequestSchema } from "../../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { ConfChangeType, MessageType } from "../../raft/types.ts";
import { type ClusterSettings, peerUrl } from "./cluster.ts";
import { calmWorld } from "./world.ts";

/** Scenarios run with seed 1, waiting up to 5 virtual seconds. */
const world = (size: number, settings: Partial<ClusterSettings> = {}) => calmWorld(size, settings);

const enc = new TextEncoder();

Deno.test("scenario: a lone member gaining a peer at its snapshot entry keeps running", async () => {
  // Found by the member sim (seed 1697): the conf change that ends a
  // member's solitude made an in-memory snapshot at its index, and when
  // that index was also due for a regular snapshot, Raft refused the
  // second one (ErrSnapOutOfDate) and the member stopped with exit 1.
  const snapshotCount = 20;
  const { c, drive, until } = world(1, { snapshotCount });
  const node = c.nodes[0];
  c.start(node);
  await until(() => c.leader() !== undefined);
  const m = node.member!;
  while (m.appliedIndex < snapshotCount - 1) {
    await drive(m.propose({
      case: "put",
      value: create(PutRequestSchema, { key: enc.encode("k"), value: enc.encode("v") }),
    }));
  }
  assert.equal(m.appliedIndex, snapshotCount - 1);
  const url = peerUrl(9);
  const record = create(MemberRecordSchema, { id: 99n, peerUrls: [url] });
  await drive(m.proposeMemberChange(ConfChangeType.AddNode, 99n, record));
  assert.equal(m.appliedIndex, snapshotCount, "the conf change is the snapshot's entry");
  await until(() => c.failure !== undefined, 200);
  assert.equal(c.failure, undefined, c.failure?.message);
  assert.equal(node.state, "up");
  assert.ok(node.logs.some((l) => l.includes(`"saved snapshot","index":${snapshotCount}`)));
});

Deno.test("scenario: a ReadIndex answer meant for a member's previous process does not release its reads", async () => {
  // A follower asks the leader for a read index, crashes and restarts at
  // once; its new process numbers its read rounds from the start again.
  // The leader's late answer to the old round must not serve the new one:
  // its index predates a write acknowledged before the new read began.
  const { s, net, c, drive, until } = world(3);
  for (const n of c.nodes) c.start(n);
  await until(() => c.leader() !== undefined && c.up().length === 3);
  const leader = c.leader()!;
  const f = c.up().find((n) => n !== leader)!;
  const put = (value: string) =>
    drive(leader.member!.propose({
      case: "put",
      value: create(PutRequestSchema, { key: enc.encode("k"), value: enc.encode(value) }),
    }));
  await put("v1");
  await until(() => f.member!.appliedIndex >= leader.member!.appliedIndex);
  // The leader's answers to f are late; the old round's answer is in flight.
  const fromLeaderToF = (m: { from: bigint; to: bigint }) =>
    m.from === leader.member!.id && m.to === f.id;
  net.steer = (m) => fromLeaderToF(m) && m.type === MessageType.ReadIndexResp ? 300 : undefined;
  f.member!.readBarrier().catch(() => {});
  await s.runUntil(s.now + 20, () => {});
  c.crash(f, false, false);
  c.start(f);
  await until(() => f.state === "up");
  // f does not get the next write; its new round's answer is later still.
  net.steer = (m) => {
    if (!fromLeaderToF(m)) return undefined;
    if (m.type === MessageType.App) return "drop";
    return m.type === MessageType.ReadIndexResp ? 1000 : undefined;
  };
  await put("v2");
  let settled = false;
  const read = f.member!.readBarrier().then(() => {
    settled = true;
    return new TextDecoder().decode(f.member!.sm.store.get(enc.encode("k"))?.value);
  });
  read.catch(() => {});
  await s.runUntil(s.now + 600, () => {}, () => settled);
  if (settled) assert.equal(await read, "v2", "a stale read: v2 was acknowledged before it");
  assert.ok(!settled, "released by the old process's answer");
  // Healed: the read is served by its own round, after f applies v2.
  net.steer = undefined;
  assert.equal(await drive(read), "v2");
});

Deno.test("scenario: a leader cut off from its quorum cannot confirm its leadership (lease renewals need it)", async () => {
  // Found by the member sim (seed 4696): a removed leader, cut off, kept
  // renewing leases while the new leader let them expire. Renewals now
  // confirm leadership first, as etcd's ensureLeadership does.
  const { net, c, drive, until } = world(3);
  for (const n of c.nodes) c.start(n);
  await until(() => c.leader() !== undefined && c.up().length === 3);
  const leader = c.leader()!;
  assert.equal(await drive(leader.member!.confirmLeadership()), true);
  const follower = c.nodes.find((n) => n !== leader)!;
  assert.equal(await drive(follower.member!.confirmLeadership()), false, "a follower never leads");
  const others = c.nodes.filter((n) => n !== leader).map((n) => n.id!);
  net.partition([[leader.id!], others]);
  assert.equal(leader.member!.leader, leader.id, "it still believes it leads");
  assert.equal(await drive(leader.member!.confirmLeadership(), 20_000), false);
});
