/**
 * Regression tests named after etcd's auth vulnerabilities: each asserts
 * that cairn refuses what the vulnerable etcd allowed. etcd 3.4.23 (the
 * Debian reference) fails every one of them, as their names say: run this
 * file with AUTH_TEST_TARGET=etcd to see it (checked: 6 of 6 fail there).
 *
 * One member serves the whole file. Its users:
 * - root (role root);
 * - alice (role ra): READWRITE on prefix "a/", READ on the single key
 *   "single", WRITE (no READ) on prefix "w/".
 */
import assert from "node:assert/strict";
import {
  AlarmRequest_AlarmAction,
  AlarmRequestSchema,
  AlarmResponseSchema,
  AlarmType,
  CompactionRequestSchema,
  CompactionResponseSchema,
  DefragmentRequestSchema,
  DefragmentResponseSchema,
  HashKVRequestSchema,
  HashKVResponseSchema,
  LeaseGrantRequestSchema,
  LeaseGrantResponseSchema,
  LeaseLeasesRequestSchema,
  LeaseLeasesResponseSchema,
  LeaseTimeToLiveRequestSchema,
  LeaseTimeToLiveResponseSchema,
  MemberListRequestSchema,
  MemberListResponseSchema,
  MoveLeaderRequestSchema,
  MoveLeaderResponseSchema,
  PutRequestSchema,
  PutResponseSchema,
  type RequestOp,
  StatusRequestSchema,
  StatusResponseSchema,
  TxnRequestSchema,
  TxnResponseSchema,
} from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { RequestOpSchema } from "../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { AuthClient, b, GrpcError } from "./harness/auth_client.ts";
import { etcdctlOk } from "./harness/etcdctl.ts";
import { Member } from "./harness/member.ts";
import { skipIfToolsMissing } from "./harness/tools.ts";

const ignore = skipIfToolsMissing("auth_cve_test.ts");
const KIND = Deno.env.get("AUTH_TEST_TARGET") === "etcd" ? "etcd" : "cairn";

const DENIED = { code: 7, message: "etcdserver: permission denied" };
const NO_USER = { code: 3, message: "etcdserver: user name is empty" };

interface Fixture {
  member: Member;
  root: AuthClient;
  alice: AuthClient;
  anon: AuthClient;
  /** A lease with the key "secret/k" attached (alice may not read it). */
  secretLease: bigint;
  /** A lease with the key "a/leased" attached (alice may read it). */
  ownLease: bigint;
}

let shared: Promise<Fixture> | undefined;

async function setup(): Promise<Fixture> {
  const member = await Member.start({ kind: KIND, name: "cve", extraArgs: ["--log-level=warn"] });
  const ctl = (...args: string[]) => etcdctlOk(member.endpoint, args);
  await ctl("user", "add", "root:rootpw");
  await ctl("user", "grant-role", "root", "root").catch(async () => {
    await ctl("role", "add", "root");
    await ctl("user", "grant-role", "root", "root");
  });
  await ctl("user", "add", "alice:alicepw");
  await ctl("role", "add", "ra");
  await ctl("role", "grant-permission", "ra", "readwrite", "a/", "--prefix=true");
  await ctl("role", "grant-permission", "ra", "read", "single");
  await ctl("role", "grant-permission", "ra", "write", "w/", "--prefix=true");
  await ctl("user", "grant-role", "alice", "ra");
  await ctl("auth", "enable");
  const root = new AuthClient(member.clientUrl);
  await root.login("root", "rootpw");
  const alice = new AuthClient(member.clientUrl);
  await alice.login("alice", "alicepw");
  const anon = new AuthClient(member.clientUrl);
  const grant = async () =>
    (await root.call(
      "/etcdserverpb.Lease/LeaseGrant",
      LeaseGrantRequestSchema,
      { TTL: 600n },
      LeaseGrantResponseSchema,
    )).ID;
  const secretLease = await grant();
  const ownLease = await grant();
  const put = (key: string, lease: bigint) =>
    root.call(
      "/etcdserverpb.KV/Put",
      PutRequestSchema,
      { key: b(key), value: b("v"), lease },
      PutResponseSchema,
    );
  await put("secret/k", secretLease);
  await put("a/leased", ownLease);
  await put("w/1", 0n);
  return { member, root, alice, anon, secretLease, ownLease };
}

function fixture(): Promise<Fixture> {
  shared ??= setup();
  return shared;
}

