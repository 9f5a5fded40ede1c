/**
 * etcd's Cluster service: the membership as replicated through the log.
 * Changes are Raft configuration changes, one at a time, with etcd's
 * checks and errors.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { MemberRecordSchema } from "../gen/cairn/internal_pb.ts";
import {
  type Cluster,
  MemberAddResponseSchema,
  MemberListResponseSchema,
  MemberPromoteResponseSchema,
  MemberRemoveResponseSchema,
  MemberSchema,
  MemberUpdateResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import type { UnaryService } from "../http/grpc_unary.ts";
import { ConfChangeType } from "../raft/types.ts";
import { computeMemberId } from "../server/ids.ts";
import type { Member } from "../server/member.ts";
import { authOf } from "./auth_setup.ts";
import type { Authorizer } from "./authz.ts";

/** etcd allows one learner at a time. */
const MAX_LEARNERS = 1;
/** etcd promotes a learner only once its log is within 10% of the leader's. */
const LEARNER_READY_PERCENT = 0.9;

/**
 * The Cluster service bound to a member. With auth enabled, listing
 * members needs an authenticated user and every change root.
 */
export function clusterService(
  member: Member,
  authz: Authorizer = authOf(member).authz,
): Required<UnaryService<typeof Cluster>> {
  const members = () => member.sm.membership.toApi();
  // etcd's Cluster service headers carry no revision.
  const header = () => member.header(0);
  return {
    async memberList(req, ctx) {
      if (req.linearizable) await member.readBarrier();
      await authz.requireUser(ctx);
      return create(MemberListResponseSchema, { header: header(), members: members() });
    },
    async memberAdd(req, ctx) {
      await authz.requireAdmin(ctx);
      const peerUrls = validUrls(req.peerURLs);
      checkPeerUrlsUnused(member, peerUrls, 0n);
      const all = member.sm.membership.records();
      if (req.isLearner && all.filter((m) => m.isLearner).length >= MAX_LEARNERS) {
        throw EtcdErrors.tooManyLearners();
      }
      if (!req.isLearner) checkQuorumAfter(member, all.filter((m) => !m.isLearner).length + 1);
      const id = computeMemberId(
        peerUrls,
        member.config.initialClusterToken,
        Math.floor(Date.now() / 1000),
      );
      if (member.sm.membership.get(id)) throw EtcdErrors.memberExist();
      const record = create(MemberRecordSchema, {
        id,
        name: "",
        peerUrls,
        clientUrls: [],
        isLearner: req.isLearner,
      });
      await member.proposeMemberChange(
        req.isLearner ? ConfChangeType.AddLearner : ConfChangeType.AddNode,
        id,
        record,
      );
      return create(MemberAddResponseSchema, {
        header: header(),
        member: create(MemberSchema, { ID: id, peerURLs: peerUrls, isLearner: req.isLearner }),
        members: members(),
      });
    },
    async memberRemove(req, ctx) {
      await authz.requireAdmin(ctx);
      const target = member.sm.membership.get(req.ID);
      if (!target) throw EtcdErrors.memberNotFound();
      if (!target.isLearner) {
        const voters = member.sm.membership.voterIds();
        checkQuorumAfter(member, voters.length - 1, req.ID);
      }
      await member.proposeMemberChange(ConfChangeType.RemoveNode, req.ID);
      return create(MemberRemoveResponseSchema, { header: header(), members: members() });
    },
    async memberUpdate(req, ctx) {
      await authz.requireAdmin(ctx);
      const target = member.sm.membership.get(req.ID);
      if (!target) throw EtcdErrors.memberNotFound();
      const peerUrls = validUrls(req.peerURLs);
      checkPeerUrlsUnused(member, peerUrls, req.ID);
      await member.proposeMemberChange(
        ConfChangeType.UpdateNode,
        req.ID,
        create(MemberRecordSchema, { ...target, peerUrls }),
      );
      return create(MemberUpdateResponseSchema, { header: header(), members: members() });
    },
    async memberPromote(req, ctx) {
      await authz.requireAdmin(ctx);
      const target = member.sm.membership.get(req.ID);
      const refused = (err: Error, reason: string) => member.metrics.promoteFailed(err, reason);
      if (!target) throw refused(EtcdErrors.memberNotFound(), "membership: ID not found");
      if (!target.isLearner) {
        throw refused(
          EtcdErrors.memberNotLearner(),
          "membership: can only promote a learner member",
        );
      }
      // Readiness is judged from the leader's replication progress.
      const progress = member.progress();
      if (!progress) throw EtcdErrors.notLeader();
      const learner = progress.get(req.ID);
      const leaderMatch = progress.get(member.id)?.match ?? member.commitIndex;
      if (!learner || learner.match < leaderMatch * LEARNER_READY_PERCENT) {
        throw refused(EtcdErrors.learnerNotReady(), EtcdErrors.learnerNotReady().message);
      }
      await member.proposeMemberChange(ConfChangeType.AddNode, req.ID);
      member.metrics.learnerPromoted.inc();
      return create(MemberPromoteResponseSchema, { header: header(), members: members() });
    },
  };
}

/** Peer URLs as etcd accepts them: absolute http(s) URLs with a host and port. */
function validUrls(urls: string[]): string[] {
  if (urls.length === 0) throw EtcdErrors.memberBadURLs();
  return urls.map((u) => {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw EtcdErrors.memberBadURLs();
    }
    if ((parsed.protocol !== "http:" && parsed.protocol !== "https:") || !parsed.port) {
      throw EtcdErrors.memberBadURLs();
    }
    return `${parsed.protocol}//${parsed.host}`;
  });
}

function checkPeerUrlsUnused(member: Member, urls: string[], except: bigint): void {
  for (const m of member.sm.membership.records()) {
    if (m.id === except) continue;
    if (m.peerUrls.some((u) => urls.includes(u))) throw EtcdErrors.peerURLExist();
  }
}

/**
 * etcd's strict reconfiguration check: after the change, the voters that
 * have started (published their name through the log) must still form a
 * quorum. Growing a one-member cluster to two is always allowed, as etcd
 * allows it for restoring a cluster from one member's data.
 */
function checkQuorumAfter(member: Member, newVoters: number, removing = 0n): void {
  const voters = member.sm.membership.records().filter((m) => !m.isLearner && m.id !== removing);
  const started = voters.filter((m) => m.name !== "").length;
  if (removing === 0n && started === 1 && newVoters === 2) return;
  if (started < Math.floor(newVoters / 2) + 1) throw EtcdErrors.memberNotEnoughStarted();
}
