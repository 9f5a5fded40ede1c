/**
 * etcd's Maintenance service: member status, alarms, hashes of the
 * key-value history, and the state machine snapshot stream.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import {
  type AlarmResponse,
  AlarmType,
  DefragmentResponseSchema,
  HashKVResponseSchema,
  HashResponseSchema,
  type Maintenance,
  MoveLeaderResponseSchema,
  SnapshotResponseSchema,
  StatusResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { SERVER_VERSION } from "../http/app.ts";
import type { UnaryService } from "../http/grpc_unary.ts";
import { encodeStateSnapshot } from "../server/apply.ts";
import type { Member } from "../server/member.ts";

const SNAPSHOT_CHUNK = 32 * 1024;

/** The Maintenance service bound to a member. */
export function maintenanceService(
  member: Member,
): UnaryService<typeof Maintenance> & Pick<ServiceImpl<typeof Maintenance>, "snapshot"> {
  return {
    async alarm(req) {
      return await member.proposeForResponse<AlarmResponse>({ case: "alarm", value: req });
    },
    status() {
      const store = member.sm.store;
      const size = store.approximateSize();
      return create(StatusResponseSchema, {
        header: member.header(),
        version: SERVER_VERSION,
        dbSize: BigInt(size),
        dbSizeInUse: BigInt(size),
        leader: member.leader,
        raftIndex: BigInt(member.commitIndex),
        raftTerm: BigInt(member.term),
        raftAppliedIndex: BigInt(member.appliedIndex),
        isLearner: member.isLearner,
        // etcd prints each alarm in protobuf text form, zero fields left
        // out: a CORRUPT alarm for member 0 reads "alarm:CORRUPT ".
        errors: member.sm.alarms.map((a) =>
          (a.memberID === 0n ? "" : `memberID:${a.memberID.toString(10)} `) +
          (a.alarm === AlarmType.NONE ? "" : `alarm:${AlarmType[a.alarm]} `)
        ),
      });
    },
    defragment() {
      // The key-value store lives in memory and on disk only as WAL and
      // snapshot files, which never hold freed pages: there is nothing to
      // defragment, so the request succeeds as soon as it arrives.
      return create(DefragmentResponseSchema, { header: member.header() });
    },
    hash() {
      const store = member.sm.store;
      const h = store.hashKV(store.currentRevision);
      return create(HashResponseSchema, { header: member.header(), hash: h.hash });
    },
    hashKV(req) {
      const store = member.sm.store;
      const rev = req.revision === 0n ? store.currentRevision : Number(req.revision);
      const h = store.hashKV(rev);
      return create(HashKVResponseSchema, {
        header: member.header(),
        hash: h.hash,
        compactRevision: BigInt(h.compactRevision),
        hashRevision: BigInt(h.hashRevision),
      });
    },
    async *snapshot() {
      await member.readBarrier();
      const blob = encodeStateSnapshot(member.sm);
      // Like etcd, the stream ends with the SHA-256 of the data so a
      // receiver can check it arrived whole.
      const sum = createHash("sha256").update(blob).digest();
      const all = new Uint8Array(blob.length + sum.length);
      all.set(blob);
      all.set(sum, blob.length);
      for (let off = 0; off < all.length; off += SNAPSHOT_CHUNK) {
        const chunk = all.subarray(off, Math.min(all.length, off + SNAPSHOT_CHUNK));
        yield create(SnapshotResponseSchema, {
          header: member.header(),
          remainingBytes: BigInt(all.length - off - chunk.length),
          blob: chunk,
          version: SERVER_VERSION,
        });
      }
    },
    moveLeader(req) {
      if (member.leader !== member.id) throw EtcdErrors.notLeader();
      if (req.targetID === member.id) {
        return create(MoveLeaderResponseSchema, { header: member.header() });
      }
      // Every other target is not a voting member of this cluster.
      const target = member.sm.membership.get(req.targetID);
      if (!target || target.isLearner) throw EtcdErrors.badLeaderTransferee();
      return member.transferLeadership(req.targetID).then(() =>
        create(MoveLeaderResponseSchema, { header: member.header() })
      );
    },
  };
}
