/**
 * etcd's backend schema (etcd 3.4/3.5 `mvcc/backend` buckets) mapped to
 * cairn's replicated state (a `StateSnapshot`) and back, so that a snapshot
 * saved from cairn is a database etcd opens, and one saved from etcd
 * becomes cairn state with the same keys, values, revisions, versions,
 * leases, compaction revision, auth users/roles and members.
 *
 * Buckets and values, as etcd writes them:
 * - `key`: revision key (main u64 BE, `_`, sub u64 BE, plus `t` for a
 *   tombstone) -> marshalled mvccpb.KeyValue (a tombstone carries only the key);
 * - `meta`: `consistent_index` (u64 BE), `finishedCompactRev` and
 *   `scheduledCompactRev` (revision keys with sub 0);
 * - `lease`: lease id (u64 BE) -> leasepb.Lease {ID, TTL, RemainingTTL};
 * - `members`: member id in hex -> Go JSON of the member; `members_removed`:
 *   id in hex -> `removed`;
 * - `cluster`: `clusterVersion` -> "3.5.0";
 * - `alarm`: marshalled AlarmMember -> empty;
 * - `auth`: `authEnabled` ([1] or [0]), `authRevision` (u64 BE);
 *   `authUsers`/`authRoles`: name -> marshalled authpb.User/Role.
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type AuthSnapshot,
  AuthSnapshotSchema,
  LeaseRecordSchema,
  LeaseSnapshotSchema,
  type MemberRecord,
  MemberRecordSchema,
  type StateSnapshot,
  StateSnapshotSchema,
} from "../gen/cairn/internal_pb.ts";
import { RoleSchema, UserSchema } from "../gen/etcd/api/authpb/auth_pb.ts";
import { type AlarmMember, AlarmMemberSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { encodeStore } from "../mvcc/codec.ts";
import { KeyIndex } from "../mvcc/history.ts";
import { StoreView, type ViewRecord } from "../mvcc/view.ts";
import { EMPTY_BYTES, toBinary as toBkey } from "../mvcc/keys.ts";
import { MvccStore } from "../mvcc/store.ts";
import { CLUSTER_VERSION } from "../version.ts";
import type { BoltReader } from "../bbolt/reader.ts";
import { type BoltBucketInput, type BoltEntry, compareKeys } from "../bbolt/writer.ts";
import { ProtoReader, WireError } from "../wire/proto_reader.ts";
import { MAX_VARINT_BYTES, writeUint64Varint, writeVarint } from "../wire/varint.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Bucket and key names of etcd's schema. */
export const BUCKETS = {
  key: "key",
  meta: "meta",
  lease: "lease",
  members: "members",
  membersRemoved: "members_removed",
  cluster: "cluster",
  alarm: "alarm",
  auth: "auth",
  authUsers: "authUsers",
  authRoles: "authRoles",
} as const;

const REV_KEY_SIZE = 17;
const TOMBSTONE_MARK = 0x74; // 't'

/** The revision key etcd stores a version under: main and sub as u64 BE joined by `_`. */
export function revisionKey(main: number, sub: number, tombstone = false): Uint8Array {
  const b = new Uint8Array(tombstone ? REV_KEY_SIZE + 1 : REV_KEY_SIZE);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(main), false);
  b[8] = 0x5f; // '_'
  v.setBigUint64(9, BigInt(sub), false);
  if (tombstone) b[REV_KEY_SIZE] = TOMBSTONE_MARK;
  return b;
}

/** Parses a revision key; throws on anything that is not one. */
export function parseRevisionKey(k: Uint8Array): { main: number; sub: number; tombstone: boolean } {
  const ok =
    (k.length === REV_KEY_SIZE || (k.length === REV_KEY_SIZE + 1 && k[17] === TOMBSTONE_MARK)) &&
    k[8] === 0x5f;
  if (!ok) throw new EtcdSchemaError(`bucket key: malformed revision key ${hex(k)}`);
  const v = new DataView(k.buffer, k.byteOffset, k.byteLength);
  return {
    main: Number(v.getBigUint64(0, false)),
    sub: Number(v.getBigUint64(9, false)),
    tombstone: k.length > REV_KEY_SIZE,
  };
}

