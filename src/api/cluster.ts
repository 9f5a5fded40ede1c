/**
 * etcd's Cluster service: the membership as replicated through the log.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { type Cluster, MemberListResponseSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { UnaryService } from "../http/grpc_unary.ts";
import type { Member } from "../server/member.ts";

/** The Cluster service bound to a member (membership changes arrive with multi-member support). */
export function clusterService(member: Member): UnaryService<typeof Cluster> {
  return {
    async memberList(req) {
      if (req.linearizable) await member.readBarrier();
      return create(MemberListResponseSchema, {
        // etcd's Cluster service headers carry no revision.
        header: member.header(0),
        members: member.sm.membership.toApi(),
      });
    },
  };
}
