/**
 * etcd's v3lock and v3election services over gRPC, called directly (as
 * clients such as etcd3gw's lock or any generated stub do), run as one
 * scenario on etcd 3.4 and on cairn; the observations (keys, revisions,
 * values, error codes and texts) must be the same. The scenario covers
 * contention, a waiter that goes away (its key must be withdrawn), lease 0
 * (a 60 s lease is granted), errors, and an election observed from start
 * to finish.
 */

import assert from "node:assert/strict";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { KV, Lease } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Election } from "../src/gen/etcd/server/etcdserver/api/v3election/v3electionpb/v3election_pb.ts";
import { Lock } from "../src/gen/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock_pb.ts";
import { Pair } from "./harness/compare.ts";
import type { Member } from "./harness/member.ts";
import { sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("lock_election_test.ts");

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** `code message` of a failed call. */
function failure(err: unknown): string {
  const ce = ConnectError.from(err);
  return `error ${ce.code} ${ce.rawMessage}`;
}

/** Polls `check` until it returns true, at most `ms`. */
async function until(check: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}

/** Resolves true if `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const done = p.then(() => true, () => true);
  const result = await Promise.race([done, t]);
  clearTimeout(timer);
  return result;
}

interface Clients {
  kv: Client<typeof KV>;
  lease: Client<typeof Lease>;
  lock: Client<typeof Lock>;
  election: Client<typeof Election>;
}

async function keysUnder(kv: Client<typeof KV>, prefix: string): Promise<string[]> {
  const end = enc(prefix);
  end[end.length - 1]++;
  const r = await kv.range({ key: enc(prefix), rangeEnd: end });
  return r.kvs.map((k) => dec(k.key));
}

/** The scenario; returns what it saw, in order. */
async function scenario(member: Member): Promise<string[]> {
  const transport = createGrpcTransport({ baseUrl: member.clientUrl });
  const c: Clients = {
    kv: createClient(KV, transport),
    lease: createClient(Lease, transport),
    lock: createClient(Lock, transport),
    election: createClient(Election, transport),
  };
  const log: string[] = [];
  for (const ID of [100n, 200n, 300n]) await c.lease.leaseGrant({ ID, TTL: 60n });

  // Locks: the first caller holds, the next ones wait in order.
  const held = await c.lock.lock({ name: enc("l"), lease: 100n });
  log.push(`lock ${dec(held.key)} at ${held.header?.revision}`);
  const again = await c.lock.lock({ name: enc("l"), lease: 100n });
  log.push(`lock again ${dec(again.key)} at ${again.header?.revision}`);
  const second = c.lock.lock({ name: enc("l"), lease: 200n });
  log.push(`second waits: ${!(await settlesWithin(second, 300))}`);
  // A waiter that goes away gives its place up.
  const abort = new AbortController();
  const third = c.lock.lock({ name: enc("l"), lease: 300n }, { signal: abort.signal });
  await until(async () => (await keysUnder(c.kv, "l/")).length === 3);
  log.push(`waiters ${(await keysUnder(c.kv, "l/")).join(",")}`);
  abort.abort();
  await third.catch(() => {});
  const withdrawn = await until(async () => (await keysUnder(c.kv, "l/")).length === 2);
  log.push(`withdrawn ${withdrawn}: ${(await keysUnder(c.kv, "l/")).join(",")}`);
  const unlocked = await c.lock.unlock({ key: held.key });
  log.push(`unlock at ${unlocked.header?.revision}`);
  const got = await second;
  log.push(`second ${dec(got.key)} at ${got.header?.revision}`);
  await c.lock.unlock({ key: got.key });
  // Lease 0: a 60 s lease is granted for the key.
  const own = await c.lock.lock({ name: enc("m"), lease: 0n });
  const ownLease = BigInt("0x" + dec(own.key).slice(2));
  const ttl = await c.lease.leaseTimeToLive({ ID: ownLease, keys: true });
  // The lease id is random: say whether the key names it.
  const named = ttl.keys.map(dec).join(",") === `m/${ownLease.toString(16)}`;
  log.push(`own lease granted ${ttl.grantedTTL}, its key named after it: ${named}`);
  await c.lease.leaseRevoke({ ID: ownLease });
  for (
    const call of [
      () => c.lock.lock({ name: enc("l"), lease: 999n }),
      () => c.lock.unlock({ key: new Uint8Array(0) }),
    ]
  ) {
    log.push(await call().then(() => "ok", failure));
  }

  // Elections.
  log.push(await c.election.leader({ name: enc("e") }).then(() => "leader?", failure));
  const observed: string[] = [];
  const observeAbort = new AbortController();
  const observing = (async () => {
    for await (const r of c.election.observe({ name: enc("e") }, { signal: observeAbort.signal })) {
      observed.push(`${dec(r.kv!.key)}=${dec(r.kv!.value)} at ${r.header?.revision}`);
    }
  })().catch(() => {});
  const won = await c.election.campaign({ name: enc("e"), lease: 100n, value: enc("a") });
  const leader = won.leader!;
  log.push(`campaign ${dec(leader.key)} rev ${leader.rev} lease ${leader.lease}`);
  const challenger = c.election.campaign({ name: enc("e"), lease: 200n, value: enc("b") });
  log.push(`challenger waits: ${!(await settlesWithin(challenger, 300))}`);
  const proclaimed = await c.election.proclaim({ leader, value: enc("a2") });
  log.push(`proclaim at ${proclaimed.header?.revision}`);
  log.push(
    await c.election.proclaim({ leader: { ...leader, rev: 1n }, value: enc("x") }).then(
      () => "ok",
      failure,
    ),
  );
  const now = await c.election.leader({ name: enc("e") });
  log.push(`leader ${dec(now.kv!.key)}=${dec(now.kv!.value)}`);
  const resigned = await c.election.resign({ leader });
  log.push(`resign at ${resigned.header?.revision}`);
  const next = (await challenger).leader!;
  log.push(`challenger ${dec(next.key)} rev ${next.rev}`);
  // Campaigning again with the same lease resumes and posts the new value.
  const resumed = await c.election.campaign({ name: enc("e"), lease: 200n, value: enc("b2") });
  log.push(`resumed rev ${resumed.leader!.rev} at ${resumed.header?.revision}`);
  await until(() => observed.length >= 4);
  observeAbort.abort();
  await observing;
  log.push(`observed ${observed.join("; ")}`);
  log.push(await c.election.resign({}).then(() => "ok", failure));
  log.push(await c.election.proclaim({ value: enc("z") }).then(() => "ok", failure));
  return log;
}

Deno.test({
  name: "v3lock and v3election over gRPC: the same scenario on etcd and cairn",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pair = await Pair.start(["--log-level=warn"]);
    try {
      const etcd = await scenario(pair.etcd);
      const cairn = await scenario(pair.cairn);
      assert.deepEqual(cairn, etcd);
      // The properties the scenario is about, stated outright.
      assert.ok(cairn.includes("second waits: true"));
      assert.ok(cairn.includes("withdrawn true: l/64,l/c8"));
      assert.ok(cairn.includes("own lease granted 60, its key named after it: true"));
      assert.ok(cairn.includes('error 2 "leader" field must be provided'));
    } finally {
      await pair.destroy();
    }
  },
});
