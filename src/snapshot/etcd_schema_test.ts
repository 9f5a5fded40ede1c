import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  AuthSnapshotSchema,
  LeaseRecordSchema,
  LeaseSnapshotSchema,
  MemberRecordSchema,
  StateSnapshotSchema,
} from "../gen/cairn/internal_pb.ts";
import {
  Permission_Type,
  PermissionSchema,
  RoleSchema,
  UserSchema,
} from "../gen/etcd/api/authpb/auth_pb.ts";
import { AlarmMemberSchema, AlarmType } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { BoltReader } from "../bbolt/reader.ts";
import { buildBolt } from "../bbolt/writer.ts";
import { MvccStore } from "../mvcc/store.ts";
import { b, delReq, putReq } from "../mvcc/test_helpers.ts";
import {
  etcdBuckets,
  memberJson,
  parseRevisionKey,
  revisionKey,
  stateFromEtcd,
} from "./etcd_schema.ts";
import { snapshotStatus } from "./file.ts";

const dec = new TextDecoder();

function sampleStore(): MvccStore {
  const st = new MvccStore();
  st.put(putReq("a", "1"));
  st.put(putReq("b", "2", { lease: 0x77e6a24af8bb1208n }));
  st.put(putReq("a", "3"));
  st.deleteRange(delReq("b"));
  st.put(putReq("c", "x".repeat(10_000)));
  st.compact(3);
  for (let i = 0; i < 3000; i++) st.put(putReq(`k/${i % 700}`, `v${i}`));
  st.put(putReq("\u00ff\u0000bin", "z"));
  return st;
}

function sampleRest() {
  return create(StateSnapshotSchema, {
    members: [
      create(MemberRecordSchema, {
        id: 0xa87a472412f1f7e6n,
        name: "e1",
        peerUrls: ["http://127.0.0.1:2380"],
        clientUrls: ["http://127.0.0.1:2379"],
      }),
      create(MemberRecordSchema, {
        id: 0x12n,
        peerUrls: ["http://127.0.0.2:2380"],
        isLearner: true,
      }),
    ],
    removedMembers: [0x3bn, 0x8e9e05c52164694dn],
    alarms: [create(AlarmMemberSchema, { memberID: 0x12n, alarm: AlarmType.NOSPACE })],
    leases: toBinary(
      LeaseSnapshotSchema,
      create(LeaseSnapshotSchema, {
        leases: [
          create(LeaseRecordSchema, { id: 0x77e6a24af8bb1208n, ttl: 300n, remainingTtl: 120n }),
        ],
      }),
    ),
    auth: create(AuthSnapshotSchema, {
      enabled: true,
      revision: 9n,
      users: [create(UserSchema, { name: b("root"), password: b("$2a$10$x"), roles: ["root"] })],
      roles: [
        create(RoleSchema, {
          name: b("r1"),
          keyPermission: [
            create(PermissionSchema, {
              permType: Permission_Type.READWRITE,
              key: b("/x"),
              rangeEnd: b("/y"),
            }),
          ],
        }),
        create(RoleSchema, { name: b("root") }),
      ],
    }),
  });
}

Deno.test("etcd schema: revision keys are main and sub big-endian joined by '_', tombstones marked 't'", () => {
  const k = revisionKey(0x0102, 3, true);
  assert.equal(
    Array.from(k).map((x) => x.toString(16).padStart(2, "0")).join(""),
    "0000000000000102" + "5f" + "0000000000000003" + "74",
  );
  assert.deepEqual(parseRevisionKey(k), { main: 0x102, sub: 3, tombstone: true });
  assert.throws(() => parseRevisionKey(new Uint8Array(16)), /malformed revision key/);
});

Deno.test("etcd schema: members are stored as etcd's Go JSON", () => {
  const m = sampleRest().members;
  assert.equal(
    memberJson(m[0]),
    '{"id":12140093965792835558,"peerURLs":["http://127.0.0.1:2380"],"name":"e1","clientURLs":["http://127.0.0.1:2379"]}',
  );
  assert.equal(memberJson(m[1]), '{"id":18,"peerURLs":["http://127.0.0.2:2380"],"isLearner":true}');
});

Deno.test("etcd schema: cairn state -> etcd buckets -> cairn state keeps history, revisions, leases, auth, members, removed members, alarms", () => {
  const st = sampleStore();
  const rest = sampleRest();
  const db = buildBolt(etcdBuckets(st.pointInTime(), rest, { consistentIndex: 42n }));
  const reader = new BoltReader(db);
  assert.deepEqual(reader.bucketNames().map((n) => dec.decode(n)), [
    "alarm",
    "auth",
    "authRoles",
    "authUsers",
    "cluster",
    "key",
    "lease",
    "members",
    "members_removed",
    "meta",
  ]);
  // The key names etcd's auth store reads (etcd 3.4 authEnabled/authRevision).
  assert.deepEqual([...reader.entries("auth")].map(([k, v]) => [dec.decode(k), Array.from(v)]), [
    ["authEnabled", [1]],
    ["authRevision", [0, 0, 0, 0, 0, 0, 0, 9]],
  ]);
  const back = stateFromEtcd(reader);
  assert.equal(back.consistentIndex, 42n);
  const restored = MvccStore.restore(back.state.mvcc);
  assert.equal(restored.currentRevision, st.currentRevision);
  assert.equal(restored.compactRevision, 3);
  // Same history at every retained revision, byte for byte (HashKV covers keys, values, revisions).
  for (const rev of [4, 5, 100, st.currentRevision]) {
    assert.deepEqual(restored.hashKV(rev), st.hashKV(rev), `hashKV at ${rev}`);
  }
  assert.deepEqual(restored.serialize(), st.serialize());
  assert.deepEqual(back.state.members, [rest.members[1], rest.members[0]]);
  assert.deepEqual(back.state.alarms, rest.alarms);
  // etcd's members_removed: the id in hex -> "removed".
  assert.deepEqual(
    [...reader.entries("members_removed")].map(([k, v]) => [dec.decode(k), dec.decode(v)]),
    [["3b", "removed"], ["8e9e05c52164694d", "removed"]],
  );
  assert.deepEqual(back.state.removedMembers, rest.removedMembers);
  assert.deepEqual(
    fromBinary(LeaseSnapshotSchema, back.state.leases),
    fromBinary(LeaseSnapshotSchema, rest.leases),
  );
  assert.deepEqual(back.state.auth, rest.auth);
  // etcd's status counts every entry; the last key entry is the newest revision.
  const status = snapshotStatus(reader);
  assert.equal(status.revision, st.currentRevision);
  assert.equal(status.totalSize, db.length);
});

Deno.test("etcd schema: a compaction etcd scheduled but did not finish is completed on the way in", () => {
  const st = new MvccStore();
  st.put(putReq("a", "1"));
  st.put(putReq("a", "2"));
  st.put(putReq("a", "3"));
  const buckets = etcdBuckets(st.pointInTime(), sampleRest(), { consistentIndex: 1n });
  const meta = buckets.find((x) => dec.decode(x.name) === "meta")!;
  meta.entries = [...meta.entries, [b("scheduledCompactRev"), revisionKey(3, 0)]];
  const back = stateFromEtcd(new BoltReader(buildBolt(buckets)));
  const restored = MvccStore.restore(back.state.mvcc);
  assert.equal(restored.compactRevision, 3);
  assert.throws(() => restored.range({ key: b("a"), revision: 2n } as never));
});
