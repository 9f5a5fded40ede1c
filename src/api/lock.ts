/**
 * etcd's v3lock service (`v3lockpb.Lock`): distributed locks taken on the
 * server the way clientv3's `concurrency.Mutex` takes them, through the
 * member's own KV, Lease and Watch services (`local_client.ts`):
 *
 * - Lock puts `<name>/<lease hex>` (attached to the lease; lease 0 grants
 *   a 60 s one) unless it exists, and the caller owns the lock once no
 *   key under `<name>/` is older; otherwise it waits for each older key's
 *   deletion. A caller that goes away while waiting has its key deleted.
 * - Unlock deletes the key.
 *
 * Errors reach the client as Unknown with etcd's text, as etcd's lock
 * server returns clientv3 errors (e.g. `etcdserver: requested lease not
 * found` for a lease that does not exist).
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { TxnResponse } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import {
  type Lock,
  LockResponseSchema,
  UnlockResponseSchema,
} from "../gen/etcd/server/etcdserver/api/v3lock/v3lockpb/v3lock_pb.ts";
import {
  asClientErrors,
  contenderKey,
  firstCreate,
  sessionLease,
  waitDeletes,
  withSlash,
} from "./concurrency.ts";
import type { LocalClient } from "./local_client.ts";

/** etcd's ErrSessionExpired: the caller's key vanished while it waited. */
const SESSION_EXPIRED = "mutex: session is expired";

/** Makes the in-process client of one call. */
export type LocalClientFor = (ctx: HandlerContext) => LocalClient;

/** The Lock service over the member's services. */
export function lockService(clientFor: LocalClientFor): ServiceImpl<typeof Lock> {
  return {
    lock: (req, ctx) =>
      asClientErrors(async () => {
        const client = clientFor(ctx);
        const lease = await sessionLease(client, req.lease);
        const prefix = withSlash(req.name);
        const key = contenderKey(prefix, lease);
        const resp = await tryAcquire(client, prefix, key, lease);
        const myRev = resp.succeeded
          ? resp.header?.revision ?? 0n
          : rangeOf(resp, 0)[0].createRevision;
        const owner = rangeOf(resp, 1);
        if (owner.length === 0 || owner[0].createRevision === myRev) {
          return create(LockResponseSchema, { header: resp.header, key });
        }
        try {
          await waitDeletes(client, prefix, myRev - 1n);
        } catch (err) {
          // Give the place up (the caller went away, or the wait failed).
          await client.detached().deleteRange({ key }).catch(() => {});
          throw err;
        }
        let got;
        try {
          got = await client.range({ key });
        } catch (err) {
          await client.detached().deleteRange({ key }).catch(() => {});
          throw err;
        }
        // The lease expired (and took the key) while this caller waited.
        if (got.kvs.length === 0) throw new Error(SESSION_EXPIRED);
        return create(LockResponseSchema, { header: got.header, key });
      }),
    unlock: (req, ctx) =>
      asClientErrors(async () => {
        const resp = await clientFor(ctx).deleteRange({ key: req.key });
        return create(UnlockResponseSchema, { header: resp.header });
      }),
  };
}

/**
 * One txn: create the caller's key unless it exists (then read it: the
 * same lease locks only once), and read the oldest contender.
 */
function tryAcquire(
  client: LocalClient,
  prefix: Uint8Array,
  key: Uint8Array,
  lease: bigint,
): Promise<TxnResponse> {
  const getOwner = { request: { case: "requestRange" as const, value: firstCreate(prefix) } };
  return client.txn({
    compare: [{
      key,
      target: Compare_CompareTarget.CREATE,
      result: Compare_CompareResult.EQUAL,
      targetUnion: { case: "createRevision", value: 0n },
    }],
    success: [
      { request: { case: "requestPut", value: { key, value: new Uint8Array(0), lease } } },
      getOwner,
    ],
    failure: [{ request: { case: "requestRange", value: { key } } }, getOwner],
  });
}

/** The key-values of the `i`th response of a txn, which must be a range. */
function rangeOf(resp: TxnResponse, i: number) {
  const r = resp.responses[i]?.response;
  return r?.case === "responseRange" ? r.value.kvs : [];
}
