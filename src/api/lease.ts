/**
 * etcd's Lease service. Grant and revoke are proposed through Raft (the
 * server picks the id of an ID-0 grant before proposing, so every member
 * applies the same one); keep-alive, time-to-live and the lease list are
 * answered by the leader from its lessor, which alone knows expiries.
 *
 * On a follower, keep-alive and time-to-live fail with `etcdserver: not
 * leader` for now: etcd forwards them to the leader, which needs the peer
 * transport (multi-member support).
 *
 * @module
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type Lease,
  LeaseCheckpointRequestSchema,
  LeaseCheckpointSchema,
  LeaseGrantRequestSchema,
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  LeaseKeepAliveResponseSchema,
  LeaseLeasesResponseSchema,
  type LeaseRevokeResponse,
  LeaseStatusSchema,
  type LeaseTimeToLiveRequest,
  LeaseTimeToLiveRequestSchema,
  type LeaseTimeToLiveResponse,
  LeaseTimeToLiveResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors, isEtcdError } from "../errors.ts";
import type { UnaryService } from "../http/grpc_unary.ts";
import { LeaseIdGenerator } from "../lease/ids.ts";
import type { Member } from "../server/member.ts";
import type { CallContext } from "../http/call_context.ts";
import { authOf } from "./auth_setup.ts";
import type { Authorizer } from "./authz.ts";

/** etcd's quota cost of a lease grant (its leaseOverhead). */
const LEASE_GRANT_COST = 64;

/** How often a keep-alive of an expired lease looks whether its revoke has been applied. */
const EXPIRED_POLL_MS = 50;

/**
 * The Lease service bound to a member. With auth enabled: grant and revoke
 * need an authenticated user (revoke also WRITE on every attached key,
 * checked at apply); keep-alive needs WRITE on every attached key;
 * time-to-live with keys READ on each of them; the lease list root.
 */
export function leaseService(
  member: Member,
  authz: Authorizer = authOf(member).authz,
): Required<UnaryService<typeof Lease>> & Pick<ServiceImpl<typeof Lease>, "leaseKeepAlive"> {
  const ids = new LeaseIdGenerator(member.id);
  // The leader's side of etcd's follower-to-leader forwarding.
  member.addPeerRoute("POST", PATH_KEEPALIVE, async (body) => {
    const ttl = await renewOnLeader(member, decodeId(body));
    return { status: 200, contentType: "application/octet-stream", body: encodeId(BigInt(ttl)) };
  });
  member.addPeerRoute("POST", PATH_TIME_TO_LIVE, async (body) => {
    const resp = await timeToLiveOnLeader(member, fromBinary(LeaseTimeToLiveRequestSchema, body));
    return {
      status: 200,
      contentType: "application/octet-stream",
      body: toBinary(LeaseTimeToLiveResponseSchema, resp),
    };
  });
  return {
    async leaseGrant(req, ctx) {
      await authz.requireUser(ctx);
      member.checkQuota(LEASE_GRANT_COST);
      const value = create(LeaseGrantRequestSchema, {
        ID: req.ID === 0n ? ids.next() : req.ID,
        TTL: req.TTL,
      });
      const auth = await authz.header(ctx);
      return await member.proposeForResponse<LeaseGrantResponse>(
        { case: "leaseGrant", value },
        auth,
      );
    },
    async leaseRevoke(req, ctx) {
      await authz.requireUser(ctx);
      const auth = await authz.header(ctx);
      return await member.proposeForResponse<LeaseRevokeResponse>({
        case: "leaseRevoke",
        value: req,
      }, auth);
    },
    async leaseTimeToLive(req, ctx) {
      await authz.requireUser(ctx);
      // The attached keys are shown only to whoever may read each of them (CVE-2023-32082).
      const checked = req.keys ? await checkLeaseKeys(member, authz, ctx, req.ID, "read") : 0;
      let resp: LeaseTimeToLiveResponse;
      if (isLeader(member)) {
        resp = await timeToLiveOnLeader(member, req);
      } else {
        // Only the leader knows how long a lease has left: ask it.
        const body = await member.callLeader(
          PATH_TIME_TO_LIVE,
          toBinary(LeaseTimeToLiveRequestSchema, req),
        );
        resp = fromBinary(LeaseTimeToLiveResponseSchema, body);
      }
      if (req.keys && authz.store.enabled && checked !== authz.store.revision) {
        throw EtcdErrors.authOldRevision();
      }
      return resp;
    },
    async leaseLeases(_req, ctx) {
      // Root only: the list names every lease (CVE-2026-33413).
      await authz.requireAdmin(ctx);
      // Like etcd, the local lessor's view, soonest expiry first.
      const leases = member.sm.lessor.leases().map((l) => create(LeaseStatusSchema, { ID: l.id }));
      return create(LeaseLeasesResponseSchema, { header: member.header(), leases });
    },
    async *leaseKeepAlive(requests: AsyncIterable<LeaseKeepAliveRequest>, ctx: CallContext) {
      for await (const req of requests) {
        const checked = await checkLeaseKeys(member, authz, ctx, req.ID, "write");
        const ttl = await renew(member, req.ID);
        if (authz.store.enabled && checked !== authz.store.revision) {
          throw EtcdErrors.authOldRevision();
        }
        const resp: LeaseKeepAliveResponse = create(LeaseKeepAliveResponseSchema, {
          header: member.header(),
          ID: req.ID,
          TTL: BigInt(ttl),
        });
        yield resp;
      }
    },
  };
}

