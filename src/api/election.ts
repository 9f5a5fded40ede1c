/**
 * etcd's v3election service (`v3electionpb.Election`): leader elections
 * run on the server the way clientv3's `concurrency.Election` runs them,
 * through the member's own KV, Lease and Watch services
 * (`local_client.ts`). Candidates are keys `<name>/<lease hex>`; the one
 * with the oldest create revision leads, and its value is the election's
 * proclamation.
 *
 * etcd's quirks are kept: a lease of 0 in Campaign, Proclaim or Resign
 * grants a fresh 60 s lease (clientv3's NewSession does), every failure
 * reaches the client as Unknown with its text (`election: no leader`,
 * `election: not leader`, `"leader" field must be provided`), and Observe
 * ends quietly when its reads or watches fail.
 *
 * @module
 */
import { clone, create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type ResponseHeader,
  ResponseHeaderSchema,
  type TxnResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { Event_EventType, type KeyValue } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import {
  CampaignResponseSchema,
  type Election,
  type LeaderKey,
  LeaderKeySchema,
  type LeaderResponse,
  LeaderResponseSchema,
  ProclaimResponseSchema,
  ResignResponseSchema,
} from "../gen/etcd/server/etcdserver/api/v3election/v3electionpb/v3election_pb.ts";
import {
  asClientErrors,
  bytesEqual,
  contenderKey,
  firstCreate,
  prefixEnd,
  sessionLease,
  waitDeletes,
  withSlash,
} from "./concurrency.ts";
import type { LocalClient } from "./local_client.ts";
import type { LocalClientFor } from "./lock.ts";

/** etcd's v3election ErrMissingLeaderKey. */
const MISSING_LEADER_KEY = '"leader" field must be provided';
/** clientv3 concurrency's ErrElectionNotLeader. */
const NOT_LEADER = "election: not leader";
/** clientv3 concurrency's ErrElectionNoLeader. */
const NO_LEADER = "election: no leader";

/** The Election service over the member's services. */
export function electionService(clientFor: LocalClientFor): ServiceImpl<typeof Election> {
  return {
    campaign: (req, ctx) =>
      asClientErrors(async () => {
        const client = clientFor(ctx);
        const lease = await sessionLease(client, req.lease);
        const prefix = withSlash(req.name);
        const key = contenderKey(prefix, lease);
        const resp = await client.txn({
          compare: [createdAt(key, 0n)],
          success: [{ request: { case: "requestPut", value: { key, value: req.value, lease } } }],
          failure: [{ request: { case: "requestRange", value: { key } } }],
        });
        let rev = resp.header?.revision ?? 0n;
        if (!resp.succeeded) {
          // Campaigning again with the same lease resumes the candidacy.
          const kv = rangeOf(resp)[0];
          rev = kv.createRevision;
          if (!bytesEqual(kv.value, req.value)) {
            try {
              await proclaim(client, key, rev, lease, req.value);
            } catch (err) {
              await resign(client, key, rev).catch(() => {});
              throw err;
            }
          }
        }
        try {
          await waitDeletes(client, prefix, rev - 1n);
        } catch (err) {
          // A caller that went away withdraws; other failures leave the key.
          if (client.signal.aborted) await resign(client.detached(), key, rev).catch(() => {});
          throw err;
        }
        return create(CampaignResponseSchema, {
          header: resp.header,
          leader: create(LeaderKeySchema, { name: req.name, key, rev, lease }),
        });
      }),
    proclaim: (req, ctx) =>
      asClientErrors(async () => {
        const leader = requireLeaderKey(req.leader);
        const client = clientFor(ctx);
        const lease = await sessionLease(client, leader.lease);
        const header = await proclaim(client, leader.key, leader.rev, lease, req.value);
        return create(ProclaimResponseSchema, { header });
      }),
    leader: (req, ctx) =>
      asClientErrors(async () => {
        const resp = await clientFor(ctx).range(firstCreate(withSlash(req.name)));
        if (resp.kvs.length === 0) throw new Error(NO_LEADER);
        return create(LeaderResponseSchema, { header: resp.header, kv: resp.kvs[0] });
      }),
    observe: (req, ctx) => observe(clientFor(ctx), withSlash(req.name)),
    resign: (req, ctx) =>
      asClientErrors(async () => {
        const leader = requireLeaderKey(req.leader);
        const client = clientFor(ctx);
        // Unused, but etcd's server opens a session (granting for lease 0) here too.
        await sessionLease(client, leader.lease);
        const header = await resign(client, leader.key, leader.rev);
        return create(ResignResponseSchema, { header });
      }),
  };
}

function requireLeaderKey(leader: LeaderKey | undefined): LeaderKey {
  if (!leader) throw new Error(MISSING_LEADER_KEY);
  return leader;
}

/** Compare: `key` was created at `rev` (0: does not exist). */
function createdAt(key: Uint8Array, rev: bigint) {
  return {
    key,
    target: Compare_CompareTarget.CREATE,
    result: Compare_CompareResult.EQUAL,
    targetUnion: { case: "createRevision" as const, value: rev },
  };
}

/** Posts `value` on the leader key if it is still the one created at `rev`. */
async function proclaim(
  client: LocalClient,
  key: Uint8Array,
  rev: bigint,
  lease: bigint,
  value: Uint8Array,
): Promise<ResponseHeader | undefined> {
  const resp = await client.txn({
    compare: [createdAt(key, rev)],
    success: [{ request: { case: "requestPut", value: { key, value, lease } } }],
  });
  if (!resp.succeeded) throw new Error(NOT_LEADER);
  return resp.header;
}

/** Deletes the leader key if it is still the one created at `rev`. */
async function resign(
  client: LocalClient,
  key: Uint8Array,
  rev: bigint,
): Promise<ResponseHeader | undefined> {
  const resp = await client.txn({
    compare: [createdAt(key, rev)],
    success: [{ request: { case: "requestDeleteRange", value: { key } } }],
  });
  return resp.header;
}

function rangeOf(resp: TxnResponse): KeyValue[] {
  const r = resp.responses[0]?.response;
  return r?.case === "responseRange" ? r.value.kvs : [];
}

/**
 * clientv3 concurrency's observe loop: the current leader's value, then
 * every value it posts until its key is deleted, then the next leader's;
 * with no leader, the first key put under the prefix. Any failure ends the
 * stream without an error, as etcd's closes its channel.
 */
async function* observe(
  client: LocalClient,
  prefix: Uint8Array,
): AsyncGenerator<LeaderResponse> {
  for (;;) {
    let leader: { header: ResponseHeader | undefined; kv: KeyValue };
    try {
      const resp = await client.range(firstCreate(prefix));
      leader = resp.kvs.length > 0
        ? { header: resp.header, kv: resp.kvs[0] }
        : await firstPut(client, prefix, resp.header?.revision ?? 0n);
    } catch {
      return;
    }
    const { header, kv } = leader;
    yield create(LeaderResponseSchema, { header, kv });
    const watch = client.watch({ key: kv.key, startRevision: (header?.revision ?? 0n) + 1n });
    try {
      for (let deleted = false; !deleted;) {
        let resp;
        try {
          resp = await watch.next();
        } catch {
          return;
        }
        for (const ev of resp.events) {
          if (ev.type === Event_EventType.DELETE) {
            deleted = true;
            break;
          }
          yield create(LeaderResponseSchema, { header: resp.header, kv: ev.kv });
        }
      }
    } finally {
      watch.close();
    }
  }
}

/** Waits for the first put under `prefix` from `revision` on; its header's revision is the put's. */
async function firstPut(
  client: LocalClient,
  prefix: Uint8Array,
  revision: bigint,
): Promise<{ header: ResponseHeader; kv: KeyValue }> {
  const watch = client.watch({ key: prefix, rangeEnd: prefixEnd(prefix), startRevision: revision });
  try {
    for (;;) {
      const resp = await watch.next();
      // Only puts: a delete would make the loop spin.
      const put = resp.events.find((ev) => ev.type === Event_EventType.PUT && ev.kv);
      if (put?.kv) {
        // Go copies the watch response's header and sets the put's revision.
        const header = resp.header
          ? clone(ResponseHeaderSchema, resp.header)
          : create(ResponseHeaderSchema);
        header.revision = put.kv.modRevision;
        return { header, kv: put.kv };
      }
    }
  } finally {
    watch.close();
  }
}
