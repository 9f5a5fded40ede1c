/**
 * Network partitions of a 3-member cluster, with each member in its own Linux
 * network namespace (see harness/netns.ts), checked the way etcd operators
 * expect:
 *
 * 1. The leader cut off from the other two: they elect a new leader within a
 *    few election timeouts and keep taking writes; the old leader commits
 *    nothing (put and linearizable get fail or time out) but still answers
 *    serializable reads from its own, stale, state.
 * 2. Healed: the old leader rejoins as a follower without unseating the new
 *    one (pre-vote), serves the writes it missed, and all three agree on the
 *    leader and on `hashkv` at one revision.
 * 3. A follower cut off and healed while writes flow through the majority:
 *    not one of those writes fails.
 *
 * Needs root for the namespaces: without it the test is skipped, not failed.
 * Only addresses of namespaces this test creates are ever contacted.
 */
import assert from "node:assert/strict";
import { type CtlResult, etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { sleep } from "./harness/member.ts";
import { NetLab, netnsUnavailable } from "./harness/netns.ts";
import { NetnsMember } from "./harness/netns_member.ts";
import { cairnIsEtcd, missingTools } from "./harness/tools.ts";

const skipReason = missingTools() ?? netnsUnavailable();
if (skipReason) console.warn(`partition_test.ts: ${skipReason}`);

/** Election timeout the members run with (etcd's default), in ms. */
const ELECTION_MS = 1000;
/** How long etcdctl waits for a request the test expects to hang. */
const SHORT_TIMEOUT = "--command-timeout=3s";

/** A request that must fail has this long: the 3 s timeout plus etcdctl's own start and exit. */
const MAX_FAIL_MS = 6_000;

/**
 * A member cut off and healed serves linearizable reads again within this
 * long. etcd 3.4 takes 0.5-1.3 s here, bounded by TCP retransmission and ARP
 * timers; cairn took 4 s while a read round sent during the partition held
 * every later read until its 7 s deadline.
 */
const MAX_REJOIN_MS = 3 * ELECTION_MS;

/** Resolves to the etcdctl result and how long it took from now. */
async function timed(run: Promise<CtlResult>): Promise<CtlResult & { ms: number }> {
  const t0 = Date.now();
  const res = await run;
  return { ...res, ms: Date.now() - t0 };
}

interface StatusRow {
  Endpoint: string;
  Status: { header: { member_id: number | string }; leader: number | string; raftTerm: number };
}

/** What each member reported: its own id and the leader it follows. */
interface View {
  member: NetnsMember;
  id: string;
  leader: string;
  term: number;
}

/** `endpoint status` of each given member (one etcdctl each, so one dead member cannot hide the rest). */
async function views(members: NetnsMember[]): Promise<View[]> {
  const rows = await Promise.all(members.map(async (m) => {
    const res = await etcdctl(m.endpoint, ["endpoint", "status", "-w", "json", SHORT_TIMEOUT]);
    if (res.code !== 0) return undefined;
    // Member ids are uint64: keep them as strings, since doubles would round them.
    const exact = res.stdout.replace(/:\s*(\d{16,})/g, ':"$1"');
    const row = (JSON.parse(exact) as StatusRow[])[0];
    return {
      member: m,
      id: String(row.Status.header.member_id),
      leader: String(row.Status.leader),
      term: Number(row.Status.raftTerm),
    };
  }));
  return rows.filter((r): r is View => r !== undefined);
}

/**
 * Waits until every given member answers and names the same leader, which is
 * one of them and passes `accept`; returns that leader.
 */
async function agreedLeader(
  members: NetnsMember[],
  timeoutMs: number,
  accept: (leader: NetnsMember) => boolean = () => true,
): Promise<{ leader: NetnsMember; term: number }> {
  const deadline = Date.now() + timeoutMs;
  let last = "nothing yet";
  for (let i = 0; i < 500 && Date.now() < deadline; i++) {
    const vs = await views(members);
    last = JSON.stringify(vs.map((v) => [v.member.name, v.leader, v.term]));
    const ids = new Set(vs.map((v) => v.leader));
    if (vs.length === members.length && ids.size === 1 && !ids.has("0")) {
      const leader = vs.find((v) => v.id === vs[0].leader)?.member;
      if (leader && accept(leader)) return { leader, term: Math.max(...vs.map((v) => v.term)) };
    }
    await sleep(150);
  }
  throw new Error(
    `no agreed leader among ${members.map((m) => m.name)} within ${timeoutMs} ms: ${last}`,
  );
}

/** Value of `key` read through `m`, or undefined when absent; throws when the read fails. */
async function valueAt(
  m: NetnsMember,
  key: string,
  serializable = false,
): Promise<string | undefined> {
  const args = ["get", key, "--print-value-only", SHORT_TIMEOUT];
  if (serializable) args.push("--consistency=s");
  const out = (await etcdctlOk(m.endpoint, args)).trim();
  return out === "" ? undefined : out;
}

/** Polls a linearizable read on `m` until `key` has `value`. */
async function waitValue(m: NetnsMember, key: string, value: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = "nothing yet";
  for (let i = 0; i < 200 && Date.now() < deadline; i++) {
    try {
      const got = await valueAt(m, key);
      if (got === value) return;
      last = `value ${JSON.stringify(got)}`;
    } catch (err) {
      last = String(err).split("\n").slice(0, 3).join(" | ");
    }
    await sleep(200);
  }
  throw new Error(`${m.name}: ${key} != ${value} after ${timeoutMs} ms (last: ${last})`);
}

/** Asserts every member hashes the same history up to `rev` (retried while one catches up). */
async function assertSameHash(members: NetnsMember[], rev: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let hashes: string[] = [];
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    hashes = await Promise.all(members.map(async (m) => {
      const res = await etcdctl(m.endpoint, ["endpoint", "hashkv", `--rev=${rev}`, "-w", "json"]);
      if (res.code !== 0) return `${m.name}: error ${res.stderr.trim()}`;
      return String((JSON.parse(res.stdout) as { HashKV: { hash: number } }[])[0].HashKV.hash);
    }));
    if (new Set(hashes).size === 1 && !hashes[0].includes("error")) return;
    await sleep(250);
  }
  assert.fail(`hashkv at rev ${rev} differs: ${hashes.join(", ")}`);
}

