/**
 * This member's proposals on their way into the log: request ids, the
 * waiters that settle when an entry carrying one is applied, proposals
 * that wait for a leader to be known, and peers' proposals passed on to a
 * new leader. The member's Ready loop applies the entries; this module only
 * gets them proposed and waited for.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type AuthHeader,
  ConfChangeContextSchema,
  type InternalRequest,
  type MemberRecord,
} from "../gen/cairn/internal_pb.ts";
import type { ResponseHeader } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import { EtcdErrors } from "../errors.ts";
import { encodeInternalRequest } from "../fast_codec.ts";
import type { Counter } from "../metrics/registry.ts";
import { InvariantViolation, ProposalDropped } from "../raft/errors.ts";
import type { RawNode } from "../raft/raw_node.ts";
import type { ConfChangeType } from "../raft/types.ts";
import type { ApplyResult } from "./apply.ts";
import { type Settle, Waiters } from "./waiters.ts";

/** What the proposals need of their member: Raft's door, and the member's state. */
export interface ProposalHost {
  /** This member's id: the origin every entry it proposes carries. */
  readonly selfId: bigint;
  /** Raft's proposal inputs. */
  readonly raft: Pick<RawNode, "propose" | "proposeConfChange">;
  readonly clock: Clock;
  /** `--max-request-bytes` and the election timeout the request timeout derives from. */
  readonly cfg: Pick<Config, "maxRequestBytes" | "electionTimeoutMs">;
  /** etcd's proposals_failed_total. */
  readonly failed: Counter;
  /** Whether the member stopped (or halted): nothing more is proposed. */
  stopped(): boolean;
  /** Whether leadership is being handed over: Raft drops proposals meanwhile. */
  handingOver(): boolean;
  /** Schedules a Ready round. */
  kick(): void;
  /** Fail-stop on a broken invariant Raft reported. */
  halt(where: string, err: unknown): void;
}

/** etcd's request timeout: 5 s plus two election timeouts. */
export function requestTimeoutMs(cfg: Pick<Config, "electionTimeoutMs">): number {
  return 5000 + 2 * cfg.electionTimeoutMs;
}

/** A proposal dropped for want of a leader (an election, a transfer): it may wait for one. */
function waitsForLeader(err: ProposalDropped): boolean {
  return /no leader|leadership transfer/.test(err.message);
}

/**
 * etcd's response header: the object `create(ResponseHeaderSchema, ...)`
 * builds (same keys in the same order, plain prototype), as a literal
 * without create's init object and reflective walk: one is made per write.
 */
export function responseHeader(
  clusterId: bigint,
  memberId: bigint,
  revision: number,
  term: number,
): ResponseHeader {
  return {
    $typeName: "etcdserverpb.ResponseHeader",
    clusterId,
    memberId,
    revision: BigInt(revision),
    raftTerm: BigInt(term),
  };
}

/** Where a proposal's response goes: a unary call answers its client with it. */
export interface ReplySink<T> {
  /** The response, its header filled in. */
  reply(resp: T): void;
  /** The etcd error that refused the request. */
  fail(err: unknown): void;
}

/**
 * The waiter of a proposal answered with its response: fills in the header
 * for the revision right after the apply and hands the response to `out`.
 * One small object per write stands in for a promise, its executor, its
 * two functions and an async frame.
 */
export class HeaderedReply<T extends { header?: ResponseHeader }> implements Settle<ApplyResult> {
  readonly #headers: { header(revision: number): ResponseHeader };
  readonly #out: ReplySink<T>;

  /**
   * @param headers makes the response header (the member)
   * @param out told the response or the error
   */
  constructor(headers: { header(revision: number): ResponseHeader }, out: ReplySink<T>) {
    this.#headers = headers;
    this.#out = out;
  }

  /** @inheritdoc */
  resolve(r: ApplyResult): void {
    const resp = r.response as T;
    resp.header = this.#headers.header(r.revision);
    this.#out.reply(resp);
  }

  /** @inheritdoc */
  reject(e: Error): void {
    this.#out.fail(e);
  }
}

/** This member's proposals in flight, by request id. */
export class Proposals {
  /** Settled by the apply of the entry carrying their request id. */
  readonly waiters: Waiters<ApplyResult> = new Waiters<ApplyResult>();
  readonly #host: ProposalHost;
  #nextRequestId: number;
  /** Our proposals made while no leader was known: proposed once one is (their waiters time out). */
  #unproposed: { id: number; data: Uint8Array }[] = [];

  /** @param host the member these proposals go through. */
  constructor(host: ProposalHost) {
    this.#host = host;
    // Request ids only need to be unique among this member's proposals that
    // may still be in the log: start from the clock so a restart never
    // reuses an id of an entry replayed from the WAL.
    this.#nextRequestId = host.clock.now() * 1000;
  }

  /** Whether a proposal of ours waits for its apply or for a leader. */
  get inFlight(): boolean {
    return this.waiters.size > 0 || this.#unproposed.length > 0;
  }

