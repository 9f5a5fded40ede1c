import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { LeaseCheckpointSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import { MvccStore } from "../mvcc/store.ts";
import { EXPIRED_RETRY_MS, Lessor, MAX_LEASE_TTL, minLeaseTtl } from "./lessor.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A lessor on a hand-driven clock. */
function setup(checkpointIntervalMs = 0) {
  const clock = { now: 1_000_000 };
  const lessor = new Lessor({ minTtl: 2, checkpointIntervalMs, now: () => clock.now });
  return { clock, lessor };
}

function cp(id: bigint, remaining: number) {
  return create(LeaseCheckpointSchema, { ID: id, remainingTTL: BigInt(remaining) });
}

function throwsEtcd(fn: () => unknown, factory: () => ConnectError): void {
  assert.throws(fn, (err) => isEtcdError(err, factory));
}

Deno.test("minLeaseTtl: ceil of 1.5 election timeouts counted in ticks", () => {
  assert.equal(minLeaseTtl(1000, 100), 2); // etcd's defaults: 1.5 s -> 2 s
  assert.equal(minLeaseTtl(2000, 100), 3);
  assert.equal(minLeaseTtl(5000, 500), 8); // 10 ticks -> 15 * 0.5 s = 7.5 s -> 8 s
  assert.equal(minLeaseTtl(700, 100), 1); // 7 ticks -> 21 / 2 = 10 (integer) * 0.1 s = 1 s
  assert.equal(minLeaseTtl(1050, 100), 2); // 10 whole ticks
});

Deno.test("grant: TTL below the minimum is raised, large TTL and duplicates refused", () => {
  const { lessor } = setup();
  assert.equal(lessor.grant(1n, 1).ttl, 2);
  assert.equal(lessor.grant(2n, -5).ttl, 2);
  assert.equal(lessor.grant(3n, 60).ttl, 60);
  assert.equal(lessor.grant(4n, MAX_LEASE_TTL).ttl, MAX_LEASE_TTL);
  throwsEtcd(() => lessor.grant(5n, MAX_LEASE_TTL + 1), EtcdErrors.leaseTTLTooLarge);
  throwsEtcd(() => lessor.grant(3n, 10), EtcdErrors.leaseExist);
  throwsEtcd(() => lessor.grant(0n, 10), EtcdErrors.leaseNotFound);
  assert.equal(lessor.size, 4);
  assert.equal(lessor.lookup(3n)?.ttl, 60);
});

Deno.test("revoke returns the attached keys in byte order and forgets the lease", () => {
  const { lessor } = setup();
  lessor.grant(7n, 10);
  for (const k of ["b", "a", "c"]) lessor.hooks.attach(7n, enc.encode(k));
  lessor.hooks.detach(7n, enc.encode("c"));
  assert.deepEqual(lessor.revoke(7n).map((k) => dec.decode(k)), ["a", "b"]);
  assert.equal(lessor.lookup(7n), undefined);
  assert.equal(lessor.hooks.exists(7n), false);
  throwsEtcd(() => lessor.revoke(7n), EtcdErrors.leaseNotFound);
  // Hooks on a missing lease are ignored.
  lessor.hooks.attach(7n, enc.encode("x"));
  lessor.hooks.detach(7n, enc.encode("x"));
});

Deno.test("store integration: put attaches, overwrite moves, delete detaches", () => {
  const { lessor } = setup();
  const store = new MvccStore(lessor.hooks);
  lessor.grant(1n, 10);
  lessor.grant(2n, 10);
  const put = (key: string, lease: bigint, ignoreLease = false) =>
    store.put({
      $typeName: "etcdserverpb.PutRequest",
      key: enc.encode(key),
      value: enc.encode("v"),
      lease,
      prevKv: false,
      ignoreValue: false,
      ignoreLease,
    });
  put("k1", 1n);
  put("k2", 1n);
  put("k2", 2n);
  put("k1", 0n, true); // --ignore-lease keeps lease 1
  assert.deepEqual(lessor.lookup(1n)!.sortedKeys().map((k) => dec.decode(k)), ["k1"]);
  assert.deepEqual(lessor.lookup(2n)!.sortedKeys().map((k) => dec.decode(k)), ["k2"]);
  throwsEtcd(() => put("k3", 99n), EtcdErrors.leaseNotFound);
  const rev = store.currentRevision;
  store.deleteKeys(lessor.revoke(1n));
  assert.equal(store.currentRevision, rev + 1);
  assert.equal(store.get(enc.encode("k1")), undefined);
  assert.ok(store.get(enc.encode("k2")));
});

Deno.test("expiry happens only on a promoted lessor", () => {
  const { clock, lessor } = setup();
  lessor.grant(1n, 5);
  clock.now += 60_000;
  assert.deepEqual(lessor.findExpired(10), []);
  assert.equal(lessor.remainingMs(lessor.lookup(1n)!), Infinity);
  lessor.promote(1000);
  assert.equal(lessor.remainingMs(lessor.lookup(1n)!), 6000);
  clock.now += 5999;
  assert.deepEqual(lessor.findExpired(10), []);
  clock.now += 1;
  assert.deepEqual(lessor.findExpired(10), [1n]);
  // Offered once, then again only after the retry interval.
  assert.deepEqual(lessor.findExpired(10), []);
  clock.now += EXPIRED_RETRY_MS;
  assert.deepEqual(lessor.findExpired(10), [1n]);
  lessor.demote();
  clock.now += 60_000;
  assert.deepEqual(lessor.findExpired(10), []);
});

Deno.test("grant on a primary starts the clock; findExpired honours the limit and order", () => {
  const { clock, lessor } = setup();
  lessor.promote(0);
  lessor.grant(3n, 30);
  lessor.grant(1n, 10);
  lessor.grant(2n, 20);
  assert.equal(lessor.remainingMs(lessor.lookup(1n)!), 10_000);
  assert.deepEqual(lessor.leases().map((l) => l.id), [1n, 2n, 3n]);
  clock.now += 60_000;
  assert.deepEqual(lessor.findExpired(2), [1n, 2n]);
  assert.deepEqual(lessor.findExpired(2), [3n]);
});

Deno.test("renew: refreshes to the granted TTL on the primary only", () => {
  const { clock, lessor } = setup();
  lessor.grant(1n, 10);
  throwsEtcd(() => lessor.renew(1n), EtcdErrors.notLeader);
  lessor.promote(0);
  clock.now += 8000;
  assert.equal(lessor.remainingMs(lessor.lookup(1n)!), 2000);
  assert.equal(lessor.renew(1n), 10);
  assert.equal(lessor.remainingMs(lessor.lookup(1n)!), 10_000);
  throwsEtcd(() => lessor.renew(2n), EtcdErrors.leaseNotFound);
});

Deno.test("promote extends every lease by the election timeout plus its remaining TTL", () => {
  const { clock, lessor } = setup();
  lessor.grant(1n, 100);
  lessor.grant(2n, 100);
  lessor.checkpoint([cp(2n, 40)]);
  clock.now += 500_000;
  lessor.promote(1500);
  assert.equal(lessor.remainingMs(lessor.lookup(1n)!), 101_500);
  assert.equal(lessor.remainingMs(lessor.lookup(2n)!), 41_500);
  // A checkpoint back to 0 makes the granted TTL count again on the next promotion.
  lessor.checkpoint([cp(2n, 0), cp(99n, 5)]);
  lessor.demote();
  lessor.promote(0);
  assert.equal(lessor.remainingMs(lessor.lookup(2n)!), 100_000);
});

Deno.test("promote spreads a pile of leases expiring together over several seconds", () => {
  const { clock, lessor } = setup();
  for (let i = 1; i <= 2000; i++) lessor.grant(BigInt(i), 10);
  lessor.promote(0);
  const expiries = lessor.leases().map((l) => l.expiry - clock.now);
  assert.equal(expiries[0], 10_000);
  assert.ok(expiries[expiries.length - 1] > 11_000, `last expiry ${expiries.at(-1)}`);
  // No one-second window holds more than the revoke rate.
  const perSecond = new Map<number, number>();
  for (const e of expiries) {
    const s = Math.floor(e / 1000);
    perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
  }
  assert.ok(Math.max(...perSecond.values()) <= 1000);
});

Deno.test("checkpoints: due every interval for leases longer than it, with remaining TTL", () => {
  const { clock, lessor } = setup(5000);
  lessor.promote(0);
  lessor.grant(1n, 60);
  lessor.grant(2n, 4); // not longer than the interval: never checkpointed
  assert.deepEqual(lessor.dueCheckpoints(10), []);
  clock.now += 5000;
  const due = lessor.dueCheckpoints(10);
  assert.deepEqual(due.map((c) => [c.ID, c.remainingTTL]), [[1n, 55n]]);
  assert.deepEqual(lessor.dueCheckpoints(10), []);
  lessor.checkpoint(due);
  assert.equal(lessor.lookup(1n)!.remainingTtl, 55);
  clock.now += 5000;
  assert.deepEqual(lessor.dueCheckpoints(10).map((c) => c.remainingTTL), [50n]);
  // Not primary: nothing is due.
  lessor.demote();
  clock.now += 60_000;
  assert.deepEqual(lessor.dueCheckpoints(10), []);
});

Deno.test("checkpoints disabled with interval 0", () => {
  const { clock, lessor } = setup(0);
  lessor.promote(0);
  lessor.grant(1n, 600);
  clock.now += 100_000;
  assert.deepEqual(lessor.dueCheckpoints(10), []);
});

Deno.test("serialize/restore: ids, TTLs and checkpoints; keys come back from the store", () => {
  const { lessor } = setup();
  const store = new MvccStore(lessor.hooks);
  lessor.grant(5n, 30);
  lessor.grant(9n, 1);
  lessor.checkpoint([cp(5n, 12)]);
  store.put({
    $typeName: "etcdserverpb.PutRequest",
    key: enc.encode("kk"),
    value: enc.encode("v"),
    lease: 5n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });
  const bytes = lessor.serialize();
  const mvcc = store.serialize();

  const { clock, lessor: copy } = setup();
  copy.grant(77n, 10); // replaced by the restore
  copy.restore(bytes);
  MvccStore.restore(mvcc, copy.hooks);
  assert.equal(copy.lookup(77n), undefined);
  assert.deepEqual(copy.leases().map((l) => [l.id, l.ttl, l.remainingTtl]), [
    [5n, 30, 12],
    [9n, 2, 0],
  ]);
  assert.deepEqual(copy.lookup(5n)!.sortedKeys().map((k) => dec.decode(k)), ["kk"]);
  assert.deepEqual(copy.serialize(), bytes);
  copy.promote(0);
  assert.equal(copy.remainingMs(copy.lookup(5n)!), 12_000);
  clock.now += 11_999;
  assert.deepEqual(copy.findExpired(10), [9n]);
  clock.now += 1;
  assert.deepEqual(copy.findExpired(10), [5n]);

  const empty = setup().lessor;
  empty.restore(new Uint8Array());
  assert.equal(empty.size, 0);
});