/** The revision a member's store is at (from a linearizable get). */
async function revisionAt(m: NetnsMember): Promise<number> {
  const out = await etcdctlOk(m.endpoint, ["get", "none", "-w", "json", SHORT_TIMEOUT]);
  return Number(JSON.parse(out).header.revision);
}

/** One put of the background writer. */
interface WriteRecord {
  key: string;
  target: string;
  ok: boolean;
  /** When the put was sent (epoch ms). */
  at: number;
  ms: number;
  error?: string;
}

/**
 * Puts `<prefix><n>` in a loop, alternating over `targets`, one put every
 * 50 ms at most, until stopped (at most 1000 puts, about a minute).
 */
function startWriter(targets: NetnsMember[], prefix: string) {
  let stopped = false;
  const log: WriteRecord[] = [];
  const done = (async () => {
    for (let i = 0; i < 1000 && !stopped; i++) {
      const target = targets[i % targets.length];
      const key = `${prefix}${i}`;
      const at = Date.now();
      const res: CtlResult = await etcdctl(target.endpoint, ["put", key, `v${i}`], {
        timeoutMs: 12_000,
      });
      log.push({
        key,
        target: target.name,
        ok: res.code === 0,
        at,
        ms: Date.now() - at,
        error: res.code === 0 ? undefined : res.stderr.trim(),
      });
      await sleep(Math.max(0, 50 - (Date.now() - at)));
    }
  })();
  return {
    log,
    /** Stops after the put in flight and returns everything written. */
    async stop(): Promise<WriteRecord[]> {
      stopped = true;
      await done;
      return log;
    },
  };
}

