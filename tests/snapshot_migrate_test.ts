/**
 * Snapshots and migration, with real processes on free loopback ports:
 * `etcdctl snapshot save` against cairn writes a file etcd's own tools read
 * and restore (and a real etcd 3.4 starts from it with the same keys,
 * values, revisions, versions and leases); `etcdctl snapshot save` against
 * etcd 3.4 gives a file `cairn snapshot restore` turns into a cairn member
 * (one, or a 3-member cluster) serving the same data, auth included; cairn
 * to cairn the same; a damaged file is refused with etcd's message; and
 * `cairn snapshot status` prints what `etcdctl snapshot status` prints.
 */
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Auth, KV, Lease } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Permission_Type } from "../src/gen/etcd/api/authpb/auth_pb.ts";
import { destroyAll } from "./harness/cluster.ts";
import { etcdctl, etcdctlOk } from "./harness/etcdctl.ts";
import { Member, type MemberKind } from "./harness/member.ts";
import { cairnCommand, skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("snapshot_migrate_test.ts");
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function clients(m: Member) {
  const t = createGrpcTransport({ baseUrl: m.clientUrl, defaultTimeoutMs: 10_000 });
  return { kv: createClient(KV, t), lease: createClient(Lease, t), auth: createClient(Auth, t) };
}

/** Revisions the workload remembers, to read history at after a restore. */
interface Workload {
  /** A revision after the compaction, before later overwrites. */
  pastRev: bigint;
  /** The revision the history was compacted at. */
  compactRev: bigint;
  leaseId: bigint;
}

/**
 * Writes a history worth checking: overwrites, deletes, a compaction, a
 * value spanning several pages, binary keys, a lease with keys attached,
 * users and roles (auth stays disabled).
 */
async function populate(m: Member): Promise<Workload> {
  const { kv, lease, auth } = clients(m);
  for (let i = 0; i < 400; i++) {
    await kv.put({ key: enc(`k/${String(i % 150).padStart(3, "0")}`), value: enc(`v${i}`) });
  }
  await kv.deleteRange({ key: enc("k/01"), rangeEnd: enc("k/02") });
  const mid = await kv.put({ key: enc("mid"), value: enc("m1") });
  const compactRev = mid.header!.revision - 50n;
  await kv.compact({ revision: compactRev, physical: true });
  const pastRev = mid.header!.revision;
  await kv.put({ key: enc("mid"), value: enc("m2") });
  await kv.put({ key: enc("big"), value: enc("x".repeat(20_000)) });
  await kv.put({ key: Uint8Array.of(0xff, 0x00, 0x01), value: Uint8Array.of(0, 1, 2) });
  const granted = await lease.leaseGrant({ TTL: 600n });
  await kv.put({ key: enc("leased/a"), value: enc("1"), lease: granted.ID });
  await kv.put({ key: enc("leased/b"), value: enc("2"), lease: granted.ID });
  await auth.roleAdd({ name: "reader" });
  await auth.roleGrantPermission({
    name: "reader",
    perm: { permType: Permission_Type.READ, key: enc("k/"), rangeEnd: enc("k0") },
  });
  await auth.userAdd({ name: "alice", password: "pw-alice" });
  await auth.userGrantRole({ user: "alice", role: "reader" });
  await kv.deleteRange({ key: enc("k/149") });
  return { pastRev, compactRev, leaseId: granted.ID };
}

/** Everything a migration must keep, as one comparable value. */
async function dump(m: Member, w: Workload) {
  const { kv, lease, auth } = clients(m);
  const kvs = (r: Awaited<ReturnType<typeof kv.range>>) =>
    r.kvs.map((x) => ({
      key: Array.from(x.key).join(","),
      value: dec(x.value),
      create: x.createRevision,
      mod: x.modRevision,
      version: x.version,
      lease: x.lease,
    }));
  const all = await kv.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) });
  const past = await kv.range({
    key: Uint8Array.of(0),
    rangeEnd: Uint8Array.of(0),
    revision: w.pastRev,
  });
  const ttl = await lease.leaseTimeToLive({ ID: w.leaseId, keys: true });
  const roles = await auth.roleList({});
  return {
    revision: all.header!.revision,
    kvs: kvs(all),
    past: kvs(past),
    leases: (await lease.leaseLeases({})).leases.map((l) => l.ID),
    lease: { id: ttl.ID, granted: ttl.grantedTTL, keys: ttl.keys.map(dec).sort() },
    users: (await auth.userList({})).users,
    alice: (await auth.userGet({ name: "alice" })).roles,
    roles: roles.roles,
    reader: (await auth.roleGet({ role: "reader" })).perm.map((p) => ({
      type: p.permType,
      key: dec(p.key),
      end: dec(p.rangeEnd),
    })),
  };
}

/** History before the compaction revision is gone, from it on readable, on `m` as on the source. */
async function assertCompactedAt(m: Member, w: Workload) {
  const { kv } = clients(m);
  const all = { key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) };
  await assert.rejects(
    kv.range({ ...all, revision: w.compactRev - 1n }),
    /required revision has been compacted/,
  );
  const at = await kv.range({ ...all, revision: w.compactRev });
  assert.ok(at.kvs.length > 0);
}

