/**
 * etcd's KV service. Reads are served from the local store (after a
 * ReadIndex barrier unless serializable); every write is proposed through
 * Raft and answered with what the apply produced.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  type CompactionResponse,
  CompactionResponseSchema,
  type DeleteRangeResponse,
  type KV,
  type PutResponse,
  type TxnRequest,
  type TxnResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { validateDeleteRange, validatePut, validateRange, validateTxn } from "../mvcc/validate.ts";
import { EtcdErrors } from "../errors.ts";
import { txnWrites } from "../server/apply.ts";
import type { UnaryService } from "../http/grpc_unary.ts";
import type { Member } from "../server/member.ts";

/** The KV service bound to a member. */
export function kvService(member: Member): Required<UnaryService<typeof KV>> {
  return {
    async range(req) {
      validateRange(req);
      if (!req.serializable) {
        refuseOnLearner(member);
        await member.readBarrier();
      }
      const store = member.sm.store;
      const resp = store.range(req);
      resp.header = member.header(store.currentRevision);
      return resp;
    },
    async put(req) {
      refuseOnLearner(member);
      validatePut(req);
      member.checkQuota(req.key.length + req.value.length);
      return await member.proposeForResponse<PutResponse>({ case: "put", value: req });
    },
    async deleteRange(req) {
      refuseOnLearner(member);
      validateDeleteRange(req);
      return await member.proposeForResponse<DeleteRangeResponse>({
        case: "deleteRange",
        value: req,
      });
    },
    async txn(req) {
      refuseOnLearner(member);
      validateTxn(req, member.maxTxnOps);
      if (txnWrites(req)) member.checkQuota(txnCost(req));
      return await member.proposeForResponse<TxnResponse>({ case: "txn", value: req });
    },
    async compact(req) {
      refuseOnLearner(member);
      const r = await member.propose({ case: "compaction", value: req });
      const resp = (r.response as CompactionResponse | undefined) ??
        create(CompactionResponseSchema, {});
      resp.header = member.header(r.revision);
      return resp;
    },
  };
}

/** Bytes a txn's puts would add (etcd's quota cost estimate). */
function txnCost(txn: TxnRequest): number {
  let cost = 0;
  for (const op of [...txn.success, ...txn.failure]) {
    const r = op.request;
    if (r.case === "requestPut") cost += r.value.key.length + r.value.value.length;
    else if (r.case === "requestTxn") cost += txnCost(r.value);
  }
  return cost;
}

/** Like etcd, a learner serves only serializable reads (and status) to clients. */
export function refuseOnLearner(member: Member): void {
  if (member.isLearner) throw EtcdErrors.notSupportedForLearner();
}
