/**
 * One committed request entry applied, and the proposer told: the step
 * between Raft's committed entries and the state machine's `applyRequest`
 * (apply.ts). It draws the line DESIGN.md rule 6 asks for:
 *
 * - an etcd error from the state machine is the request's answer, the same
 *   on every member: the proposer's waiter gets it, the state is unchanged;
 * - an entry that does not decode, or anything else the state machine
 *   throws, is a broken invariant: it propagates and the member stops.
 *
 * @module
 */
import type { InternalRequest } from "../gen/cairn/internal_pb.ts";
import { decodeInternalRequest } from "../fast_codec.ts";
import { InvariantViolation } from "../raft/errors.ts";
import { applyRequest, type ApplyResult, type StateMachine } from "./apply.ts";
import { isClientRejection } from "./fatal.ts";
import type { Waiters } from "./waiters.ts";

/** Sees each request as it is applied (etcd's store and lease metrics). */
export interface ApplyObserver {
  /** Before `req` is applied (what it will remove can still be looked at). */
  applying?(req: InternalRequest): void;
  /** `req` applied with `response` (not called for a refused request). */
  applied(req: InternalRequest, response: unknown): void;
  /** `req` was refused with the etcd error `err`, changing nothing. */
  refused?(req: InternalRequest, err: Error): void;
}

/**
 * Applies the request in committed entry `index` (its `data`) to `sm`.
 * When `selfId` proposed it, the waiter in `waiters` under the request's
 * id is settled with the result or the etcd error. `observe` sees each
 * request before and after it applies. Throws InvariantViolation (or whatever else broke) for the
 * caller to stop on.
 */
export function applyRequestEntry(
  sm: StateMachine,
  data: Uint8Array,
  index: number,
  selfId: bigint,
  waiters: Waiters<ApplyResult>,
  observe?: ApplyObserver,
): void {
  let req: InternalRequest;
  try {
    req = decodeInternalRequest(data);
  } catch (err) {
    throw new InvariantViolation(
      `committed entry ${index} does not decode: ${(err as Error)?.message ?? err}`,
    );
  }
  const waiter = req.origin === selfId ? waiters.take(Number(req.id)) : undefined;
  let result: ApplyResult;
  observe?.applying?.(req);
  try {
    result = applyRequest(sm, req, index);
  } catch (err) {
    if (!isClientRejection(err)) throw err;
    observe?.refused?.(req, err as Error);
    waiter?.reject(err as Error);
    return;
  }
  observe?.applied(req, result.response);
  waiter?.resolve(result);
}