Deno.test({
  name:
    "partition: isolated leader and follower in network namespaces; majority goes on, heal converges",
  ignore: skipReason !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lab = NetLab.create(3);
    const members: NetnsMember[] = [];
    try {
      for (const node of lab.nodes) {
        members.push(
          await NetnsMember.create({
            name: `p${node.index}`,
            node,
            cluster: { initialCluster: "", token: `partition-${Deno.pid}` },
            extraArgs: [
              `--election-timeout=${ELECTION_MS}`,
              "--heartbeat-interval=100",
              // cairn always pre-votes (etcd's default since 3.5); etcd 3.4, used to
              // validate this test with CAIRN_CMD=etcd, must be asked to. cairn has no
              // such flag (yet), so it is only passed to etcd.
              ...(cairnIsEtcd() ? ["--pre-vote=true"] : []),
            ],
          }),
        );
      }
      const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
      for (const m of members) m.options.cluster.initialCluster = initialCluster;
      for (const m of members) m.launch();
      await Promise.all(members.map((m) => m.waitHealthy(30_000)));
      await scenario(lab, members);
    } catch (err) {
      const tails = await Promise.all(members.map(async (m) => {
        const exit = m.exitStatus;
        const state = exit ? `EXITED code ${exit.code} signal ${exit.signal}` : "running";
        return `${m.name} (${m.endpoint}, ${state})\n${await m.stderrTail(25)}`;
      }));
      throw new Error(`${err instanceof Error ? err.stack : err}\n${tails.join("\n")}`);
    } finally {
      await Promise.all(members.map((m) => m.destroy()));
      lab.destroy();
    }
    // Checked only after a pass, so it never hides the error of a failed run.
    assert.deepEqual(lab.leftovers(), [], "namespaces and links are all removed");
  },
});

