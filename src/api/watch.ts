/**
 * etcd's Watch service: one bidirectional stream carries many watchers.
 * Requests are handed to a `WatchStream` (src/watch/stream.ts) as they
 * arrive; its queued responses leave as soon as there are any.
 *
 * The stream logic lives in {@link WatchSession}, which two transports
 * drive: connect's handlers (gRPC-Web, Connect, gRPC over HTTP/1.1) and
 * the direct gRPC path of the client port (`src/http/grpc_bidi.ts`).
 *
 * `hasleader: true` metadata (clientv3's WithRequireLeader) is honoured
 * as etcd's stream interceptor does: refused with "no leader" when the
 * member has none, and ended with that error once the member has been
 * without a leader for three election timeouts.
 *
 * @module
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type {
  ResponseHeader,
  Watch,
  WatchCreateRequest,
  WatchRequest,
  WatchRequestSchema,
  WatchResponse,
  WatchResponseSchema,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { type CallContext, callContext } from "../http/call_context.ts";
import type { BidiOpen, BidiSender } from "../http/grpc_bidi.ts";
import type { AuthInfo } from "../auth/store.ts";
import { authOf } from "./auth_setup.ts";
import type { Authorizer } from "./authz.ts";
import type { Member } from "../server/member.ts";
import { DEFAULT_PROGRESS_INTERVAL_MS, WatchStream } from "../watch/stream.ts";
import { BatchBuffer, encodeWatchBatch, framedSizeBound, pieces } from "../watch/batch_encode.ts";
import { withEncodedEvents } from "../watch/wire.ts";

/** etcd's metadata key and value for "require a leader" (rpctypes). */
const REQUIRE_LEADER_KEY = "hasleader";
const HAS_LEADER = "true";

/** etcd's monitorLeader: streams end after this many checks without a leader. */
const MAX_NO_LEADER_CHECKS = 3;

/** Encoded bytes a direct gRPC watch stream hands to its connection at a time. */
const SEND_PIECE_BYTES = 256 * 1024;

/**
 * Largest piece encoded into a reused buffer; a larger one (a single
 * response of big values) gets a buffer of its own, so a stream never
 * keeps more than two of this size.
 */
const REUSED_PIECE_BYTES = 1024 * 1024;

/** Largest encoding buffer a stream keeps between batches. */
const KEPT_BUFFER_BYTES = 64 * 1024;

/** Options for {@link watchService}. */
export interface WatchServiceOptions {
  /** Progress notification interval (etcd: 10 minutes). */
  progressIntervalMs?: number;
}

/** Cancel reasons etcd gives a refused watch create, by the auth error's message. */
const AUTH_CANCEL_REASONS = new Set([
  EtcdErrors.invalidAuthToken().rawMessage,
  EtcdErrors.authOldRevision().rawMessage,
  EtcdErrors.userEmpty().rawMessage,
]);

/** The smallest key: what an empty watch key means (etcd's watch server). */
const SMALLEST_KEY = new Uint8Array([0]);

/** One client's Watch stream, whatever transport carries it. */
export class WatchSession {
  readonly #stream: WatchStream;
  readonly #preEncode: boolean;
  #failure: unknown;
  #monitor: ReturnType<typeof setInterval> | undefined;
  readonly #authz: Authorizer | undefined;
  readonly #call: CallContext | undefined;
  /** Requests wait here, in order, while a token of an earlier one is being resolved. */
  #queue: Promise<void> | undefined;