  /** Whether proposals wait for a leader to be known. */
  get waitingForLeader(): boolean {
    return this.#unproposed.length > 0;
  }

  /**
   * Proposes a mutation; resolves with its apply result once it is
   * committed and applied here, rejects with the etcd error the apply (or
   * the proposal) raised.
   */
  propose(request: InternalRequest["request"], auth?: AuthHeader): Promise<ApplyResult> {
    return new Promise<ApplyResult>((resolve, reject) =>
      this.proposeTo(request, auth, { resolve, reject })
    );
  }

  /**
   * {@link propose} for a caller that is its own sink (a unary call): `sink`
   * is told the apply result, or the error, exactly once, with no promise
   * in between. A refusal before the proposal (stopped, too large, no
   * leader) is told at once, inside this call; the result is told inside
   * the apply of the entry.
   */
  proposeTo(
    request: InternalRequest["request"],
    auth: AuthHeader | undefined,
    sink: Settle<ApplyResult>,
  ): void {
    const host = this.#host;
    if (host.stopped()) return sink.reject(EtcdErrors.stopped());
    const id = this.#nextRequestId++;
    const data = encodeInternalRequest(BigInt(id), host.selfId, request, auth);
    if (data.length > host.cfg.maxRequestBytes) return sink.reject(EtcdErrors.requestTooLarge());
    try {
      host.raft.propose(data);
    } catch (err) {
      if (err instanceof ProposalDropped && (host.handingOver() || waitsForLeader(err))) {
        // No leader right now (an election, or our hand-over on stop): as in
        // etcd, the proposal waits for one, up to the request timeout.
        this.waiters.addSink(id, host.clock.monotonic() + requestTimeoutMs(host.cfg), sink);
        this.#unproposed.push({ id, data });
        return;
      }
      if (err instanceof InvariantViolation) host.halt("propose", err);
      host.failed.inc();
      return sink.reject(err instanceof ProposalDropped ? EtcdErrors.noLeader() : err as Error);
    }
    this.waiters.addSink(id, host.clock.monotonic() + requestTimeoutMs(host.cfg), sink);
    host.kick();
  }

  /**
   * Proposes a membership change and resolves once it is committed and
   * applied here. `member` travels in the entry so every member records
   * the same names and URLs.
   */
  proposeMemberChange(type: ConfChangeType, nodeId: bigint, member?: MemberRecord): Promise<void> {
    const host = this.#host;
    if (host.stopped()) return Promise.reject(EtcdErrors.stopped());
    const id = this.#nextRequestId++;
    const context = toBinary(
      ConfChangeContextSchema,
      create(ConfChangeContextSchema, { member, requestId: BigInt(id), origin: host.selfId }),
    );
    return new Promise<void>((resolve, reject) => {
      try {
        host.raft.proposeConfChange({ type, nodeId, context });
      } catch (err) {
        if (err instanceof InvariantViolation) host.halt("proposing a membership change", err);
        // One change at a time: a second one while another is pending is
        // refused, as etcd refuses it when not enough members started.
        reject(err instanceof ProposalDropped ? EtcdErrors.memberNotEnoughStarted() : err as Error);
        return;
      }
      const deadline = host.clock.monotonic() + requestTimeoutMs(host.cfg);
      this.waiters.add(id, deadline, () => resolve(), reject);
      host.kick();
    });
  }

  /** Proposes what waited for a leader, now that one is known; expired ones are dropped. */
  proposeWaiting(): void {
    const host = this.#host;
    if (host.handingOver() || host.stopped() || this.#unproposed.length === 0) return;
    const waiting = this.#unproposed;
    this.#unproposed = [];
    for (const p of waiting) {
      if (!this.waiters.has(p.id)) continue;
      try {
        host.raft.propose(p.data);
      } catch (err) {
        if (!(err instanceof ProposalDropped)) return host.halt("propose", err);
        this.#unproposed.push(p);
      }
    }
    host.kick();
  }

  /** A peer's proposal we may not step (we no longer lead, or led a hand-over): proposed as ours. */
  proposeForwarded(data: Uint8Array): void {
    try {
      this.#host.raft.propose(data);
    } catch (err) {
      if (err instanceof InvariantViolation) return this.#host.halt("propose", err);
      // No leader yet: the proposer's request times out, as a dropped forward would.
    }
  }

  /**
   * Rejects the proposals whose request timeout passed by `now`, with
   * etcd's leader-failure timeout when no leader is known.
   */
  expire(now: number, leaderKnown: boolean): void {
    this.#host.failed.inc(this.waiters.expire(
      now,
      () => leaderKnown ? EtcdErrors.timeout() : EtcdErrors.timeoutDueToLeaderFail(),
    ));
  }

  /** Rejects every waiting proposal with `err` (the member stops). */
  failAll(err: Error): void {
    this.waiters.failAll(err);
  }
}
