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
  type PutRequest,
  type PutResponse,
  type ResponseHeader,
  type TxnRequest,
  type TxnResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { validateDeleteRange, validatePut, validateRange, validateTxn } from "../mvcc/validate.ts";
import { EtcdErrors } from "../errors.ts";
import { txnWrites } from "../server/apply.ts";
import type { CallContext } from "../http/call_context.ts";
import type { UnaryAnswerCall, UnaryService } from "../http/grpc_unary.ts";
import type { Member } from "../server/member.ts";
import type { ReplySink } from "../server/proposals.ts";
import { authOf } from "./auth_setup.ts";
import type { Authorizer } from "./authz.ts";

/** A write KV answers without a promise per call (see {@link putAnswer}). */
type AnsweredWrite =
  | { case: "put"; value: PutRequest }
  | { case: "txn"; value: TxnRequest };

/**
 * KV.Put answered through `call` (a gRPC unary call, see
 * UnaryRoutes.setAnswer) with no promise per put; its checks and
 * refusals are those of the service's `put`, which goes through the same
 * steps.
 */
export function putAnswer(
  member: Member,
  authz: Authorizer = authOf(member).authz,
): (req: PutRequest, call: UnaryAnswerCall<PutResponse>) => void {
  return (req, call) => answerWrite(member, authz, { case: "put", value: req }, call, call);
}

/**
 * KV.Txn answered through `call` as {@link putAnswer} answers a put: no
 * async frame and promise per txn (an `async` method held ~1 KB a txn);
 * the checks are those of the service's `txn`.
 */
export function txnAnswer(
  member: Member,
  authz: Authorizer = authOf(member).authz,
): (req: TxnRequest, call: UnaryAnswerCall<TxnResponse>) => void {
  return (req, call) => answerWrite(member, authz, { case: "txn", value: req }, call, call);
}

/**
 * Checks a put or txn, proposes it once the caller's auth header is known
 * and tells `out` its response or refusal, once.
 */
function answerWrite<T extends { header?: ResponseHeader }>(
  member: Member,
  authz: Authorizer,
  request: AnsweredWrite,
  ctx: CallContext,
  out: ReplySink<T>,
): void {
  let header;
  try {
    refuseOnLearner(member);
    if (request.case === "put") {
      const req = request.value;
      validatePut(req);
      member.checkQuota(req.key.length + req.value.length);
    } else {
      const req = request.value;
      validateTxn(req, member.maxTxnOps);
      if (txnWrites(req)) member.checkQuota(txnCost(req));
    }
    header = authz.header(ctx);
  } catch (err) {
    return out.fail(err);
  }
  if (header instanceof Promise) {
    header.then((auth) => {
      try {
        member.proposeForResponseTo(request, auth, out);
      } catch (err) {
        out.fail(err); // as a throw in the synchronous path ends the call
      }
    }, (err) => out.fail(err));
  } else {
    member.proposeForResponseTo(request, header, out);
  }
}

/**
 * The KV service bound to a member. Reads are checked here (READ on the
 * range, etcd's doSerialize); writes carry the caller to the apply, which
 * checks them (src/auth/apply.ts); Compact needs root.
 */
export function kvService(
  member: Member,
  authz: Authorizer = authOf(member).authz,
): Required<UnaryService<typeof KV>> {
  return {
    async range(req, ctx) {
      validateRange(req);
      if (!req.serializable) {
        refuseOnLearner(member);
        await member.readBarrier();
      }
      const store = member.sm.store;
      const resp = authz.store.enabled
        ? await authz.serialized(
          ctx,
          (ai) => authz.store.checkRange(ai, req.key, req.rangeEnd),
          () => store.range(req),
        )
        : store.range(req);
      member.metrics.ops.rangeServed();
      resp.header = member.header(store.currentRevision);
      return resp;
    },
    put(req, ctx) {
      // Not an async function: on the hottest path its frame and promise
      // were allocations per put on top of the proposal's own promise.
      return new Promise((reply, fail) =>
        answerWrite<PutResponse>(member, authz, { case: "put", value: req }, ctx, { reply, fail })
      );
    },
    async deleteRange(req, ctx) {
      refuseOnLearner(member);
      validateDeleteRange(req);
      const auth = await authz.header(ctx);
      return await member.proposeForResponse<DeleteRangeResponse>({
        case: "deleteRange",
        value: req,
      }, auth);
    },
    txn(req, ctx) {
      return new Promise((reply, fail) =>
        answerWrite<TxnResponse>(member, authz, { case: "txn", value: req }, ctx, { reply, fail })
      );
    },
    async compact(req, ctx) {
      refuseOnLearner(member);
      await authz.requireAdmin(ctx);
      const r = await member.propose({ case: "compaction", value: req }, await authz.header(ctx));
      // etcd answers a physical compaction once its work is done, not just applied.
      if (req.physical) await r.physical;
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
