/**
 * cairn's `Streams` service (proto/cairn/streams.proto): etcd's two
 * bidirectional streams in a form that fetch-based transports can call,
 * since a browser's fetch cannot send while it receives. Each method hands
 * its one request to the very Watch or LeaseKeepAlive implementation that
 * serves etcd's RPCs, as a request stream that then stays quiet:
 *
 * - Watch: the create request, then nothing (etcd keeps the watchers of a
 *   half-closed stream); the watch responses come back unchanged, and the
 *   call ends after a cancellation, since its one watcher is gone.
 * - LeaseKeepAlive: a keep-alive at once, then one a third of the granted
 *   TTL after each answer (clientv3's rhythm), until the call ends or an
 *   answer says the lease is gone (TTL 0, which is the last message).
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type Lease,
  type LeaseKeepAliveRequest,
  LeaseKeepAliveRequestSchema,
  type LeaseKeepAliveResponse,
  type Watch,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Streams } from "../gen/cairn/streams_pb.ts";

/** clientv3 checks for due keep-alives every 500 ms: no renewal comes sooner. */
const MIN_RENEW_INTERVAL_MS = 500;

/** The implementations the service runs on. */
export interface StreamsBackends {
  watch: Pick<ServiceImpl<typeof Watch>, "watch">;
  lease: Pick<ServiceImpl<typeof Lease>, "leaseKeepAlive">;
}

/** The Streams service over the member's Watch and Lease implementations. */
export function streamsService(backends: StreamsBackends): ServiceImpl<typeof Streams> {
  return {
    async *watch(req, ctx): AsyncGenerator<WatchResponse> {
      async function* requests(): AsyncGenerator<WatchRequest> {
        yield create(WatchRequestSchema, { requestUnion: { case: "createRequest", value: req } });
      }
      const responses = backends.watch.watch(requests(), ctx) as AsyncIterable<WatchResponse>;
      for await (const resp of responses) {
        yield resp;
        // The one watcher is gone (e.g. its start revision was compacted):
        // nothing more can come, so the call ends (leaving the loop closes the stream).
        if (resp.canceled) return;
      }
    },
    leaseKeepAlive(req, ctx) {
      return keepAlive(backends.lease, req.ID, ctx);
    },
  };
}

async function* keepAlive(
  lease: StreamsBackends["lease"],
  id: bigint,
  ctx: HandlerContext,
): AsyncGenerator<LeaseKeepAliveResponse> {
  let delayMs = 0;
  // The lease implementation asks for the next request only after its
  // answer to the last one was taken below, so `delayMs` is already set.
  async function* requests(): AsyncGenerator<LeaseKeepAliveRequest> {
    for (;;) {
      if (delayMs > 0 && !(await sleep(delayMs, ctx.signal))) return;
      if (ctx.signal.aborted) return;
      yield create(LeaseKeepAliveRequestSchema, { ID: id });
    }
  }
  const answers = lease.leaseKeepAlive(requests(), ctx) as AsyncIterable<LeaseKeepAliveResponse>;
  for await (const resp of answers) {
    yield resp;
    // The lease is gone (expired or revoked): clientv3 ends its channel too.
    if (resp.TTL <= 0n) return;
    delayMs = Math.max(MIN_RENEW_INTERVAL_MS, Number(resp.TTL) * 1000 / 3);
  }
}

/** Waits `ms`; false when `signal` fired first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