async function scenario(lab: NetLab, members: NetnsMember[]): Promise<void> {
  const indexOf = (m: NetnsMember) => m.node.index;
  const { leader: oldLeader } = await agreedLeader(members, 15_000);
  await etcdctlOk(oldLeader.endpoint, ["put", "base", "before"]);
  for (const m of members) await waitValue(m, "base", "before", 5_000);

  // --- 1. The leader alone on one side. ---
  const majority = members.filter((m) => m !== oldLeader);
  lab.isolate(indexOf(oldLeader));
  const cutAt = Date.now();
  // Sent at once, while it may still believe it leads: it must not commit.
  const lonePut = timed(etcdctl(oldLeader.endpoint, ["put", "lone", "x", SHORT_TIMEOUT]));
  const { leader: newLeader, term } = await agreedLeader(
    majority,
    8 * ELECTION_MS,
    (l) => l !== oldLeader,
  );
  const electedMs = Date.now() - cutAt;
  assert.ok(electedMs < 8 * ELECTION_MS, `new leader after ${electedMs} ms`);

  for (let i = 0; i < 6; i++) {
    await etcdctlOk(majority[i % 2].endpoint, ["put", `part-${i}`, `w${i}`, SHORT_TIMEOUT]);
  }
  const [put, linGet, serGet] = await Promise.all([
    lonePut,
    timed(etcdctl(oldLeader.endpoint, ["get", "base", SHORT_TIMEOUT])),
    etcdctl(oldLeader.endpoint, ["get", "base", "--print-value-only", "--consistency=s"]),
  ]);
  assert.notEqual(put.code, 0, `put on the isolated old leader succeeded: ${put.stdout}`);
  assert.notEqual(linGet.code, 0, `linearizable get on the isolated member: ${linGet.stdout}`);
  // Failing means failing within the command timeout (3 s), not hanging.
  assert.ok(put.ms < MAX_FAIL_MS, `put on the isolated member took ${put.ms} ms`);
  assert.ok(
    linGet.ms < MAX_FAIL_MS,
    `linearizable get on the isolated member took ${linGet.ms} ms`,
  );
  assert.equal(serGet.code, 0, `serializable get on the isolated member: ${serGet.stderr}`);
  assert.equal(serGet.stdout.trim(), "before", "serializable read answers from local state");
  assert.equal(
    await valueAt(oldLeader, "part-0", true),
    undefined,
    "the isolated member cannot have seen writes of the majority",
  );

  // --- 2. Heal: the old leader rejoins as a follower and catches up. ---
  lab.heal(indexOf(oldLeader));
  const healAt = Date.now();
  await waitValue(oldLeader, "part-5", "w5", 20_000);
  const rejoinMs = Date.now() - healAt;
  assert.ok(rejoinMs < MAX_REJOIN_MS, `old leader serves reads ${rejoinMs} ms after the heal`);
  for (let i = 0; i < 6; i++) assert.equal(await valueAt(oldLeader, `part-${i}`), `w${i}`);
  const healed = await agreedLeader(members, 10_000);
  assert.equal(
    healed.leader,
    newLeader,
    "the rejoining old leader must not unseat the new one (pre-vote)",
  );
  assert.equal(healed.term, term, "no election after the heal");
  await assertSameHash(members, await revisionAt(newLeader));

  // --- 3. A follower alone, while writes go through the majority. ---
  const follower = majority.find((m) => m !== newLeader)!;
  const rest = members.filter((m) => m !== follower);
  const writer = startWriter(rest, "flow-");
  let cutFollowerAt = Infinity;
  let healFollowerAt = Infinity;
  let followerRejoinMs = NaN;
  try {
    await sleep(500);
    lab.isolate(indexOf(follower));
    cutFollowerAt = Date.now();
    // Long enough for it to time out and (pre-)campaign a few times.
    await sleep(3 * ELECTION_MS);
    const lin = await timed(etcdctl(follower.endpoint, ["get", "base", SHORT_TIMEOUT]));
    assert.notEqual(lin.code, 0, `linearizable get on an isolated follower: ${lin.stdout}`);
    assert.ok(lin.ms < MAX_FAIL_MS, `linearizable get on the isolated follower took ${lin.ms} ms`);
    const seenBefore = writer.log.filter((w) => w.ok).length;
    assert.ok(seenBefore > 3, `the majority kept writing (${seenBefore} puts acknowledged)`);
    const lastKey = writer.log.filter((w) => w.ok).at(-1)!.key;
    assert.equal(await valueAt(follower, lastKey, true), undefined, "follower is cut off");

    lab.heal(indexOf(follower));
    healFollowerAt = Date.now();
    await waitValue(follower, lastKey, `v${lastKey.slice("flow-".length)}`, 20_000);
    followerRejoinMs = Date.now() - healFollowerAt;
    assert.ok(
      followerRejoinMs < MAX_REJOIN_MS,
      `follower serves reads ${followerRejoinMs} ms after the heal`,
    );
    await sleep(500);
  } finally {
    await writer.stop();
  }
  const failed = writer.log.filter((w) => !w.ok).map((w) => ({
    ...w,
    sinceCut: w.at - cutFollowerAt,
    sinceHeal: w.at - healFollowerAt,
  }));
  assert.deepEqual(failed, [], "every write through the majority succeeded");
  const during = writer.log.filter((w) => w.at >= cutFollowerAt && w.at < healFollowerAt).length;
  const afterHeal = writer.log.filter((w) => w.at >= healFollowerAt).length;
  assert.ok(during >= 10, `writes while the follower was cut off: ${during}`);
  assert.ok(afterHeal >= 3, `writes after the follower came back: ${afterHeal}`);
  const slowest = Math.max(...writer.log.map((w) => w.ms));
  const after = await agreedLeader(members, 10_000);
  assert.equal(after.leader, newLeader, "the isolated follower did not unseat the leader");
  assert.equal(after.term, term, "no election because of the isolated follower");
  const lastFlow = writer.log.at(-1)!;
  await waitValue(follower, lastFlow.key, `v${lastFlow.key.slice("flow-".length)}`, 10_000);
  await assertSameHash(members, await revisionAt(newLeader));
  console.log(
    `partition_test: new leader after ${electedMs} ms; old leader serves reads ${rejoinMs} ms ` +
      `after the heal; follower partition: ${during} writes while cut off, ${afterHeal} after ` +
      `the heal, slowest ${slowest} ms, follower serves reads ${followerRejoinMs} ms after the heal`,
  );
}
