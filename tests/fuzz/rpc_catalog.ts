/**
 * Every RPC of the etcd v3 services, valid random requests for each (built
 * from the protobuf descriptors, so a new field is fuzzed without anyone
 * listing it), and the guard that keeps fuzzed requests from doing legal
 * but destructive things to the member under test.
 *
 * The guard exists because a fuzzed request that decodes is a real
 * request: a DeleteRange over everything, an alarm that stops writes or
 * a second voter that costs the single member its quorum are the API
 * working, and would hide what the fuzzer looks for (crashes and lost
 * acknowledged writes). The guard decodes a payload with the same
 * library and options as the server; a payload that does not decode goes
 * out unchanged (the server must refuse it), one that decodes to a
 * harmless request goes out unchanged too, and only a harmful one is
 * re-encoded with the harm removed.
 *
 * @module
 */
import {
  create,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  fromJsonString,
  type Message,
  type MessageInitShape,
  ScalarType,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import {
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  Auth,
  Cluster,
  type DeleteRangeRequest,
  type DowngradeRequest,
  DowngradeRequest_DowngradeAction,
  KV,
  Lease,
  Maintenance,
  type MemberAddRequest,
  type MemberPromoteRequest,
  type MemberRemoveRequest,
  type MemberUpdateRequest,
  type PutRequest,
  type RequestOp,
  type TxnRequest,
  Watch,
} from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { ACKED_PREFIX, ACKED_PREFIX_END } from "./live.ts";
import type { Rng } from "./rng.ts";

/** One RPC of an etcd service. */
export interface RpcMethod {
  /** `/etcdserverpb.KV/Range` */
  path: string;
  /** `KV.Range` */
  name: string;
  input: DescMessage;
  kind: DescMethod["methodKind"];
}

const SERVICES: DescService[] = [KV, Watch, Lease, Cluster, Maintenance, Auth];

/** Every method of every etcd v3 service, in descriptor order. */
export const RPC_METHODS: RpcMethod[] = SERVICES.flatMap((s) =>
  s.methods.map((m) => ({
    path: `/${s.typeName}/${m.name}`,
    name: `${s.name}.${m.name}`,
    input: m.input,
    kind: m.methodKind,
  }))
);

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Keys that make ranges interesting: empty, "\0" (etcd's "all keys"), prefixes, neighbours. */
const KEY_POOL = ["", "\0", "a", "foo", "foo0", "fz/", "fz/k1", "fz/k2", "fz0", "\xff", "k"];

function randomText(rng: Rng): string {
  if (rng.chance(0.7)) return rng.pick(KEY_POOL);
  const n = rng.size(40);
  let s = "";
  for (let i = 0; i < n; i++) {
    s += String.fromCharCode(rng.chance(0.9) ? rng.int(32, 126) : rng.below(0x800));
  }
  return s;
}

function randomBigint(rng: Rng, signed: boolean): bigint {
  const pick = rng.below(6);
  if (pick === 0) return 0n;
  if (pick === 1) return BigInt(rng.int(1, 20));
  if (pick === 2) return BigInt(rng.u32());
  if (pick === 3) return signed ? -BigInt(rng.int(1, 1000)) : BigInt(rng.int(21, 1000));
  if (pick === 4) return signed ? (1n << 63n) - 1n : (1n << 64n) - 1n;
  return BigInt.asUintN(64, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32())) >>
    (signed ? 1n : 0n);
}

function randomScalar(rng: Rng, t: ScalarType): unknown {
  switch (t) {
    case ScalarType.STRING:
      return randomText(rng);
    case ScalarType.BYTES:
      return rng.chance(0.8) ? enc.encode(rng.pick(KEY_POOL)) : rng.bytes(rng.size(64));
    case ScalarType.BOOL:
      return rng.chance(0.5);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return rng.pick([0, 1, -1, 0.5, 1e30, NaN, Infinity]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return randomBigint(rng, true);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return randomBigint(rng, false);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return rng.pick([0, 1, -1, 5, 100, 0x7fffffff, -0x80000000, rng.u32() | 0]);
    default: // uint32, fixed32
      return rng.pick([0, 1, 5, 100, 0xffffffff, rng.u32()]);
  }
}

function randomEnum(rng: Rng, field: DescField): number {
  const values = field.enum?.values ?? [];
  if (values.length === 0 || rng.chance(0.1)) return rng.int(-1, 20);
  return rng.pick(values).number;
}

function randomValue(rng: Rng, field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return randomScalar(rng, field.scalar);
    case "enum":
      return randomEnum(rng, field);
    case "message":
      return randomMessage(rng, field.message, depth + 1);
    case "list": {
      const n = rng.chance(0.5) ? rng.int(0, 3) : 0;
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) {
        if (field.listKind === "scalar") out.push(randomScalar(rng, field.scalar));
        else if (field.listKind === "enum") out.push(randomEnum(rng, field));
        else out.push(randomMessage(rng, field.message, depth + 1));
      }
      return out;
    }
    case "map":
      return {}; // the etcd API has no map fields
  }
}

