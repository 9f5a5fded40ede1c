/**
 * Leases end to end through etcdctl: differential checks against etcd for
 * everything whose output does not depend on timing, then cairn-only checks
 * of expiry, keep-alive streams, and leases surviving SIGKILL and snapshots.
 */

import assert from "node:assert/strict";
import { ctl, Pair, type Step } from "./harness/compare.ts";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { Member, sleep } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("lease_test.ts");

/** Options shared by every test here: a real process may outlive a test's own ops. */
function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore, sanitizeOps: false, sanitizeResources: false, fn });
}

/** The hex lease id in `lease <id> granted with TTL(...)`. */
function grantedId(stdout: string): string {
  const m = stdout.match(/lease ([0-9a-f]+) granted/);
  assert.ok(m, `no lease id in ${JSON.stringify(stdout)}`);
  return m[1];
}

/** `lease timetolive` of `id` as numbers: remaining TTL, granted TTL, keys. */
async function timeToLive(
  m: Member,
  id: string,
): Promise<{ ttl: number; granted: number; keys: string[] }> {
  const out = JSON.parse(
    await etcdctlOk(m.endpoint, ["lease", "timetolive", id, "--keys", "-w=json"]),
  );
  return {
    ttl: out.ttl,
    granted: out["granted-ttl"],
    keys: (out.keys ?? []).map((k: string) => atob(k)).sort(),
  };
}

/** Header revision and key names of everything in the store. */
async function snapshotOf(m: Member): Promise<{ revision: number; keys: string[] }> {
  const out = JSON.parse(await etcdctlOk(m.endpoint, ["get", "", "--from-key", "-w=json"]));
  return {
    revision: out.header.revision,
    keys: (out.kvs ?? []).map((kv: { key: string }) => atob(kv.key)),
  };
}

async function grant(m: Member, ttl: number): Promise<string> {
  return grantedId(await etcdctlOk(m.endpoint, ["lease", "grant", String(ttl)]));
}

const FORMATS = ["simple", "json", "fields"];

test("differential: grant, list, keep-alive --once, revoke, errors", async () => {
  const pair = await Pair.start(["--log-level=warn"]);
  try {
    const steps: Step[] = [
      ...FORMATS.map((w) => ctl("lease", "grant", "600", `-w=${w}`)),
      ctl("lease", "grant", "9000000000"),
      ctl("lease", "grant", "9000000001"),
      { args: ["lease", "grant", "300"], capture: { a: /lease ([0-9a-f]+) granted/ } },
      ctl("put", "la", "1", "--lease=${a}"),
      ctl("put", "lb", "2", "--lease=${a}"),
      ctl("put", "lc", "3"),
      ctl("put", "lc", "3b", "--lease=${a}"),
      ctl("put", "lc", "3c", "--ignore-lease", "-w=json"),
      { args: ["txn"], stdin: "\nput lt t --lease=${a}\n\n\n" },
      { args: ["txn"], stdin: "\nput lu u --lease=7fffffff\n\n\n" },
      ctl("get", "l", "--prefix", "-w=json"),
      ctl("put", "ld", "4", "--lease=7fffffff"),
      ctl("lease", "keep-alive", "--once", "${a}"),
      ctl("lease", "keep-alive", "--once", "${a}", "-w=json"),
      ctl("lease", "keep-alive", "--once", "1234"),
      ctl("lease", "timetolive", "1234"),
      ctl("lease", "timetolive", "1234", "-w=json"),
      ctl("lease", "list"),
      // Raised to the 2 s minimum (granted after the list: it may expire soon).
      ctl("lease", "grant", "1"),
      // Revoking deletes every attached key in one revision.
      ctl("lease", "revoke", "${a}"),
      ctl("lease", "revoke", "${a}", "-w=json"),
      ctl("get", "", "--from-key", "-w=json"),
      ctl("lease", "revoke", "${a}"),
      ctl("lease", "timetolive", "${a}"),
      ctl("lease", "keep-alive", "--once", "${a}"),
      // Revoking a lease without keys writes no revision.
      { args: ["lease", "grant", "100"], capture: { b: /lease ([0-9a-f]+) granted/ } },
      ctl("lease", "revoke", "${b}", "-w=json"),
      ctl("get", "la", "-w=json"),
    ];
    await pair.compare(steps);
  } finally {
    await pair.destroy();
  }
});

test("timetolive: remaining and granted TTL, attached keys; minimum TTL of 2 s", async () => {
  const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
  try {
    const id = await grant(m, 60);
    await etcdctlOk(m.endpoint, ["put", "t/b", "x", `--lease=${id}`]);
    await etcdctlOk(m.endpoint, ["put", "t/a", "x", `--lease=${id}`]);
    const t = await timeToLive(m, id);
    assert.equal(t.granted, 60);
    assert.ok(t.ttl >= 57 && t.ttl <= 59, `remaining ${t.ttl}`);
    assert.deepEqual(t.keys, ["t/a", "t/b"]);
    const text = await etcdctlOk(m.endpoint, ["lease", "timetolive", id, "--keys"]);
    assert.match(
      text,
      /granted with TTL\(60s\), remaining\(5\ds\), attached keys\(\[t\/a t\/b\]\)/,
    );
    const short = await etcdctlOk(m.endpoint, ["lease", "grant", "1"]);
    assert.match(short, /granted with TTL\(2s\)/);
  } finally {
    await m.destroy();
  }
});

