/**
 * etcd's Maintenance service: member status, alarms, hashes of the
 * key-value history, and the state machine snapshot stream.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AlarmRequest_AlarmAction,
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
import { captureState } from "../server/state_snapshot.ts";
import type { Member } from "../server/member.ts";
import type { CallContext } from "../http/call_context.ts";
import { authOf } from "./auth_setup.ts";
import type { Authorizer } from "./authz.ts";

const SNAPSHOT_CHUNK = 32 * 1024;

/**
 * The Maintenance service bound to a member. With auth enabled, Status and
 * listing alarms need an authenticated user, everything else root
 * (etcd 3.5.33's rules, CVE-2026-33413).
 */
export function maintenanceService(
  member: Member,
  authz: Authorizer = authOf(member).authz,
): UnaryService<typeof Maintenance> & Pick<ServiceImpl<typeof Maintenance>, "snapshot"> {
  return {
    async alarm(req, ctx) {
      if (req.action === AlarmRequest_AlarmAction.GET) await authz.requireUser(ctx);
      else await authz.requireAdmin(ctx);
      const auth = await authz.header(ctx);
      return await member.proposeForResponse<AlarmResponse>({ case: "alarm", value: req }, auth);
    },
    async status(_req, ctx) {
      await authz.requireUser(ctx);
      const store = member.sm.store;
      return create(StatusResponseSchema, {
        header: member.header(),
        version: SERVER_VERSION,
        // etcd's dbSize is its file (kept after compaction until a
        // defragment), dbSizeInUse what the data takes.
        dbSize: BigInt(store.reservedSize()),
        dbSizeInUse: BigInt(store.approximateSize()),
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
    async defragment(_req, ctx) {
      await authz.requireAdmin(ctx);
      // Repacks the store's memory and rewrites the snapshot file without
      // stopping writes (see Member.defragment). etcd's answer carries no
      // header (visible in its JSON gateway's `{}`).
      const defragged = member.metrics.disk.defragStarted();
      await member.defragment().finally(defragged);
      return create(DefragmentResponseSchema, {});
    },
    async hash(_req, ctx) {
      await authz.requireAdmin(ctx);
      const store = member.sm.store;
      const started = performance.now();
      const h = store.hashKV(store.currentRevision);
      member.metrics.disk.hashSeconds.observe((performance.now() - started) / 1000);
      return create(HashResponseSchema, { header: member.header(), hash: h.hash });
    },
    async hashKV(req, ctx) {
      await authz.requireAdmin(ctx);
      const store = member.sm.store;
      const rev = req.revision === 0n ? store.currentRevision : Number(req.revision);
      // etcd 3.5's HashByRev: the hash a compaction recorded at exactly
      // this revision answers first (its compact revision is the one before
      // that compaction), so clients see what the compact hash check compares.
      const recorded = member.compactHashes.byRevision(rev);
      if (recorded !== undefined) {
        return create(HashKVResponseSchema, {
          header: member.header(),
          hash: recorded.hash,
          compactRevision: BigInt(recorded.compactRevision),
          hashRevision: BigInt(recorded.revision),
        });
      }
      const started = performance.now();
      const h = store.hashKV(rev);
      member.metrics.disk.hashRevSeconds.observe((performance.now() - started) / 1000);
      return create(HashKVResponseSchema, {
        header: member.header(),
        hash: h.hash,
        compactRevision: BigInt(h.compactRevision),
        hashRevision: BigInt(h.hashRevision),
      });
    },
    async *snapshot(_req, ctx: CallContext) {
      await authz.requireAdmin(ctx);
      // A local read, as etcd's (no ReadIndex round): a member that lost its
      // quorum can still be backed up, which is when a backup is needed most.
      // etcd's snapshot: a bbolt database in etcd's schema, then its
      // SHA-256, so etcdctl and etcdutl can check, read and restore it. The
      // state is captured at one applied index in the same synchronous step
      // (a store view of references, no bytes copied); the pages are built
      // afterwards in slices while the member goes on applying writes.
      const started = performance.now();
      try {
        // The bbolt writer and etcd's schema are loaded on the first
        // snapshot, not at start: most members never serve one.
        const { etcdDatabase, snapshotChunks } = await import("../snapshot/export.ts");
        const captured = captureState(member.sm);
        const db = await etcdDatabase(captured.view, captured.rest, BigInt(member.appliedIndex));
        for (const { blob, remaining } of snapshotChunks(db, SNAPSHOT_CHUNK)) {
          yield create(SnapshotResponseSchema, {
            header: member.header(),
            remainingBytes: BigInt(remaining),
            blob,
            version: SERVER_VERSION,
          });
        }
      } finally {
        // etcd times the whole transfer, however it ended.
        member.metrics.disk.backendSnapshotSeconds.observe((performance.now() - started) / 1000);
      }
    },
    async moveLeader(req, ctx) {
      await authz.requireAdmin(ctx);
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