function test(name: string, fn: (f: Fixture) => Promise<void>): void {
  Deno.test({
    name,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => fn(await fixture()),
  });
}

async function refused(
  call: Promise<unknown>,
  want: { code: number; message: string },
  what: string,
): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof GrpcError)) throw err;
    assert.equal(err.message, `grpc status ${want.code}: ${want.message}`, what);
    return;
  }
  assert.fail(`${what}: allowed, expected "${want.message}"`);
}

const txn = (c: AuthClient, req: MessageInitShape<typeof TxnRequestSchema>) =>
  c.call("/etcdserverpb.KV/Txn", TxnRequestSchema, req, TxnResponseSchema);

const op = (request: MessageInitShape<typeof RequestOpSchema>["request"]): RequestOp =>
  create(RequestOpSchema, { request });

test(
  "CVE-2023-32082: LeaseTimeToLive shows attached keys only to who may read them " +
    "(etcd 3.4.23 fails this)",
  async (f) => {
    const ttl = (c: AuthClient, ID: bigint, keys: boolean) =>
      c.call(
        "/etcdserverpb.Lease/LeaseTimeToLive",
        LeaseTimeToLiveRequestSchema,
        { ID, keys },
        LeaseTimeToLiveResponseSchema,
      );
    await refused(ttl(f.alice, f.secretLease, true), DENIED, "keys of a lease on secret/k");
    assert.ok((await ttl(f.alice, f.secretLease, false)).TTL > 0n, "without keys: allowed");
    const own = await ttl(f.alice, f.ownLease, true);
    assert.deepEqual(own.keys.map((k) => new TextDecoder().decode(k)), ["a/leased"]);
    const all = await ttl(f.root, f.secretLease, true);
    assert.deepEqual(all.keys.map((k) => new TextDecoder().decode(k)), ["secret/k"]);
  },
);

test(
  "CVE-2026-33413: Compact, LeaseLeases, alarm changes, MoveLeader and the rest of " +
    "Maintenance need root (etcd 3.4.23 fails this)",
  async (f) => {
    const a = f.alice;
    await refused(
      a.call(
        "/etcdserverpb.KV/Compact",
        CompactionRequestSchema,
        { revision: 2n },
        CompactionResponseSchema,
      ),
      DENIED,
      "Compact",
    );
    await refused(
      a.call(
        "/etcdserverpb.Lease/LeaseLeases",
        LeaseLeasesRequestSchema,
        {},
        LeaseLeasesResponseSchema,
      ),
      DENIED,
      "LeaseLeases",
    );
    for (const action of [AlarmRequest_AlarmAction.ACTIVATE, AlarmRequest_AlarmAction.DEACTIVATE]) {
      await refused(
        a.call(
          "/etcdserverpb.Maintenance/Alarm",
          AlarmRequestSchema,
          { action, alarm: AlarmType.NOSPACE, memberID: 1n },
          AlarmResponseSchema,
        ),
        DENIED,
        `Alarm ${AlarmRequest_AlarmAction[action]}`,
      );
    }
    await refused(
      a.call(
        "/etcdserverpb.Maintenance/MoveLeader",
        MoveLeaderRequestSchema,
        { targetID: 1n },
        MoveLeaderResponseSchema,
      ),
      DENIED,
      "MoveLeader",
    );
    await refused(
      a.call(
        "/etcdserverpb.Maintenance/Defragment",
        DefragmentRequestSchema,
        {},
        DefragmentResponseSchema,
      ),
      DENIED,
      "Defragment",
    );
    await refused(
      a.call("/etcdserverpb.Maintenance/HashKV", HashKVRequestSchema, {}, HashKVResponseSchema),
      DENIED,
      "HashKV",
    );
    // Root may: the refusals above are about who asks.
    const leases = await f.root.call(
      "/etcdserverpb.Lease/LeaseLeases",
      LeaseLeasesRequestSchema,
      {},
      LeaseLeasesResponseSchema,
    );
    assert.ok(leases.leases.length >= 2);
  },
);

