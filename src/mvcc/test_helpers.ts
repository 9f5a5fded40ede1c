/**
 * Request builders shared by the mvcc tests (strings in, protobuf messages out).
 */
import { create } from "@bufbuild/protobuf";
import {
  type Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  CompareSchema,
  type DeleteRangeRequest,
  DeleteRangeRequestSchema,
  type PutRequest,
  PutRequestSchema,
  type RangeRequest,
  RangeRequestSchema,
  type RequestOp,
  RequestOpSchema,
  type TxnRequest,
  TxnRequestSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { KeyValue } from "../gen/etcd/api/mvccpb/kv_pb.ts";

/** Optional fields of a request message. */
type Init<T> = Partial<Omit<T, "$typeName" | "$unknown">>;

const te = new TextEncoder();
const td = new TextDecoder();

/** UTF-8 bytes of a string. */
export const b = (s: string): Uint8Array => te.encode(s);
/** String of UTF-8 bytes. */
export const s = (u: Uint8Array | undefined): string => (u === undefined ? "" : td.decode(u));

/** Put request for string key/value. */
export function putReq(key: string, value = "", init: Init<PutRequest> = {}): PutRequest {
  return create(PutRequestSchema, { key: b(key), value: b(value), ...init });
}

/** Range request; `end` "\0" means from-key. */
export function rangeReq(key: string, end = "", init: Init<RangeRequest> = {}): RangeRequest {
  return create(RangeRequestSchema, { key: b(key), rangeEnd: b(end), ...init });
}

/** DeleteRange request. */
export function delReq(
  key: string,
  end = "",
  init: Init<DeleteRangeRequest> = {},
): DeleteRangeRequest {
  return create(DeleteRangeRequestSchema, { key: b(key), rangeEnd: b(end), ...init });
}

/** Txn request. */
export function txnReq(
  compare: Compare[],
  success: RequestOp[],
  failure: RequestOp[] = [],
): TxnRequest {
  return create(TxnRequestSchema, { compare, success, failure });
}

/** RequestOp wrappers. */
export const op = {
  put: (key: string, value = "", init: Init<PutRequest> = {}): RequestOp =>
    create(RequestOpSchema, { request: { case: "requestPut", value: putReq(key, value, init) } }),
  range: (key: string, end = "", init: Init<RangeRequest> = {}): RequestOp =>
    create(RequestOpSchema, { request: { case: "requestRange", value: rangeReq(key, end, init) } }),
  del: (key: string, end = "", init: Init<DeleteRangeRequest> = {}): RequestOp =>
    create(RequestOpSchema, {
      request: { case: "requestDeleteRange", value: delReq(key, end, init) },
    }),
  txn: (t: TxnRequest): RequestOp =>
    create(RequestOpSchema, { request: { case: "requestTxn", value: t } }),
  empty: (): RequestOp => create(RequestOpSchema, {}),
};

type Target = "version" | "createRevision" | "modRevision" | "value" | "lease";
const TARGETS: Record<Target, Compare_CompareTarget> = {
  version: Compare_CompareTarget.VERSION,
  createRevision: Compare_CompareTarget.CREATE,
  modRevision: Compare_CompareTarget.MOD,
  value: Compare_CompareTarget.VALUE,
  lease: Compare_CompareTarget.LEASE,
};
const RESULTS = {
  "=": Compare_CompareResult.EQUAL,
  "!=": Compare_CompareResult.NOT_EQUAL,
  ">": Compare_CompareResult.GREATER,
  "<": Compare_CompareResult.LESS,
};

/** A compare: `cmp("k", "version", ">", 2n)`, `cmp("k", "value", "=", "v")`. */
export function cmp(
  key: string,
  target: Target,
  result: keyof typeof RESULTS,
  want: bigint | string,
  rangeEnd = "",
): Compare {
  const targetUnion = target === "value"
    ? { case: "value" as const, value: b(want as string) }
    : { case: target, value: want as bigint };
  return create(CompareSchema, {
    key: b(key),
    rangeEnd: b(rangeEnd),
    target: TARGETS[target],
    result: RESULTS[result],
    targetUnion,
  });
}

/** Compact view of a KeyValue for assertions. */
export function kvView(kv: KeyValue | undefined) {
  if (kv === undefined) return undefined;
  return {
    key: s(kv.key),
    value: s(kv.value),
    create: Number(kv.createRevision),
    mod: Number(kv.modRevision),
    ver: Number(kv.version),
    lease: kv.lease,
  };
}

/** Keys of a range response, in order. */
export const keysOf = (kvs: KeyValue[]): string[] => kvs.map((kv) => s(kv.key));
