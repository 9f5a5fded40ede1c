/**
 * A compaction does not stall the Raft loop (issue 14 part 6): its
 * revision takes effect when the entry is applied, and the obsolete
 * versions go in steps with pauses between them, during which the member
 * commits and applies new writes.
 *
 * Behaviour, not timing: the store's compaction is held at its first
 * pause until a put made at that moment is committed and applied. Were
 * the compaction done in one pass on the Raft loop, as before, there
 * would be no pause to hold, and the test fails. HashKV at a revision
 * after the compaction point must not change when the work finishes
 * (every member gives the same digest however far its compaction has
 * got), and a `physical` compaction is answered only when the work is
 * done, as etcd answers it.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import {
  CompactionRequestSchema,
  PutRequestSchema,
  RangeRequestSchema,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Member as SimMember } from "../src/server/member.ts";
import { calmWorld } from "../src/server/sim/world.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

function put(m: SimMember, key: string, value: string) {
  return m.propose({
    case: "put",
    value: create(PutRequestSchema, { key: enc.encode(key), value: enc.encode(value) }),
  });
}

function read(m: SimMember, key: string, revision = 0): string | undefined {
  const kv = m.sm.store.range(
    create(RangeRequestSchema, { key: enc.encode(key), revision: BigInt(revision) }),
  ).kvs[0];
  return kv === undefined ? undefined : dec.decode(kv.value);
}

/**
 * One member of a calm world holding 30,000 versions of 20,000 keys (the
 * first 10,000 written twice): a compaction at the top drops 10,000 of
 * them, several steps of work.
 */
async function loadedMember() {
  const world = calmWorld(1, {}, { seed: 7, waitMs: 10_000 });
  const { c, until } = world;
  c.start(c.nodes[0]);
  await until(() => c.leader() !== undefined);
  const node = c.leader()!;
  const member = node.member!;
  for (let i = 0; i < 30_000; i += 500) {
    const batch = Array.from(
      { length: 500 },
      (_, j) => put(member, `k${(i + j) % 20_000}`, `v${i + j}`),
    );
    let done = 0;
    for (const p of batch) p.then(() => done++, () => done++);
    await until(() => done === batch.length);
    assert.equal(done, batch.length);
  }
  return { ...world, node, member };
}

Deno.test("a put is committed and applied while a compaction of a large store is held mid-way", async () => {
  const { s, c, until, drive, member } = await loadedMember();
  const store = member.sm.store;
  const top = store.currentRevision;
  const held: {
    during?: number;
    pendingWhenApplied?: boolean;
    hashMidway?: number;
    pauses: number;
  } = { pauses: 0 };
  // The member's pause between compaction steps: virtual time here.
  store.compactionPause = async () => {
    await s.sleep(0);
    if (++held.pauses !== 1) return;
    // Held: the compaction waits here until this put is committed and applied.
    held.hashMidway = store.hashKV(top).hash;
    held.during = (await put(member, "during", "compaction")).revision;
    held.pendingWhenApplied = store.compactionPending;
  };
  const rev = top - 100;
  const r = await drive(member.propose({
    case: "compaction",
    value: create(CompactionRequestSchema, { revision: BigInt(rev), physical: true }),
  }));
  // Applied: the compact revision holds at once, the work is still under way.
  assert.equal(store.compactRevision, rev);
  await until(() => held.during !== undefined);
  assert.ok(held.during !== undefined, "the put made mid-compaction was answered");
  assert.equal(held.pendingWhenApplied, true, "the put was applied while the compaction was held");
  assert.ok(r.physical !== undefined, "apply hands the compaction's completion");
  await drive(r.physical);
  assert.equal(store.compactionPending, false);
  assert.ok(held.during > top);
  assert.ok(held.pauses > 1, `the compaction paused ${held.pauses} times`);
  // Nothing observable changed when the work finished.
  assert.equal(store.hashKV(top).hash, held.hashMidway, "HashKV at a revision above the point");
  assert.equal(read(member, "during"), "compaction");
  assert.equal(read(member, "k0", rev), "v20000");
  assert.equal(read(member, "k19999", rev), "v19999");
  assert.throws(() => read(member, "k0", rev - 1), /compacted/);
  // 20,000 keys at the compaction point, the newer writes above it, the put.
  assert.equal(store.versionCount, 20_000 + (top - rev) + 1);
  const failure = c.failure as Error | undefined;
  assert.equal(failure, undefined, failure?.message);
});

Deno.test("a member restarted in the middle of a compaction's work comes back with the compacted state", async () => {
  const { c, until, drive, node, member } = await loadedMember();
  const store = member.sm.store;
  const top = store.currentRevision;
  const rev = top - 100;
  let pauses = 0;
  // Held for good at the first pause: the process dies with the work half done.
  store.compactionPause = () => (++pauses === 1 ? Promise.resolve() : new Promise(() => {}));
  await drive(member.propose({
    case: "compaction",
    value: create(CompactionRequestSchema, { revision: BigInt(rev) }),
  }));
  assert.equal(store.compactionPending, true, "the work is under way");
  const applied = member.appliedIndex;
  const hash = store.hashKV(top).hash;
  const whole = store.hash();
  c.crash(node, false, false);
  c.start(node);
  await until(() => node.state === "up" && node.member!.appliedIndex >= applied);
  const again = node.member!.sm.store;
  assert.notEqual(again, store);
  assert.equal(again.compactRevision, rev);
  assert.equal(again.hashKV(top).hash, hash, "HashKV as before the crash");
  assert.equal(again.hash(), whole, "the whole-store digest as before the crash");
  // Replayed or restored, the compaction's work is redone to the end, its
  // steps pausing on the member's (virtual) clock.
  await drive(again.compactionIdle());
  assert.equal(again.versionCount, 20_000 + (top - rev));
  assert.equal(again.hash(), whole);
  assert.equal(read(node.member!, "k0", rev), "v20000");
  assert.throws(() => read(node.member!, "k0", rev - 1), /compacted/);
  const failure = c.failure as Error | undefined;
  assert.equal(failure, undefined, failure?.message);
});