/**
 * A random but valid message of `schema`: each field set or not, values
 * drawn from pools that reach edge cases (etcd's "\0" range end, zero and
 * maximal ids and revisions, unknown enum numbers). Nesting stops at
 * depth 3 so Txn trees stay small.
 */
export function randomMessage(rng: Rng, schema: DescMessage, depth = 0): Message {
  const init: Record<string, unknown> = {};
  if (depth < 3) {
    for (const oneof of schema.oneofs) {
      if (rng.chance(0.7)) {
        const field = rng.pick(oneof.fields);
        init[oneof.localName] = { case: field.localName, value: randomValue(rng, field, depth) };
      }
    }
    for (const field of schema.fields) {
      if (field.oneof !== undefined || rng.chance(0.4)) continue;
      if (field.fieldKind === "message" && depth >= 2) continue;
      init[field.localName] = randomValue(rng, field, depth);
    }
  }
  return create(schema, init as MessageInitShape<DescMessage>);
}

/** Facts about the member under test that the guard needs. */
export interface GuardContext {
  /** The member's own id (it must not be removed, updated or promoted). */
  selfId: bigint;
}

const ACKED_LO = enc.encode(ACKED_PREFIX);
const ACKED_HI = enc.encode(ACKED_PREFIX_END);

function cmp(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Whether etcd's range [key, rangeEnd) (single key, "\0" = to the end) meets the acked keys. */
export function touchesAcked(key: Uint8Array, rangeEnd: Uint8Array): boolean {
  if (rangeEnd.length === 0) return cmp(key, ACKED_LO) >= 0 && cmp(key, ACKED_HI) < 0;
  const toEnd = rangeEnd.length === 1 && rangeEnd[0] === 0;
  const hiEnd = toEnd ? undefined : rangeEnd;
  // [key, hiEnd) ∩ [LO, HI) is non-empty iff key < HI and LO < hiEnd.
  return cmp(key, ACKED_HI) < 0 && (hiEnd === undefined || cmp(ACKED_LO, hiEnd) < 0);
}

/** Moves a key out of the acknowledged-writes space, keeping the rest of it. */
function moveKey(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 3);
  out.set(enc.encode("fz/"));
  out.set(key, 3);
  return out;
}

/** Makes a Put or DeleteRange leave the acknowledged writes alone; true if it changed. */
function fixWrite(req: PutRequest | DeleteRangeRequest, hasRange: boolean): boolean {
  const end = hasRange ? (req as DeleteRangeRequest).rangeEnd : new Uint8Array(0);
  if (!touchesAcked(req.key, end)) return false;
  req.key = moveKey(req.key);
  if (hasRange) (req as DeleteRangeRequest).rangeEnd = new Uint8Array(0);
  return true;
}

function fixTxn(txn: TxnRequest): boolean {
  let changed = false;
  const fixOp = (op: RequestOp) => {
    const r = op.request;
    if (r.case === "requestPut") changed = fixWrite(r.value, false) || changed;
    else if (r.case === "requestDeleteRange") changed = fixWrite(r.value, true) || changed;
    else if (r.case === "requestTxn") changed = fixTxn(r.value) || changed;
  };
  txn.success.forEach(fixOp);
  txn.failure.forEach(fixOp);
  return changed;
}

/** A peer URL nothing listens on (port 1 is never bound by the tests). */
const DEAD_PEER_URL = "http://127.0.0.1:1";