async function run(cmd: string[], args: string[]) {
  const out = await new Deno.Command(cmd[0], {
    args: [...cmd.slice(1), ...args],
    env: { ETCDCTL_API: "3" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  return { code: out.code, stdout: dec(out.stdout), stderr: dec(out.stderr) };
}

const cairn = (args: string[]) => run(cairnCommand(), args);
const ctl = (args: string[]) => run(["etcdctl"], args);

/** `etcdctl snapshot save` from a member into `path`. */
async function save(m: Member, path: string): Promise<Uint8Array> {
  await etcdctlOk(m.endpoint, ["snapshot", "save", path], { timeoutMs: 60_000 });
  return await Deno.readFile(path);
}

/** Both tools' status of one file, in every format, must be the same text. */
async function sameStatus(path: string) {
  for (const w of ["simple", "table", "json", "fields"]) {
    const theirs = await ctl(["snapshot", "status", path, "-w", w]);
    const ours = await cairn(["snapshot", "status", path, "-w", w]);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.equal(ours.code, 0, ours.stderr);
    assert.equal(ours.stdout, theirs.stdout, `status -w ${w}`);
  }
}

/** The revision `etcdctl snapshot status` reads in `path`. */
async function statusRevision(path: string): Promise<bigint> {
  return BigInt(
    JSON.parse((await ctl(["snapshot", "status", path, "-w", "json"])).stdout).revision,
  );
}

/** Restores `file` into each member's (not yet started) data dir with `tool`, as one cluster. */
async function restoreInto(tool: "cairn" | "etcdctl", file: string, members: Member[]) {
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  const token = `restored-${members[0].clientPort}`;
  for (const m of members) {
    m.options.cluster = { initialCluster, token };
    const args = [
      "snapshot",
      "restore",
      file,
      `--data-dir=${m.dataDir}`,
      `--name=${m.name}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
    ];
    const r = tool === "cairn" ? await cairn(args) : await ctl(args);
    assert.equal(r.code, 0, `${tool} restore: ${r.stderr}`);
  }
}

/** `n` members of `kind` restored from `file` by that kind's own tool (etcdctl for etcd), serving. */
async function startRestored(kind: MemberKind, file: string, n = 1) {
  const members: Member[] = [];
  for (let i = 1; i <= n; i++) members.push(await Member.create({ kind, name: `r${i}` }));
  await restoreInto(kind === "etcd" ? "etcdctl" : "cairn", file, members);
  for (const m of members) m.launch();
  try {
    await Promise.all(members.map((m) => m.waitHealthy(45_000)));
  } catch (err) {
    await destroyAll(members);
    throw err;
  }
  return members;
}

/**
 * {@link startRestored}, each member then holding `want` with history
 * compacted where the source's was; they join `started` to be destroyed.
 */
async function restoredHolding(
  kind: MemberKind,
  file: string,
  w: Workload,
  want: Awaited<ReturnType<typeof dump>>,
  started: Member[],
  n = 1,
): Promise<Member[]> {
  const members = await startRestored(kind, file, n);
  started.push(...members);
  for (const m of members) {
    assert.deepEqual(await dump(m, w), want, m.name);
    await assertCompactedAt(m, w);
  }
  return members;
}

/**
 * Runs `fn` with a fresh source member of `kind` and a temporary directory,
 * then destroys every member in `started` (the source first) and the directory.
 */
async function withSource(
  kind: MemberKind,
  fn: (source: Member, dir: string, started: Member[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cairn-snap-" });
  const source = await Member.start({ kind });
  const started: Member[] = [source];
  try {
    await fn(source, dir, started);
  } finally {
    await destroyAll(started);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name:
    "snapshot: cairn -> etcdctl snapshot save/status/restore -> etcd 3.4 serves the same data; cairn -> cairn too",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withSource("cairn", async (source, dir, started) => {
      const w = await populate(source);
      const want = await dump(source, w);
      const file = `${dir}/cairn.db`;
      const bytes = await save(source, file);
      // A bbolt database of whole 4 KiB pages, then etcd's SHA-256 trailer.
      assert.equal(bytes.length % 4096, 32);
      await sameStatus(file);
      assert.equal(await statusRevision(file), want.revision);

      const [etcd] = await restoredHolding("etcd", file, w, want, started);
      // Writes go on from the same revision.
      const next = await clients(etcd).kv.put({ key: enc("after"), value: enc("1") });
      assert.equal(next.header!.revision, want.revision + 1n);

      await restoredHolding("cairn", file, w, want, started);
    }),
});

Deno.test({
  name:
    "snapshot: etcd 3.4 -> etcdctl snapshot save -> cairn snapshot restore: one member and a 3-member cluster serve the same data",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withSource("etcd", async (source, dir, started) => {
      const w = await populate(source);
      const want = await dump(source, w);
      const file = `${dir}/etcd.db`;
      await save(source, file);
      await sameStatus(file);
      await assertCompactedAt(source, w);

      const [one] = await restoredHolding("cairn", file, w, want, started);
      await one.destroy();

      const three = await restoredHolding("cairn", file, w, want, started, 3);
      const put = await clients(three[0]).kv.put({ key: enc("after"), value: enc("1") });
      assert.equal(put.header!.revision, want.revision + 1n);
      for (const m of three) {
        const got = await clients(m).kv.range({ key: enc("after") });
        assert.equal(dec(got.kvs[0]?.value ?? new Uint8Array()), "1", m.name);
      }
      const members = await etcdctlOk(three[1].endpoint, ["member", "list"]);
      assert.equal(members.trim().split("\n").length, 3, members);
      // A member without quorum still serves a snapshot (a local read, as etcd's).
      await three[0].kill();
      await three[1].kill();
      const lone = await save(three[2], `${dir}/lone.db`);
      assert.equal(lone.length % 4096, 32);
      assert.equal(await statusRevision(`${dir}/lone.db`), want.revision + 1n);
    }),
});

Deno.test({
  name: "snapshot: a damaged file is refused with etcd's message and leaves no data dir",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withSource("cairn", async (source, dir) => {
      await clients(source).kv.put({ key: enc("a"), value: enc("1") });
      const bytes = await save(source, `${dir}/good.db`);
      const bad = bytes.slice();
      bad[5000] ^= 0xff;
      await Deno.writeFile(`${dir}/bad.db`, bad);
      await Deno.writeFile(`${dir}/nohash.db`, bytes.subarray(0, bytes.length - 32));
      for (
        const [name, expect] of [["bad.db", /^Error: expected sha256 \[/], [
          "nohash.db",
          /^Error: snapshot missing hash/,
        ]] as const
      ) {
        const args = (
          d: string,
        ) => ["snapshot", "restore", `${dir}/${name}`, `--data-dir=${dir}/${d}`];
        const ours = await cairn(args(`${name}.cairn`));
        const theirs = await ctl(args(`${name}.etcd`));
        assert.equal(ours.code, 1, ours.stderr);
        assert.equal(theirs.code, 1, theirs.stderr);
        const last = (s: string) => s.trim().split("\n").at(-1) ?? "";
        assert.match(last(ours.stderr), expect);
        assert.equal(last(ours.stderr), last(theirs.stderr));
        await assert.rejects(Deno.stat(`${dir}/${name}.cairn`), Deno.errors.NotFound);
      }
      // --skip-hash-check takes a file without the trailer (a copied db file).
      const skipped = await cairn([
        "snapshot",
        "restore",
        `${dir}/nohash.db`,
        `--data-dir=${dir}/skip`,
        "--skip-hash-check",
      ]);
      assert.equal(skipped.code, 0, skipped.stderr);
      // A file that is no database at all.
      await Deno.writeFile(`${dir}/junk.db`, enc("hello\n"));
      const junk = await cairn(["snapshot", "status", `${dir}/junk.db`]);
      assert.equal(junk.code, 1);
      assert.equal(
        junk.stderr.trim(),
        (await ctl(["snapshot", "status", `${dir}/junk.db`])).stderr.trim(),
      );
    }),
});

/** With auth enabled at the source, the restored member enforces the same users, passwords and roles. */
function authMigration(from: MemberKind, to: MemberKind) {
  return withSource(from, async (source, dir, started) => {
    const e = source.endpoint;
    for (
      const args of [
        ["put", "k/1", "one"],
        ["put", "other", "two"],
        ["user", "add", "root:rootpw"],
        ["user", "add", "alice:alicepw"],
        ["role", "add", "reader"],
        ["role", "grant-permission", "reader", "read", "k/", "--prefix"],
        ["user", "grant-role", "alice", "reader"],
        ["auth", "enable"],
      ]
    ) await etcdctlOk(e, args);
    const file = `${dir}/auth.db`;
    await etcdctlOk(e, ["--user=root:rootpw", "snapshot", "save", file], { timeoutMs: 60_000 });
    await sameStatus(file);
    const [target] = await startRestored(to, file);
    started.push(target);
    const t = target.endpoint;
    // alice reads under k/ with her old password, and nothing else.
    assert.equal(
      await etcdctlOk(t, ["--user=alice:alicepw", "get", "k/1", "--print-value-only"]),
      "one\n",
    );
    const denied = await etcdctl(t, ["--user=alice:alicepw", "get", "other"]);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /permission denied/);
    const wrong = await etcdctl(t, ["--user=alice:nope", "get", "k/1"]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /authentication failed, invalid user ID or password/);
    // Without credentials nothing is served: auth stayed enabled.
    const anon = await etcdctl(t, ["get", "k/1"]);
    assert.notEqual(anon.code, 0);
    assert.equal(
      await etcdctlOk(t, ["--user=root:rootpw", "get", "other", "--print-value-only"]),
      "two\n",
    );
  });
}

Deno.test({
  name:
    "snapshot: auth enabled on etcd 3.4 stays enabled on the restored cairn, with the same passwords and permissions",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => authMigration("etcd", "cairn"),
});

Deno.test({
  name:
    "snapshot: auth enabled on cairn stays enabled on the restored etcd 3.4, with the same passwords and permissions",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => authMigration("cairn", "etcd"),
});