test("expiry: keys vanish after the TTL, not before, in one revision", async () => {
  const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
  try {
    // The lease starts after this instant, so it cannot end before 3 s after
    // it: every poll that finds the keys gone must end 3 s or more later.
    // (Slow etcdctl calls on a loaded machine only make polls coarser.)
    const asked = Date.now();
    const id = await grant(m, 3);
    await etcdctlOk(m.endpoint, ["put", "e/1", "x", `--lease=${id}`]);
    await etcdctlOk(m.endpoint, ["put", "e/2", "x", `--lease=${id}`]);
    const before = await snapshotOf(m);
    assert.deepEqual(before.keys, ["e/1", "e/2"]);
    let after = before;
    while (Date.now() - asked < 10_000) {
      after = await snapshotOf(m);
      if (after.keys.length === 0) break;
      await sleep(200);
    }
    assert.deepEqual(after.keys, [], "keys still there 10 s after asking for a 3 s lease");
    const gone = Date.now() - asked;
    assert.ok(gone >= 3000, `keys gone ${gone} ms after the grant was asked: before the TTL`);
    assert.equal(after.revision, before.revision + 1);
    assert.equal((await timeToLive(m, id)).ttl, -1);
  } finally {
    await m.destroy();
  }
});

test("keep-alive stream keeps a short lease alive; it expires once the stream stops", async () => {
  const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
  try {
    const id = await grant(m, 2);
    await etcdctlOk(m.endpoint, ["put", "ka", "x", `--lease=${id}`]);
    // etcdctl renews every TTL/3; killed after 4.5 s, twice the TTL.
    const res = await etcdctl(m.endpoint, ["lease", "keep-alive", id], { timeoutMs: 4500 });
    const renewals = res.stdout.match(new RegExp(`lease ${id} keepalived with TTL\\(2\\)`, "g"));
    assert.ok(renewals && renewals.length >= 3, `keep-alive output: ${res.stdout}${res.stderr}`);
    assert.deepEqual((await snapshotOf(m)).keys, ["ka"]);
    const deadline = Date.now() + 6000;
    while ((await snapshotOf(m)).keys.length > 0) {
      assert.ok(Date.now() < deadline, "lease outlived its keep-alive stream");
      await sleep(200);
    }
  } finally {
    await m.destroy();
  }
});

test("a lease and its keys survive SIGKILL with the checkpointed remaining TTL", async () => {
  const m = await Member.start({ kind: "cairn", extraArgs: ["--log-level=warn"] });
  try {
    const id = await grant(m, 30);
    await etcdctlOk(m.endpoint, ["put", "r/k", "x", `--lease=${id}`]);
    // Past one 5 s checkpoint: about 25 s remained when it was taken.
    await sleep(7500);
    await m.restart(true);
    const t = await timeToLive(m, id);
    assert.equal(t.granted, 30);
    assert.deepEqual(t.keys, ["r/k"]);
    // Checkpointed ~25 s plus the 1 s election timeout, minus the time since the restart.
    assert.ok(t.ttl >= 19 && t.ttl <= 26, `remaining TTL after restart ${t.ttl}`);
    // A renewal clears the checkpoint: the full TTL counts again, also after another crash.
    const ka = await etcdctlOk(m.endpoint, ["lease", "keep-alive", "--once", id]);
    assert.match(ka, /keepalived with TTL\(30\)/);
    await m.restart(true);
    const after = await timeToLive(m, id);
    assert.ok(after.ttl >= 27 && after.ttl <= 31, `remaining TTL after renew+restart ${after.ttl}`);
  } finally {
    await m.destroy();
  }
});

test("leases and attachments come back from a snapshot; revoke then deletes the keys", async () => {
  const m = await Member.start({
    kind: "cairn",
    extraArgs: ["--log-level=warn", "--snapshot-count=5"],
  });
  try {
    const id = await grant(m, 600);
    for (let i = 0; i < 8; i++) {
      await etcdctlOk(m.endpoint, ["put", `s/${i}`, "x", `--lease=${i % 2 === 0 ? id : "0"}`]);
    }
    const snaps = [...Deno.readDirSync(`${m.dataDir}/member/snap`)].map((e) => e.name);
    assert.ok(snaps.some((n) => n.endsWith(".snap")), `no snapshot taken: ${snaps}`);
    await m.restart(true);
    const t = await timeToLive(m, id);
    assert.equal(t.granted, 600);
    assert.deepEqual(t.keys, ["s/0", "s/2", "s/4", "s/6"]);
    const before = await snapshotOf(m);
    await etcdctlOk(m.endpoint, ["lease", "revoke", id]);
    const after = await snapshotOf(m);
    assert.deepEqual(after.keys, ["s/1", "s/3", "s/5", "s/7"]);
    assert.equal(after.revision, before.revision + 1);
  } finally {
    await m.destroy();
  }
});