/** The database holds something etcd's schema does not allow. */
export class EtcdSchemaError extends Error {
  /** @param message what is wrong and where */
  constructor(message: string) {
    super(message);
    this.name = "EtcdSchemaError";
  }
}

function u64be(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n), false);
  return b;
}

function readU64be(b: Uint8Array, what: string): bigint {
  if (b.length !== 8) throw new EtcdSchemaError(`${what}: expected 8 bytes, got ${b.length}`);
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false);
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ---- protobuf fast paths for the big buckets (field order as gogo writes it) ----

/** Appends protobuf varints and fields to a growable buffer. */
class PbOut {
  buf = new Uint8Array(64);
  len = 0;

  #room(n: number) {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(n: bigint) {
    this.#room(MAX_VARINT_BYTES);
    this.len = writeUint64Varint(this.buf, this.len, n);
  }

  smallVarint(n: number) {
    this.#room(MAX_VARINT_BYTES);
    this.len = writeVarint(this.buf, this.len, n);
  }

  /** An int64 field, left out when zero (proto3). */
  int64(field: number, n: bigint | number) {
    if (n === 0 || n === 0n) return;
    this.smallVarint(field << 3);
    if (typeof n === "number" && n >= 0) this.smallVarint(n);
    else this.varint(BigInt(n));
  }

  /** A bytes field, left out when empty (proto3). */
  bytes(field: number, b: Uint8Array) {
    if (b.length === 0) return;
    this.smallVarint((field << 3) | 2);
    this.smallVarint(b.length);
    this.#room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}

/** mvccpb.KeyValue of one stored version, as etcd marshals it into the `key` bucket. */
function keyValueBytes(out: PbOut, v: ViewRecord): Uint8Array {
  out.bytes(1, v.key);
  if (v.ver === 0) return out.take(); // etcd's tombstone: KeyValue{Key}
  out.int64(2, v.create);
  out.int64(3, v.main);
  out.int64(4, v.ver);
  out.bytes(5, v.value);
  out.int64(6, v.lease);
  return out.take();
}

interface DecodedKv {
  key: Uint8Array;
  create: number;
  mod: number;
  ver: number;
  value: Uint8Array;
  lease: bigint;
}

/**
 * Decodes mvccpb.KeyValue (unknown fields skipped, as protobuf does).
 * Revisions and versions are read as plain numbers (they stay far below
 * 2^53); only a lease id, which may use all 63 bits, goes through BigInt.
 */
function decodeKeyValue(b: Uint8Array, where: string): DecodedKv {
  const kv: DecodedKv = {
    key: EMPTY_BYTES,
    create: 0,
    mod: 0,
    ver: 0,
    value: EMPTY_BYTES,
    lease: 0n,
  };
  const r = new ProtoReader(b, 0, b.length);
  try {
    while (r.pos < r.end) {
      const tag = r.num();
      const field = tag >>> 3;
      const wire = tag & 7;
      if (wire === 0 && field === 6) kv.lease = BigInt.asIntN(64, r.uint64());
      else if (wire === 0) {
        const n = r.num();
        if (field === 2) kv.create = n;
        else if (field === 3) kv.mod = n;
        else if (field === 4) kv.ver = n;
      } else if (wire === 2 && (field === 1 || field === 5)) {
        const bytes = r.bytes();
        if (bytes.length === 0) continue;
        if (field === 1) kv.key = bytes;
        else kv.value = bytes;
      } else r.skip(tag);
    }
  } catch (e) {
    throw schemaError(e, where, "KeyValue");
  }
  return kv;
}

/** Malformed protobuf found by the reader, as this module's error naming the record. */
function schemaError(e: unknown, where: string, what: string): unknown {
  if (!(e instanceof WireError)) return e;
  const d = e.detail;
  if (d.startsWith("truncated") || d.includes("overruns")) {
    return new EtcdSchemaError(`${where}: truncated ${what}`);
  }
  const wire = d.match(/^unsupported wire type (\d+)/);
  if (wire) return new EtcdSchemaError(`${where}: unsupported wire type ${wire[1]} in ${what}`);
  return new EtcdSchemaError(`${where}: bad varint in ${what}`);
}

// ---- cairn -> etcd ----

/** What the database records beside the state machine. */
export interface EtcdDbOptions {
  /** The applied Raft index the state corresponds to (`meta/consistent_index`). */
  consistentIndex: bigint;
}

function* keyBucket(view: StoreView): Generator<BoltEntry> {
  const out = new PbOut();
  for (let i = 0; i < view.length; i++) {
    const v = view.at(i);
    yield [revisionKey(v.main, v.sub, v.ver === 0), keyValueBytes(out, v)];
  }
}

function sortedEntries(entries: BoltEntry[]): BoltEntry[] {
  return entries.sort((a, b) => compareKeys(a[0], b[0]));
}

/** Go's encoding/json of one member as etcd stores it in the `members` bucket. */
export function memberJson(m: MemberRecord): string {
  // Field order and omitempty as etcd's membership.Member marshals.
  let s = `{"id":${m.id.toString(10)},"peerURLs":${JSON.stringify(m.peerUrls)}`;
  if (m.isLearner) s += `,"isLearner":true`;
  if (m.name !== "") s += `,"name":${JSON.stringify(m.name)}`;
  if (m.clientUrls.length > 0) s += `,"clientURLs":${JSON.stringify(m.clientUrls)}`;
  return s + "}";
}

/**
 * etcd's buckets for the store as `view` saw it and the rest of the state
 * (`state`'s members, alarms, leases and auth; its `mvcc` field is not
 * read), in name order. The `key` bucket's entries are made from the view
 * each time they are iterated, never all held at once.
 */
export function etcdBuckets(
  view: StoreView,
  state: StateSnapshot,
  opts: EtcdDbOptions,
): BoltBucketInput[] {
  const leases = state.leases.length > 0
    ? fromBinary(LeaseSnapshotSchema, state.leases).leases
    : [];
  const auth = state.auth ?? create(AuthSnapshotSchema, {});

  const meta: BoltEntry[] = [[enc.encode("consistent_index"), u64be(opts.consistentIndex)]];
  if (view.compactRevision > 0) {
    const rev = revisionKey(view.compactRevision, 0);
    meta.push([enc.encode("finishedCompactRev"), rev], [enc.encode("scheduledCompactRev"), rev]);
  }
  const authEntries: BoltEntry[] = [[enc.encode("authRevision"), u64be(auth.revision)]];
  if (auth.enabled) authEntries.push([enc.encode("authEnabled"), Uint8Array.of(1)]);

  const named: [string, Iterable<BoltEntry>][] = [
    [
      BUCKETS.alarm,
      sortedEntries(state.alarms.map((a) => [toBinary(AlarmMemberSchema, a), EMPTY_BYTES])),
    ],
    [BUCKETS.auth, sortedEntries(authEntries)],
    [BUCKETS.authRoles, sortedEntries(auth.roles.map((r) => [r.name, toBinary(RoleSchema, r)]))],
    [BUCKETS.authUsers, sortedEntries(auth.users.map((u) => [u.name, toBinary(UserSchema, u)]))],
    [BUCKETS.cluster, [[enc.encode("clusterVersion"), enc.encode(CLUSTER_VERSION)]]],
    // Iterable again from the start: the writer reads it twice (layout, then pages).
    [BUCKETS.key, { [Symbol.iterator]: () => keyBucket(view) }],
    [
      BUCKETS.lease,
      sortedEntries(leases.map((l) => {
        const out = new PbOut();
        out.int64(1, l.id);
        out.int64(2, l.ttl);
        out.int64(3, l.remainingTtl);
        return [u64be(l.id), out.take()];
      })),
    ],
    [
      BUCKETS.members,
      sortedEntries(
        state.members.map((m) => [enc.encode(m.id.toString(16)), enc.encode(memberJson(m))]),
      ),
    ],
    [
      BUCKETS.membersRemoved,
      sortedEntries(
        state.removedMembers.map((id) => [enc.encode(id.toString(16)), enc.encode("removed")]),
      ),
    ],
    [BUCKETS.meta, sortedEntries(meta)],
  ];
  return named.map(([name, entries]) => ({ name: enc.encode(name), entries }));
}

// ---- etcd -> cairn ----

/** cairn state read from an etcd database, plus what etcd keeps beside it. */
export interface DecodedEtcdDb {
  state: StateSnapshot;
  /** `meta/consistent_index` (0 when absent). */
  consistentIndex: bigint;
  /** `cluster/clusterVersion`, if recorded. */
  clusterVersion?: string;
  /** Ids recorded in `members_removed`. */
  removedMembers: bigint[];
  /** The store's current revision. */
  revision: number;
  /** Stored revisions of keys (puts and tombstones) read. */
  revisions: number;
}

function metaRevision(db: BoltReader, name: string): number {
  for (const [k, v] of db.entries(BUCKETS.meta)) {
    if (dec.decode(k) === name) return parseRevisionKey(v).main;
  }
  return 0;
}

function parseMember(idHex: string, json: string): MemberRecord {
  if (!/^[0-9a-f]{1,16}$/.test(idHex)) {
    throw new EtcdSchemaError(`bucket members: malformed member id ${JSON.stringify(idHex)}`);
  }
  let m: { peerURLs?: unknown; isLearner?: unknown; name?: unknown; clientURLs?: unknown };
  try {
    m = JSON.parse(json);
  } catch {
    throw new EtcdSchemaError(`bucket members: member ${idHex} is not JSON`);
  }
  const strings = (x: unknown) =>
    Array.isArray(x) ? x.filter((s): s is string => typeof s === "string") : [];
  return create(MemberRecordSchema, {
    id: BigInt(`0x${idHex}`),
    name: typeof m.name === "string" ? m.name : "",
    peerUrls: strings(m.peerURLs),
    clientUrls: strings(m.clientURLs),
    isLearner: m.isLearner === true,
  });
}

/**
 * Reads etcd's buckets into cairn state. The history is kept exactly
 * (every retained revision, tombstones included); a compaction etcd had
 * scheduled but not finished is completed, as etcd does when it opens the
 * database. `onProgress` hears the count of revisions read every 10,000.
 */
export function stateFromEtcd(
  db: BoltReader,
  onProgress?: (revisionsRead: number) => void,
): DecodedEtcdDb {
  const index = new KeyIndex();
  let last = 0;
  let lastSub = -1;
  let n = 0;
  for (const [k, v] of db.entries(BUCKETS.key)) {
    if (onProgress && ++n % 10_000 === 0) onProgress(n);
    const rev = parseRevisionKey(k);
    const where = `bucket key, revision ${rev.main}_${rev.sub}`;
    if (rev.main < last || (rev.main === last && rev.sub <= lastSub)) {
      throw new EtcdSchemaError(`${where}: out of order`);
    }
    last = rev.main;
    lastSub = rev.sub;
    const kv = decodeKeyValue(v, where);
    if (rev.tombstone) {
      index.add(toBkey(kv.key), kv.key, EMPTY_BYTES, rev.main, rev.sub, 0, 0, 0n);
    } else {
      if (kv.ver <= 0 || kv.create <= 0) {
        throw new EtcdSchemaError(`${where}: a put without version`);
      }
      index.add(toBkey(kv.key), kv.key, kv.value, rev.main, rev.sub, kv.create, kv.ver, kv.lease);
    }
  }
  const finished = metaRevision(db, "finishedCompactRev");
  const scheduled = metaRevision(db, "scheduledCompactRev");
  const compactRev = finished > 0 ? finished : -1;
  // etcd starts from the newest stored revision, or the compaction point
  // when compaction removed everything after it.
  const currentRev = Math.max(1, last, finished);
  let mvcc = encodeStore(new StoreView(index.log, currentRev, compactRev));
  if (scheduled > finished && scheduled <= currentRev) {
    const store = MvccStore.restore(mvcc);
    store.compact(scheduled);
    mvcc = store.serialize();
  }

  const leases = [...db.entries(BUCKETS.lease)].map(([k, v]) => {
    const l = decodeLease(v, `bucket lease, ${hex(k)}`);
    return create(LeaseRecordSchema, l);
  });

  let enabled = false;
  let revision = 0n;
  for (const [k, v] of db.entries(BUCKETS.auth)) {
    const name = dec.decode(k);
    if (name === "authEnabled") enabled = v.length === 1 && v[0] === 1;
    else if (name === "authRevision") revision = readU64be(v, "bucket auth, authRevision");
  }
  const auth: AuthSnapshot = create(AuthSnapshotSchema, {
    enabled,
    revision,
    users: [...db.entries(BUCKETS.authUsers)].map(([, v]) => fromBinary(UserSchema, v)),
    roles: [...db.entries(BUCKETS.authRoles)].map(([, v]) => fromBinary(RoleSchema, v)),
  });

  const members = [...db.entries(BUCKETS.members)]
    .map(([k, v]) => parseMember(dec.decode(k), dec.decode(v)))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const removedMembers = [...db.entries(BUCKETS.membersRemoved)].map(([k]) =>
    BigInt(`0x${dec.decode(k)}`)
  );
  const alarms: AlarmMember[] = [...db.entries(BUCKETS.alarm)].map(([k]) =>
    fromBinary(AlarmMemberSchema, k)
  );

  let consistentIndex = 0n;
  let clusterVersion: string | undefined;
  for (const [k, v] of db.entries(BUCKETS.meta)) {
    if (dec.decode(k) === "consistent_index") {
      consistentIndex = readU64be(v, "bucket meta, consistent_index");
    }
  }
  for (const [k, v] of db.entries(BUCKETS.cluster)) {
    if (dec.decode(k) === "clusterVersion") clusterVersion = dec.decode(v);
  }

  const state = create(StateSnapshotSchema, {
    mvcc,
    members,
    removedMembers,
    alarms,
    leases: toBinary(LeaseSnapshotSchema, create(LeaseSnapshotSchema, { leases })),
    auth,
  });
  return {
    state,
    consistentIndex,
    clusterVersion,
    removedMembers,
    revision: currentRev,
    revisions: index.log.length,
  };
}

function decodeLease(
  b: Uint8Array,
  where: string,
): { id: bigint; ttl: bigint; remainingTtl: bigint } {
  const out = { id: 0n, ttl: 0n, remainingTtl: 0n };
  const r = new ProtoReader(b, 0, b.length);
  while (r.pos < r.end) {
    let tag: number;
    let n: bigint;
    try {
      tag = r.num();
      if ((tag & 7) !== 0) throw new EtcdSchemaError(`${where}: unexpected field in Lease`);
      n = BigInt.asIntN(64, r.uint64());
    } catch (e) {
      throw schemaError(e, where, "Lease");
    }
    const field = tag >>> 3;
    if (field === 1) out.id = n;
    else if (field === 2) out.ttl = n;
    else if (field === 3) out.remainingTtl = n;
  }
  return out;
}
