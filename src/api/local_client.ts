/**
 * An in-process etcd client over the member's own service objects, as
 * etcd's v3lock and v3election servers use `v3client` (clientv3 wired to
 * the server itself). Every operation goes through the KV, Lease and
 * Watch implementations that serve gRPC, with a context derived from the
 * caller's, so whatever those objects check for a caller (leadership,
 * learners, permissions) applies to lock and election calls too.
 *
 * @module
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createHandlerContext,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import {
  DeleteRangeRequestSchema,
  type DeleteRangeResponse,
  KV,
  Lease,
  LeaseGrantRequestSchema,
  type LeaseGrantResponse,
  RangeRequestSchema,
  type RangeResponse,
  TxnRequestSchema,
  type TxnResponse,
  Watch,
  WatchCreateRequestSchema,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { EtcdErrors } from "../errors.ts";

/** Why a finished in-process call's context ends (shared: no DOMException per call). */
const CALL_ENDED = new ConnectError("call ended", Code.Canceled);

/** The service methods the client calls. */
export interface LocalServices {
  kv: Pick<ServiceImpl<typeof KV>, "range" | "txn" | "deleteRange">;
  lease: Pick<ServiceImpl<typeof Lease>, "leaseGrant">;
  watch: Pick<ServiceImpl<typeof Watch>, "watch">;
}

/** A watch opened by {@link LocalClient.watch}. */
export interface LocalWatch {
  /**
   * The next response carrying events or a progress notification.
   * Rejects when the watch is canceled by the server (compaction, ...),
   * when the caller's call ends, or after {@link close}.
   */
  next(): Promise<WatchResponse>;
  /** Cancels the watch. */
  close(): void;
}

/** Calls the member's services on behalf of one caller. */
export class LocalClient {
  readonly #services: LocalServices;
  readonly #parent: HandlerContext;
  /** Whether calls end when the caller's call does. */
  readonly #linked: boolean;

  constructor(services: LocalServices, parent: HandlerContext, linked = true) {
    this.#services = services;
    this.#parent = parent;
    this.#linked = linked;
  }

  /**
   * The same caller, with calls that outlive the caller's own: the clean-up
   * after a canceled wait (etcd runs it on the client's own context).
   */
  detached(): LocalClient {
    return new LocalClient(this.#services, this.#parent, false);
  }

  /** The caller's abort signal: it fires when the caller's call ends. */
  get signal(): AbortSignal {
    return this.#parent.signal;
  }

  /** KV Range. */
  range(init: MessageInitShape<typeof RangeRequestSchema>): Promise<RangeResponse> {
    return this.#unary(
      KV,
      KV.method.range,
      async (ctx) =>
        await this.#services.kv.range(create(RangeRequestSchema, init), ctx) as RangeResponse,
    );
  }

  /** KV Txn. */
  txn(init: MessageInitShape<typeof TxnRequestSchema>): Promise<TxnResponse> {
    return this.#unary(
      KV,
      KV.method.txn,
      async (ctx) =>
        await this.#services.kv.txn(create(TxnRequestSchema, init), ctx) as TxnResponse,
    );
  }

  /** KV DeleteRange. */
  deleteRange(
    init: MessageInitShape<typeof DeleteRangeRequestSchema>,
  ): Promise<DeleteRangeResponse> {
    return this.#unary(
      KV,
      KV.method.deleteRange,
      async (ctx) =>
        await this.#services.kv.deleteRange(
          create(DeleteRangeRequestSchema, init),
          ctx,
        ) as DeleteRangeResponse,
    );
  }

  /** Lease LeaseGrant with a server-chosen id. */
  leaseGrant(ttl: bigint): Promise<LeaseGrantResponse> {
    return this.#unary(
      Lease,
      Lease.method.leaseGrant,
      async (ctx) =>
        await this.#services.lease.leaseGrant(
          create(LeaseGrantRequestSchema, { TTL: ttl }),
          ctx,
        ) as LeaseGrantResponse,
    );
  }

  /** One unary call in its own context, ended with the call (as connect ends a call's). */
  async #unary<T>(
    service: typeof KV | typeof Lease,
    method: (typeof service)["methods"][number],
    call: (ctx: ReturnType<LocalClient["context"]>) => Promise<T>,
  ): Promise<T> {
    const ctx = this.context(service, method);
    try {
      return await call(ctx);
    } finally {
      ctx.abort(CALL_ENDED);
    }
  }

  /** Opens one watcher on the Watch service. */
  watch(init: MessageInitShape<typeof WatchCreateRequestSchema>): LocalWatch {
    const ctx = this.context(Watch, Watch.method.watch);
    const request = create(WatchRequestSchema, {
      requestUnion: { case: "createRequest", value: create(WatchCreateRequestSchema, init) },
    });
    // One request, then a half-close: the watcher stays until canceled.
    async function* requests(): AsyncGenerator<WatchRequest> {
      yield request;
    }
    const it = this.#services.watch.watch(requests(), ctx)[Symbol.asyncIterator]();
    const closed = () => new ConnectError("context canceled", Code.Canceled);
    return {
      next: async () => {
        for (;;) {
          if (ctx.signal.aborted) throw closed();
          const r = await raceSignal(it.next(), ctx.signal, closed);
          if (r.done) throw closed();
          const resp = r.value as WatchResponse;
          if (resp.canceled) {
            // clientv3 closes the channel with the reason.
            if (resp.compactRevision !== 0n) throw EtcdErrors.compacted();
            throw new ConnectError(resp.cancelReason || "watch canceled", Code.Canceled);
          }
          // The creation notice carries nothing clientv3 hands on.
          if (resp.created && resp.events.length === 0) continue;
          return resp;
        }
      },
      close: () => {
        ctx.abort();
        it.return?.().catch(() => {});
      },
    };
  }

  /** A context for one call: the caller's metadata and values, ended with the caller when linked. */
  private context(
    service: typeof KV | typeof Lease | typeof Watch,
    method: (typeof service)["methods"][number],
  ) {
    const parent = this.#parent;
    const header = new Headers(parent.requestHeader);
    // The calls are made and read here, in memory: the Watch service keeps
    // events as messages for a JSON call (it pre-encodes them for binary ones).
    header.set("content-type", "application/json");
    return createHandlerContext({
      service,
      method,
      protocolName: parent.protocolName,
      requestMethod: "POST",
      url: parent.url,
      requestHeader: header,
      contextValues: parent.values,
      requestSignal: this.#linked ? parent.signal : undefined,
    });
  }
}

/** Settles with `p`, or rejects with `reason()` once `signal` fires. */
export function raceSignal<T>(
  p: Promise<T>,
  signal: AbortSignal,
  reason: () => Error,
): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(reason());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener("abort", onAbort, { once: true });
    p.then((v) => {
      signal.removeEventListener("abort", onAbort);
      resolve(v);
    }, (e) => {
      signal.removeEventListener("abort", onAbort);
      reject(e);
    });
  });
}