/**
 * etcd's checkLeaseRenew / checkLeaseTimeToLive: with auth enabled, the
 * caller must be authenticated and, unless root, hold `type` on every key
 * attached to the lease. Returns the auth revision the check ran at, for
 * the caller to see that it did not change before answering.
 */
async function checkLeaseKeys(
  member: Member,
  authz: Authorizer,
  ctx: CallContext,
  id: bigint,
  type: "read" | "write",
): Promise<number> {
  const store = authz.store;
  const rev = store.revision;
  if (!store.enabled) return rev;
  const ai = await authz.requireUser(ctx);
  if (store.isAdmin(ai)) return rev;
  const lease = member.sm.lessor.lookup(id);
  for (const key of lease?.keys.keys() ?? []) store.checkBinaryKey(ai, key, type);
  return rev;
}

/** Peer endpoints through which followers reach the leader's lessor. */
const PATH_KEEPALIVE = "/lease/keepalive";
const PATH_TIME_TO_LIVE = "/lease/timetolive";

function isLeader(member: Member): boolean {
  return member.leader === member.id && member.sm.lessor.isPrimary;
}

function requireLeader(member: Member): void {
  if (!isLeader(member)) throw EtcdErrors.notLeader();
}

function encodeId(id: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, id);
  return b;
}

function decodeId(b: Uint8Array): bigint {
  if (b.length !== 8) throw new Error("lease id must be 8 bytes");
  return new DataView(b.buffer, b.byteOffset, 8).getBigInt64(0);
}

/** LeaseTimeToLive as the leader answers it. */
async function timeToLiveOnLeader(
  member: Member,
  req: LeaseTimeToLiveRequest,
): Promise<LeaseTimeToLiveResponse> {
  requireLeader(member);
  await member.readBarrier();
  const lessor = member.sm.lessor;
  const lease = lessor.lookup(req.ID);
  if (lease === undefined) {
    // etcd answers a missing lease with TTL -1 rather than an error.
    return create(LeaseTimeToLiveResponseSchema, { header: member.header(), ID: req.ID, TTL: -1n });
  }
  return create(LeaseTimeToLiveResponseSchema, {
    header: member.header(),
    ID: req.ID,
    // Whole seconds left, truncated as Go's int64(Duration.Seconds()).
    TTL: BigInt(Math.trunc(lessor.remainingMs(lease) / 1000)),
    grantedTTL: BigInt(lease.ttl),
    keys: req.keys ? lease.sortedKeys() : [],
  });
}

/** A keep-alive: renewed by the leader itself, or forwarded to it by a follower. */
async function renew(member: Member, id: bigint): Promise<number> {
  if (isLeader(member)) return await renewOnLeader(member, id);
  const body = await member.callLeader(PATH_KEEPALIVE, encodeId(id));
  return Number(decodeId(body));
}

/**
 * etcd's LeaseRenew on the leader: the granted TTL, or 0 when the lease
 * does not exist (etcd's keep-alive answers a missing lease with TTL 0).
 */
async function renewOnLeader(member: Member, id: bigint): Promise<number> {
  requireLeader(member);
  // etcd's ensureLeadership (3.5.13): a leader cut off or removed would
  // renew here while the real leader lets the lease expire.
  if (!await member.confirmLeadership()) throw EtcdErrors.notLeader();
  const lessor = member.sm.lessor;
  const lease = lessor.lookup(id);
  if (lease === undefined) return 0;
  if (lessor.expired(lease)) {
    // Its revoke is pending or on its way through the log: the accurate
    // answer is "not found" once it is applied (etcd waits the same way).
    const deadline = Date.now() + 5000 + 2 * member.config.electionTimeoutMs;
    while (lessor.lookup(id) === lease) {
      if (!lessor.isPrimary) throw EtcdErrors.notLeader();
      if (Date.now() > deadline) throw EtcdErrors.timeout();
      await new Promise((r) => setTimeout(r, EXPIRED_POLL_MS));
    }
    return 0;
  }
  if (lease.remainingTtl > 0) {
    // A checkpointed remaining TTL would outlive this renewal on a new
    // leader or after a restart: clear it through the log first.
    const checkpoint = create(LeaseCheckpointSchema, { ID: id, remainingTTL: 0n });
    await member.propose({
      case: "leaseCheckpoint",
      value: create(LeaseCheckpointRequestSchema, { checkpoints: [checkpoint] }),
    });
  }
  try {
    const ttl = lessor.renew(id);
    member.metrics.ops.leasesRenewed.inc();
    return ttl;
  } catch (err) {
    if (isEtcdError(err, EtcdErrors.leaseNotFound)) return 0;
    throw err;
  }
}