  /**
   * Opens the session; throws etcd's "no leader" error when the client
   * requires a leader and the member has none. `header` reads request
   * metadata; `preEncode` moves each response's events into pre-encoded
   * unknown fields (src/watch/wire.ts) for a transport that serialises
   * responses with protobuf-es's binary writer (JSON would drop them; the
   * direct gRPC path encodes events from their cache itself). With
   * `auth`, every watch create needs READ on the range it will watch.
   */
  constructor(
    member: Member,
    header: (name: string) => string | null | undefined,
    preEncode: boolean,
    progressIntervalMs: number,
    auth?: { authz: Authorizer; call: CallContext },
  ) {
    this.#authz = auth?.authz;
    this.#call = auth?.call;
    const requireLeader = header(REQUIRE_LEADER_KEY) === HAS_LEADER;
    if (requireLeader && member.leader === 0n) throw EtcdErrors.noLeader();
    this.#preEncode = preEncode;
    // Consecutive responses mostly share a revision: one header object
    // serves them all (and is encoded once by the direct gRPC path).
    // Compared as numbers: converting both to bigint on every call made
    // two heap bigints per response (1,000 watchers: 2,000 per put).
    let last: ResponseHeader | undefined;
    let lastRev = -1;
    let lastTerm = -1;
    this.#stream = new WatchStream({
      hub: member.watchHub,
      header: (rev) => {
        const term = member.term;
        if (last !== undefined && rev === lastRev && term === lastTerm) return last;
        lastRev = rev;
        lastTerm = term;
        return last = member.header(rev);
      },
      maxRequestBytes: member.config.maxRequestBytes,
      progressIntervalMs,
      eventStats: member.metrics.watchEvents,
    });
    if (requireLeader) {
      let misses = 0;
      this.#monitor = setInterval(() => {
        misses = member.leader === 0n ? misses + 1 : 0;
        if (misses >= MAX_NO_LEADER_CHECKS) this.fail(EtcdErrors.noLeader());
      }, member.config.electionTimeoutMs);
    }
  }

  /** Why the session ended, when it ended with an error. */
  get failure(): unknown {
    return this.#failure;
  }

  /** A request from the client. */
  handle(req: WatchRequest): void {
    if (this.#stream.closed) return;
    if (this.#queue) {
      this.#enqueue(() => this.#process(req));
      return;
    }
    const pending = this.#process(req);
    if (pending) this.#enqueue(() => pending);
  }

  /** Handles `req`, or returns a promise when its permission check must wait for a token. */
  #process(req: WatchRequest): Promise<void> | undefined {
    const u = req.requestUnion;
    if (u.case !== "createRequest" || !this.#authz?.store.enabled) {
      this.#stream.handle(req);
      return undefined;
    }
    const creq = u.value;
    let ai: AuthInfo | undefined | Promise<AuthInfo | undefined>;
    try {
      ai = this.#authz.info(this.#call!);
    } catch (err) {
      this.#stream.refuseCreate(cancelReason(err));
      return undefined;
    }
    if (ai instanceof Promise) {
      return ai.then(
        (found) => this.#decide(req, creq, found),
        (err) => this.#stream.refuseCreate(cancelReason(err)),
      );
    }
    this.#decide(req, creq, ai);
    return undefined;
  }

  /**
   * READ on exactly the range the watcher will cover: the range end as the
   * client sent it, so a "\0" end (every key from `key` on) is a range to
   * cover, never a single key (GHSA-xg4h-6gfc-h4m8).
   */
  #decide(req: WatchRequest, creq: WatchCreateRequest, ai: AuthInfo | undefined): void {
    if (this.#stream.closed) return;
    const key = creq.key.length === 0 ? SMALLEST_KEY : creq.key;
    try {
      this.#authz!.store.checkRange(ai, key, creq.rangeEnd);
    } catch (err) {
      this.#stream.refuseCreate(cancelReason(err));
      return;
    }
    this.#stream.handle(req);
  }

  #enqueue(step: () => Promise<void> | undefined): void {
    const run = (this.#queue ?? Promise.resolve()).then(step).catch((err) => this.fail(err));
    this.#queue = run;
    run.then(() => {
      if (this.#queue === run) this.#queue = undefined;
    });
  }

  /** Ends the session with an error for the client. */
  fail(err: unknown): void {
    this.#failure ??= err;
    this.close();
  }

  /**
   * The next responses to send, as soon as there are any; undefined once
   * the session has ended (then see {@link failure}).
   */
  async next(): Promise<WatchResponse[] | undefined> {
    for (;;) {
      if (this.#stream.closed) return undefined;
      await this.#stream.wait();
      const batch = this.#stream.take();
      // Events are encoded once per write, not once per watcher.
      if (this.#preEncode) { for (const r of batch) withEncodedEvents(r); }
      if (batch.length > 0) return batch;
    }
  }

  /** Releases the watchers and timers. */
  close(): void {
    clearInterval(this.#monitor);
    this.#monitor = undefined;
    this.#stream.close();
  }
}

/**
 * etcd's cancel reason for a watch create the auth checks refused: the
 * text of the gRPC status error, as Go prints it ("rpc error: code =
 * PermissionDenied desc = etcdserver: permission denied").
 */
function cancelReason(err: unknown): string {
  const message = (err as { rawMessage?: string })?.rawMessage ?? "";
  const refusal = err instanceof ConnectError && AUTH_CANCEL_REASONS.has(message)
    ? err
    : EtcdErrors.permissionDenied();
  return `rpc error: code = ${Code[refusal.code]} desc = ${refusal.rawMessage}`;
}

/** The Watch service bound to a member, for connect's handlers. */
export function watchService(
  member: Member,
  opts: WatchServiceOptions = {},
  authz: Authorizer = authOf(member).authz,
): ServiceImpl<typeof Watch> {
  const progressIntervalMs = opts.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  return {
    watch(requests: AsyncIterable<WatchRequest>, ctx: HandlerContext) {
      const binary = !(ctx.requestHeader.get("content-type") ?? "").includes("json");
      const session = new WatchSession(
        member,
        (name) => ctx.requestHeader.get(name),
        binary,
        progressIntervalMs,
        { authz, call: ctx },
      );
      return serveStream(session, requests, ctx);
    },
  };
}

async function* serveStream(
  session: WatchSession,
  requests: AsyncIterable<WatchRequest>,
  ctx: HandlerContext,
): AsyncGenerator<WatchResponse> {
  const onAbort = () => session.close();
  ctx.signal.addEventListener("abort", onAbort);
  // Reading runs beside writing. A client that half-closes keeps its
  // watchers (etcd's recvLoop just returns); a broken request stream ends all.
  (async () => {
    try {
      for await (const req of requests) session.handle(req);
    } catch (err) {
      session.fail(err);
    }
  })();
  try {
    let batch: WatchResponse[] | undefined;
    while ((batch = await session.next()) !== undefined) yield* batch;
    if (session.failure !== undefined) throw session.failure;
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    session.close();
  }
}

/**
 * Sends a stream's batches in pieces of about {@link SEND_PIECE_BYTES},
 * encoded in turn into two buffers the stream keeps: a piece is encoded
 * while the other one is on its way, and a buffer is written again only
 * once the connection has handed what it carried to the socket. A
 * catch-up batch is up to 128 responses of a thousand events each (tens
 * of MiB), and a live put is one small response per watcher; a fresh
 * buffer per piece made every byte sent fresh memory first, which cost
 * more than encoding into it. A buffer that a batch grew past
 * {@link KEPT_BUFFER_BYTES} is let go after it (many idle streams keep
 * only small ones).
 */
export class PieceSender {
  readonly #sender: Pick<BidiSender<typeof WatchResponseSchema>, "sendFramed" | "written">;
  readonly #pieceBytes: number;
  readonly #buffers = [new BatchBuffer(0), new BatchBuffer(0)];
  /** Settles once the connection no longer holds what buffer i carried. */
  readonly #free: (Promise<void> | undefined)[] = [undefined, undefined];
  #turn = 0;

  /** @param sender the call's sender; @param pieceBytes target piece size */
  constructor(
    sender: Pick<BidiSender<typeof WatchResponseSchema>, "sendFramed" | "written">,
    pieceBytes: number = SEND_PIECE_BYTES,
  ) {
    this.#sender = sender;
    this.#pieceBytes = pieceBytes;
  }

  /** Sends `batch`; resolves once its last piece was handed to the connection. */
  async send(batch: readonly WatchResponse[]): Promise<void> {
    // One response (a put seen by one watcher of the stream) is one piece
    // whatever its size: no generator and no copy of the batch.
    if (batch.length === 1) await this.#piece(batch);
    else for (const piece of pieces(batch, this.#pieceBytes)) await this.#piece(piece);
    for (let i = 0; i < 2; i++) {
      if (this.#buffers[i].buf.length <= KEPT_BUFFER_BYTES) continue;
      // The connection may still hold the old one: it is never written again.
      this.#buffers[i] = new BatchBuffer(0);
      this.#free[i] = undefined;
    }
  }

  async #piece(piece: readonly WatchResponse[]): Promise<void> {
    const i = this.#turn;
    this.#turn ^= 1;
    let framed: Uint8Array;
    if (framedBound(piece) > REUSED_PIECE_BYTES) framed = encodeWatchBatch(piece);
    else {
      const free = this.#free[i];
      if (free !== undefined) await free;
      framed = encodeWatchBatch(piece, this.#buffers[i]);
    }
    await this.#sender.sendFramed(framed);
    this.#free[i] = this.#sender.written();
  }
}

/** Upper bound of a piece's encoding. */
function framedBound(piece: readonly WatchResponse[]): number {
  let n = 0;
  for (const r of piece) n += framedSizeBound(r);
  return n;
}

/** The Watch method for the client port's direct gRPC path (binary protobuf only). */
export function watchBidi(
  member: Member,
  opts: WatchServiceOptions = {},
  authz: Authorizer = authOf(member).authz,
): BidiOpen<typeof WatchRequestSchema, typeof WatchResponseSchema> {
  const progressIntervalMs = opts.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  return (header, sender, peerCertificate) => {
    const auth = { authz, call: callContext(header, peerCertificate) };
    const session = new WatchSession(member, header, false, progressIntervalMs, auth);
    const out = new PieceSender(sender);
    (async () => {
      let batch: WatchResponse[] | undefined;
      while ((batch = await session.next()) !== undefined) await out.send(batch);
      sender.finish(session.failure);
    })().catch((err) => sender.finish(err));
    return {
      message: (req) => session.handle(req),
      end: () => {},
      abort: () => session.close(),
    };
  };
}