test(
  "CVE-2026-33413: Status, MemberList and alarm listing need an authenticated user " +
    "(etcd 3.4.23 fails this)",
  async (f) => {
    await refused(
      f.anon.call(
        "/etcdserverpb.Maintenance/Status",
        StatusRequestSchema,
        {},
        StatusResponseSchema,
      ),
      NO_USER,
      "Status without credentials",
    );
    await refused(
      f.anon.call(
        "/etcdserverpb.Cluster/MemberList",
        MemberListRequestSchema,
        {},
        MemberListResponseSchema,
      ),
      NO_USER,
      "MemberList without credentials",
    );
    await refused(
      f.anon.call(
        "/etcdserverpb.Maintenance/Alarm",
        AlarmRequestSchema,
        { action: AlarmRequest_AlarmAction.GET },
        AlarmResponseSchema,
      ),
      NO_USER,
      "Alarm GET without credentials",
    );
    // Any authenticated user may.
    await f.alice.call(
      "/etcdserverpb.Maintenance/Status",
      StatusRequestSchema,
      {},
      StatusResponseSchema,
    );
    const members = await f.alice.call(
      "/etcdserverpb.Cluster/MemberList",
      MemberListRequestSchema,
      {},
      MemberListResponseSchema,
    );
    assert.equal(members.members.length, 1);
  },
);

test(
  "CVE-2026-33343: ops nested in a Txn are checked like top-level ones (etcd 3.4.23 fails this)",
  async (f) => {
    const nested = (inner: RequestOp) => ({
      success: [op({ case: "requestTxn", value: { success: [inner] } })],
    });
    await refused(
      txn(
        f.alice,
        nested(op({ case: "requestPut", value: { key: b("secret/x"), value: b("1") } })),
      ),
      DENIED,
      "nested put",
    );
    await refused(
      txn(f.alice, nested(op({ case: "requestRange", value: { key: b("secret/k") } }))),
      DENIED,
      "nested range",
    );
    await refused(
      txn(f.alice, {
        success: [
          op({
            case: "requestTxn",
            value: { failure: [op({ case: "requestDeleteRange", value: { key: b("secret/k") } })] },
          }),
        ],
      }),
      DENIED,
      "nested delete in the failure branch",
    );
    await refused(
      txn(f.alice, { compare: [{ key: b("secret/k"), target: 1 }] }),
      DENIED,
      "compare on an unreadable key",
    );
    const ok = await txn(
      f.alice,
      nested(op({ case: "requestPut", value: { key: b("a/n"), value: b("1") } })),
    );
    assert.ok(ok.succeeded);
  },
);

test(
  "CVE-2026-33343: prev_kv and leases inside a Txn are checked (etcd 3.4.23 fails this)",
  async (f) => {
    await refused(
      txn(f.alice, {
        success: [
          op({ case: "requestPut", value: { key: b("w/1"), value: b("2"), prevKv: true } }),
        ],
      }),
      DENIED,
      "put with prev_kv on a write-only key",
    );
    await refused(
      txn(f.alice, {
        success: [op({ case: "requestDeleteRange", value: { key: b("w/1"), prevKv: true } })],
      }),
      DENIED,
      "delete with prev_kv on a write-only key",
    );
    await refused(
      txn(f.alice, {
        success: [
          op({ case: "requestPut", value: { key: b("a/y"), value: b("1"), lease: f.secretLease } }),
        ],
      }),
      DENIED,
      "put attaching a lease that holds an unwritable key",
    );
    const ok = await txn(f.alice, {
      success: [op({ case: "requestPut", value: { key: b("w/1"), value: b("3") } })],
    });
    assert.ok(ok.succeeded, "the same put without prev_kv is allowed");
  },
);

test(
  'GHSA-xg4h-6gfc-h4m8: a watch whose range end "\\0" reaches past the permission is refused ' +
    "(etcd 3.4.23 fails this)",
  async (f) => {
    const fromKey = await f.alice.watchCreate({ key: b("single"), rangeEnd: new Uint8Array([0]) });
    assert.equal(fromKey.first.created, true);
    assert.equal(fromKey.first.canceled, true, "a >= single watch must be canceled");
    assert.equal(
      fromKey.first.cancelReason,
      "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
    );
    const point = await f.alice.watchCreate({ key: b("single") });
    assert.equal(point.first.created, true);
    assert.equal(point.first.canceled, false, "the single key itself may be watched");
    const prefix = await f.alice.watchCreate({ key: b("a/"), rangeEnd: b("a0") });
    assert.equal(prefix.first.canceled, false);
  },
);

Deno.test({
  name: "auth CVEs: stop the member",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    if (!shared) return;
    const f = await shared;
    for (const c of [f.root, f.alice, f.anon]) c.close();
    await f.member.destroy();
  },
});
