/**
 * etcd's Watch service: one bidirectional stream carries many watchers.
 * Requests are handed to a `WatchStream` (src/watch/stream.ts) as they
 * arrive; its queued responses are yielded as soon as there are any.
 *
 * `hasleader: true` metadata (clientv3's WithRequireLeader) is honoured
 * as etcd's stream interceptor does: refused with "no leader" when the
 * member has none, and ended with that error once the member has been
 * without a leader for three election timeouts.
 *
 * @module
 */
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Watch, WatchRequest, WatchResponse } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";
import type { Member } from "../server/member.ts";
import { DEFAULT_PROGRESS_INTERVAL_MS, WatchStream } from "../watch/stream.ts";
import { withEncodedEvents } from "../watch/wire.ts";

/** etcd's metadata key and value for "require a leader" (rpctypes). */
const REQUIRE_LEADER_KEY = "hasleader";
const HAS_LEADER = "true";

/** etcd's monitorLeader: streams end after this many checks without a leader. */
const MAX_NO_LEADER_CHECKS = 3;

/** Options for {@link watchService}. */
export interface WatchServiceOptions {
  /** Progress notification interval (etcd: 10 minutes). */
  progressIntervalMs?: number;
}

/** The Watch service bound to a member. */
export function watchService(member: Member, opts: WatchServiceOptions = {}): ServiceImpl<
  typeof Watch
> {
  const progressIntervalMs = opts.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
  return {
    watch(requests: AsyncIterable<WatchRequest>, ctx: HandlerContext) {
      const requireLeader = ctx.requestHeader.get(REQUIRE_LEADER_KEY) === HAS_LEADER;
      if (requireLeader && member.leader === 0n) throw EtcdErrors.noLeader();
      return serveStream(member, requests, ctx, requireLeader, progressIntervalMs);
    },
  };
}

async function* serveStream(
  member: Member,
  requests: AsyncIterable<WatchRequest>,
  ctx: HandlerContext,
  requireLeader: boolean,
  progressIntervalMs: number,
): AsyncGenerator<WatchResponse> {
  // Pre-encoded events ride in protobuf's unknown fields, which a JSON
  // codec (Connect or gRPC with +json) would drop: binary codecs only.
  const binary = !(ctx.requestHeader.get("content-type") ?? "").includes("json");
  const stream = new WatchStream({
    hub: member.watchHub,
    header: (rev) => member.header(rev),
    maxRequestBytes: member.config.maxRequestBytes,
    progressIntervalMs,
  });
  let failure: unknown;
  const fail = (err: unknown) => {
    failure ??= err;
    stream.close();
  };
  const onAbort = () => stream.close();
  ctx.signal.addEventListener("abort", onAbort);
  let monitor: ReturnType<typeof setInterval> | undefined;
  if (requireLeader) {
    let misses = 0;
    monitor = setInterval(() => {
      misses = member.leader === 0n ? misses + 1 : 0;
      if (misses >= MAX_NO_LEADER_CHECKS) fail(EtcdErrors.noLeader());
    }, member.config.electionTimeoutMs);
  }
  // Reading runs beside writing. A client that half-closes keeps its
  // watchers (etcd's recvLoop just returns); a broken request stream ends all.
  (async () => {
    try {
      for await (const req of requests) {
        if (stream.closed) break;
        stream.handle(req);
      }
    } catch (err) {
      fail(err);
    }
  })();
  try {
    while (true) {
      await stream.wait();
      // Events are encoded once per write, not once per watcher.
      for (const resp of stream.take()) yield binary ? withEncodedEvents(resp) : resp;
      if (stream.closed) break;
    }
    if (failure !== undefined) throw failure;
  } finally {
    clearInterval(monitor);
    ctx.signal.removeEventListener("abort", onAbort);
    stream.close();
  }
}
