/**
 * Range evaluation with etcd's exact semantics (etcd's `applierV3backend.Range`
 * over `storeTxnRead.rangeKeys`):
 *
 * - `count` is the number of keys in the range at the read revision, before
 *   the min/max revision filters and regardless of `limit` or `count_only`.
 * - With a sort order or any min/max filter, every key is fetched, filtered,
 *   sorted, then truncated to `limit`; otherwise `limit + 1` keys are fetched.
 * - `more` is true only when the (filtered, sorted) result had more than
 *   `limit` entries, so it is always false with `count_only`.
 */
import type { KeyValue } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import {
  type RangeRequest,
  RangeRequest_SortOrder as SortOrder,
  RangeRequest_SortTarget as SortTarget,
  type RangeResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { type KeyIndex, type Version, visibleAt } from "./history.ts";
import { compareBytes, EMPTY_BYTES, keySpan, toBinary } from "./keys.ts";

/** Builds the wire KeyValue of a stored version (shares its key/value bytes). */
export function kvOf(v: Version, keysOnly = false): KeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key: v.key,
    createRevision: BigInt(v.create),
    modRevision: BigInt(v.main),
    version: BigInt(v.ver),
    value: keysOnly ? EMPTY_BYTES : v.value,
    lease: v.lease,
  };
}

/**
 * Resolves the revision a read asks for against the view revision `cur`:
 * future -> ErrFutureRev, older than the compaction point -> ErrCompacted
 * (reading exactly at the compact revision is allowed, as in etcd).
 */
export function resolveReadRev(requested: number, cur: number, compactRev: number): number {
  if (requested > cur) throw EtcdErrors.futureRev();
  const rev = requested <= 0 ? cur : requested;
  if (rev < compactRev) throw EtcdErrors.compacted();
  return rev;
}

function hasFilters(r: RangeRequest): boolean {
  return r.minModRevision !== 0n || r.maxModRevision !== 0n ||
    r.minCreateRevision !== 0n || r.maxCreateRevision !== 0n;
}

function pruneInPlace(vs: Version[], keep: (v: Version) => boolean): void {
  let w = 0;
  for (let i = 0; i < vs.length; i++) if (keep(vs[i])) vs[w++] = vs[i];
  vs.length = w;
}

function sorter(target: SortTarget): (a: Version, b: Version) => number {
  switch (target) {
    case SortTarget.VERSION:
      return (a, b) => a.ver - b.ver;
    case SortTarget.CREATE:
      return (a, b) => a.create - b.create;
    case SortTarget.MOD:
      return (a, b) => a.main - b.main;
    case SortTarget.VALUE:
      return (a, b) => compareBytes(a.value, b.value);
    default:
      return (a, b) => a.bkey < b.bkey ? -1 : a.bkey > b.bkey ? 1 : 0;
  }
}

/**
 * Evaluates a RangeRequest against `index` as seen at view revision `cur`.
 * The response header is left unset (its revision is `cur`).
 */
export function evalRange(
  index: KeyIndex,
  r: RangeRequest,
  cur: number,
  compactRev: number,
): RangeResponse {
  const rev = resolveReadRev(Number(r.revision), cur, compactRev);
  const limit = r.limit > 0n ? Number(r.limit) : 0;

  // Hot path: one key, no options that need every candidate.
  if (r.rangeEnd.length === 0) {
    const hist = index.entry(toBinary(r.key));
    const v = hist === undefined ? undefined : visibleAt(hist, rev);
    const vs: Version[] = v === undefined || r.countOnly ? [] : [v];
    return finish(r, vs, v === undefined ? 0 : 1, limit);
  }

  const fetchAll = r.sortOrder !== SortOrder.NONE || hasFilters(r);
  const fetchLimit = fetchAll ? 0 : limit > 0 ? limit + 1 : 0;
  const countOnly = r.countOnly;
  const vs: Version[] = [];
  let count = 0;
  index.scan(keySpan(r.key, r.rangeEnd), (hist) => {
    const v = visibleAt(hist, rev);
    if (v === undefined) return;
    count++;
    if (!countOnly && (fetchLimit === 0 || vs.length < fetchLimit)) vs.push(v);
  });
  return finish(r, vs, count, limit);
}

function finish(r: RangeRequest, vs: Version[], count: number, limit: number): RangeResponse {
  if (vs.length > 0) {
    if (r.maxModRevision !== 0n) {
      const m = Number(r.maxModRevision);
      pruneInPlace(vs, (v) => v.main <= m);
    }
    if (r.minModRevision !== 0n) {
      const m = Number(r.minModRevision);
      pruneInPlace(vs, (v) => v.main >= m);
    }
    if (r.maxCreateRevision !== 0n) {
      const m = Number(r.maxCreateRevision);
      pruneInPlace(vs, (v) => v.create <= m);
    }
    if (r.minCreateRevision !== 0n) {
      const m = Number(r.minCreateRevision);
      pruneInPlace(vs, (v) => v.create >= m);
    }
    let order = r.sortOrder;
    // The index yields key-ascending order, so etcd only defaults to ASCEND
    // for non-KEY targets; KEY+ASCEND needs no work.
    if (r.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
    if (order === SortOrder.ASCEND && r.sortTarget !== SortTarget.KEY) {
      vs.sort(sorter(r.sortTarget));
    } else if (order === SortOrder.DESCEND) {
      const cmp = sorter(r.sortTarget);
      vs.sort((a, b) => cmp(b, a));
    }
  }
  let more = false;
  if (limit > 0 && vs.length > limit) {
    vs.length = limit;
    more = true;
  }
  const kvs: KeyValue[] = new Array(vs.length);
  for (let i = 0; i < vs.length; i++) kvs[i] = kvOf(vs[i], r.keysOnly);
  return {
    $typeName: "etcdserverpb.RangeResponse",
    header: undefined,
    kvs,
    more,
    count: BigInt(count),
  };
}