/** Removes the harm from a decoded request in place; true when it changed anything. */
function disarm(method: RpcMethod, msg: Message, ctx: GuardContext): boolean {
  switch (method.name) {
    case "KV.Put":
      return fixWrite(msg as PutRequest, false);
    case "KV.DeleteRange":
      return fixWrite(msg as DeleteRangeRequest, true);
    case "KV.Txn":
      return fixTxn(msg as TxnRequest);
    case "Cluster.MemberAdd": {
      // A second voter that never starts would cost the member its quorum;
      // a learner at a dead address costs nothing.
      const req = msg as MemberAddRequest;
      const fine = req.isLearner && req.peerURLs.every((u) => u === DEAD_PEER_URL);
      if (fine || req.peerURLs.length === 0) return false;
      req.isLearner = true;
      req.peerURLs = [DEAD_PEER_URL];
      return true;
    }
    case "Cluster.MemberRemove":
    case "Cluster.MemberUpdate":
    case "Cluster.MemberPromote": {
      const req = msg as MemberRemoveRequest | MemberUpdateRequest | MemberPromoteRequest;
      if (req.ID !== ctx.selfId) return false;
      req.ID = ctx.selfId ^ 0x5a5an;
      return true;
    }
    case "Maintenance.Alarm": {
      const req = msg as AlarmRequest;
      if (req.action !== AlarmRequest_AlarmAction.ACTIVATE) return false;
      req.action = AlarmRequest_AlarmAction.GET;
      return true;
    }
    case "Maintenance.Downgrade": {
      const req = msg as DowngradeRequest;
      if (req.action === DowngradeRequest_DowngradeAction.VALIDATE) return false;
      req.action = DowngradeRequest_DowngradeAction.VALIDATE;
      return true;
    }
    default:
      return false;
  }
}

/** Bytes that never decode: field 1 with wire type 7, which does not exist. */
const UNDECODABLE = Uint8Array.of(0x0f);

/**
 * The protobuf payload to really send for `payload`: itself unless it
 * decodes to a request that would harm the member under test (see the
 * module comment); AuthEnable is never sent in decodable form, since an
 * enabled auth would lock the liveness checks out.
 */
export function guardBinary(method: RpcMethod, payload: Uint8Array, ctx: GuardContext): Uint8Array {
  let msg: Message;
  try {
    msg = fromBinary(method.input, payload);
  } catch {
    return payload;
  }
  if (method.name === "Auth.AuthEnable") return UNDECODABLE;
  return disarm(method, msg, ctx) ? toBinary(method.input, msg) : payload;
}

/** Methods whose requests can change what the member holds or whether it serves. */
const MUTATING = new Set([
  "KV.Put",
  "KV.DeleteRange",
  "KV.Txn",
  "Cluster.MemberAdd",
  "Cluster.MemberRemove",
  "Cluster.MemberUpdate",
  "Cluster.MemberPromote",
  "Maintenance.Alarm",
  "Maintenance.Downgrade",
  "Auth.AuthEnable",
]);

/**
 * {@link guardBinary} for a JSON body (decoded as leniently as protobuf's
 * JSON mapping allows). `otherDecoder`: the server decodes JSON with code
 * of its own (the /v3 gateway), which may accept what this guard cannot
 * decode; for a mutating method such a body goes out only when it is not
 * JSON at all.
 */
export function guardJson(
  method: RpcMethod,
  text: string,
  ctx: GuardContext,
  otherDecoder = false,
): string {
  let msg: Message;
  try {
    msg = fromJsonString(method.input, text, { ignoreUnknownFields: true });
  } catch {
    if (!otherDecoder || !MUTATING.has(method.name)) return text;
    try {
      JSON.parse(text);
    } catch {
      return text;
    }
    return "{";
  }
  if (method.name === "Auth.AuthEnable") return "{";
  if (!disarm(method, msg, ctx)) return text;
  return JSON.stringify(toJson(method.input, msg, { useProtoFieldName: otherDecoder }));
}

/** Text of a UTF-8 payload, for failure messages. */
export function show(bytes: Uint8Array, max = 64): string {
  const hex = [...bytes.subarray(0, max)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${bytes.length} bytes ${hex}${bytes.length > max ? "…" : ""} (${
    JSON.stringify(dec.decode(bytes.subarray(0, max)))
  })`;
}
