/**
 * The key-space conventions of clientv3's `concurrency` package, which
 * etcd's Lock and Election services run on the server: a session is a
 * lease, a contender is the key `<prefix>/<lease id in hex>` attached to
 * it, and contenders are served in create-revision order, each waiting
 * for the deletion of the contender just before it.
 *
 * @module
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type ResponseHeader,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Event_EventType } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import type { LocalClient } from "./local_client.ts";

/** clientv3 concurrency's session TTL when no lease is given. */
export const DEFAULT_SESSION_TTL = 60n;

/**
 * The lease of a session: the given one, or (for 0, clientv3's NoLease) a
 * fresh lease of {@link DEFAULT_SESSION_TTL} seconds, as
 * `concurrency.NewSession` grants. The server never keeps it alive.
 */
export async function sessionLease(client: LocalClient, lease: bigint): Promise<bigint> {
  if (lease !== 0n) return lease;
  return (await client.leaseGrant(DEFAULT_SESSION_TTL)).ID;
}

/** `prefix + "/"`. */
export function withSlash(name: Uint8Array): Uint8Array {
  const out = new Uint8Array(name.length + 1);
  out.set(name);
  out[name.length] = 0x2f;
  return out;
}

/** A contender's key: the prefix and the lease id in lowercase hex (Go's `%x`). */
export function contenderKey(prefix: Uint8Array, lease: bigint): Uint8Array {
  const hex = new TextEncoder().encode(lease.toString(16));
  const out = new Uint8Array(prefix.length + hex.length);
  out.set(prefix);
  out.set(hex, prefix.length);
  return out;
}

/** The end of the range holding every key that starts with `prefix` (clientv3's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i]++;
      return end;
    }
  }
  // Only 0xff bytes: every key from the prefix on.
  return new Uint8Array([0]);
}

/** Range options of the oldest key under `prefix` (clientv3's WithFirstCreate). */
export function firstCreate(prefix: Uint8Array) {
  return {
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: RangeRequest_SortTarget.CREATE,
    sortOrder: RangeRequest_SortOrder.ASCEND,
    limit: 1n,
  };
}

/** True when the two byte strings are equal. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Waits until `key` is deleted, watching from `revision` (clientv3
 * concurrency's waitDelete). Rejects when the watch ends otherwise.
 */
export async function waitDelete(
  client: LocalClient,
  key: Uint8Array,
  revision: bigint,
): Promise<void> {
  const watch = client.watch({ key, startRevision: revision });
  try {
    for (;;) {
      const resp = await watch.next();
      if (resp.events.some((ev) => ev.type === Event_EventType.DELETE)) return;
    }
  } finally {
    watch.close();
  }
}

/**
 * Waits until no key under `prefix` has a create revision at or below
 * `maxCreateRev` (clientv3 concurrency's waitDeletes): each round waits
 * for the deletion of the newest such key. Answers the header of the
 * final (empty) read.
 */
export async function waitDeletes(
  client: LocalClient,
  prefix: Uint8Array,
  maxCreateRev: bigint,
): Promise<ResponseHeader | undefined> {
  for (;;) {
    const resp = await client.range({
      key: prefix,
      rangeEnd: prefixEnd(prefix),
      sortTarget: RangeRequest_SortTarget.CREATE,
      sortOrder: RangeRequest_SortOrder.DESCEND,
      limit: 1n,
      maxCreateRevision: maxCreateRev,
    });
    if (resp.kvs.length === 0) return resp.header;
    await waitDelete(client, resp.kvs[0].key, resp.header?.revision ?? 0n);
  }
}

/**
 * Runs one Lock or Election call and reports its failure as etcd does:
 * the servers get clientv3 errors, which carry no gRPC status, so gRPC
 * sends every one of them as Unknown with the error's text.
 */
export async function asClientErrors<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const message = err instanceof ConnectError
      ? err.rawMessage
      : err instanceof Error
      ? err.message
      : String(err);
    throw new ConnectError(message, Code.Unknown);
  }
}
