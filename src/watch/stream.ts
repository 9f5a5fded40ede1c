/**
 * One client Watch stream (etcd's serverWatchStream), independent of the
 * transport: it takes `WatchRequest`s, keeps the stream's watchers, and
 * queues `WatchResponse`s for the transport to send.
 *
 * Control responses (created, canceled) are always queued; event,
 * progress and compaction responses go through a bounded buffer, and a
 * watcher whose response does not fit is sent back to catch up from
 * history by the hub. Responses are built lazily when the transport takes
 * them, so the apply path only pushes a reference.
 *
 * @module
 */
import {
  type ResponseHeader,
  type WatchCreateRequest,
  WatchCreateRequest_FilterType,
  type WatchRequest,
  type WatchResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type Event, Event_EventType } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { fragmentResponse } from "./fragment.ts";
import type { WatchHub } from "./hub.ts";
import { type HubResponse, isEmptyRange, type Watcher, type WatchSink } from "./watcher.ts";

/** etcd's client-side InvalidWatchID: progress for the whole stream and failed creates. */
export const INVALID_WATCH_ID = -1n;

/** etcd 3.5's progress report interval. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 10 * 60 * 1000;

/** etcd's per-stream event buffer (chanBufLen). */
export const DEFAULT_BUFFER = 128;

/** How a stream is wired to the member. */
export interface StreamOptions {
  /** The member's hub. */
  hub: WatchHub;
  /** A response header at `revision`, filled with cluster, member and term. */
  header: (revision: number) => ResponseHeader;
  /** `--max-request-bytes`: fragment size for watchers that asked for fragments. */
  maxRequestBytes: number;
  /** Bounded buffer of event/progress responses (default 128). */
  bufferSize?: number;
  /** Progress notification interval (default 10 minutes). */
  progressIntervalMs?: number;
  /**
   * Starts the progress ticker: calls `tick` every `ms` and returns a stop
   * function. Default `setInterval`; tests drive ticks by hand.
   */
  progressTimer?: (tick: () => void, ms: number) => () => void;
  /** Counts events queued here, sent, and dropped with the stream (etcd's watch event metrics). */
  eventStats?: WatchEventStats;
}

/** Where a stream reports the events that pass through its buffer. */
export interface WatchEventStats {
  /** `n` events were queued for the client. */
  queued(n: number): void;
  /** `n` queued events left the buffer for the wire. */
  sent(n: number): void;
  /** `n` queued events were dropped with the stream. */
  dropped(n: number): void;
}

/**
 * A queued control response (a built WatchResponse, told apart by its
 * `$typeName`) or a hub response still to be built: no wrapper object per
 * event response, of which 1,000 watchers make 1,000 per put.
 */
type Queued = WatchResponse | HubResponse;

function isControl(q: Queued): q is WatchResponse {
  return "$typeName" in q;
}

/** A client Watch stream; see the module doc. */
export class WatchStream implements WatchSink {
  readonly #hub: WatchHub;
  readonly #header: (revision: number) => ResponseHeader;
  readonly #maxRequestBytes: number;
  readonly #bufferSize: number;
  /** The stream's live watchers by watch id (their stream options ride on them). */
  readonly #entries = new Map<bigint, Watcher>();
  #queue: Queued[] = [];
  #bounded = 0;
  #wasFull = false;
  #nextId = 0n;
  #deferredProgress = false;
  #closed = false;
  #wake: (() => void) | undefined;
  readonly #stopTicker: () => void;
  readonly #eventStats: WatchEventStats | undefined;

  /** @param opts wiring and limits */
  constructor(opts: StreamOptions) {
    this.#hub = opts.hub;
    this.#header = opts.header;
    this.#maxRequestBytes = opts.maxRequestBytes;
    this.#bufferSize = opts.bufferSize ?? DEFAULT_BUFFER;
    this.#eventStats = opts.eventStats;
    const interval = opts.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    const timer = opts.progressTimer ?? ((tick, ms) => {
      const id = setInterval(tick, ms);
      return () => clearInterval(id);
    });
    this.#stopTicker = timer(() => this.#progressTick(), interval);
  }

  /** True once closed: nothing more will be queued. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Live watch ids of the stream. */
  get watchIds(): bigint[] {
    return [...this.#entries.keys()];
  }

  // ---- WatchSink ----

  /**
   * True while the bounded buffer is full. The hub asks before it reads a
   * lagging watcher's history and then skips it, so a true answer also
   * counts as a refusal: once the buffer has drained to half the stream
   * kicks the hub, instead of the skipped watchers waiting for its retry
   * timer (100 ms) while the stream sits idle with nothing queued.
   */
  get full(): boolean {
    if (this.#bounded < this.#bufferSize) return false;
    this.#wasFull = true;
    return true;
  }

  /** Takes an event/progress/compaction response unless the buffer is full. */
  offer(resp: HubResponse): boolean {
    if (this.#closed) return true; // dropped: the stream is going away
    if (this.full) return false;
    this.#bounded++;
    this.#push(resp);
    this.#eventStats?.queued(resp.events.length);
    return true;
  }

  /** A watcher caught up: a deferred progress request may now be answered. */
  onSynced(_w: Watcher): void {
    if (this.#deferredProgress) this.#requestProgressAll();
  }

  // ---- requests ----

  /** Handles one request from the client (unknown kinds are ignored, as etcd does). */
  handle(req: WatchRequest): void {
    if (this.#closed) return;
    const u = req.requestUnion;
    switch (u.case) {
      case "createRequest":
        this.#create(u.value);
        break;
      case "cancelRequest":
        this.#cancel(u.value.watchId);
        break;
      case "progressRequest":
        if (!this.#deferredProgress) this.#requestProgressAll();
        break;
    }
  }

  /**
   * Answers a create request refused before it reached the stream (the
   * permission check of src/api/watch.ts): created and canceled at once,
   * with `reason`; the stream stays open.
   */
  refuseCreate(reason: string): void {
    if (this.#closed) return;
    this.#refuse(this.#hub.store.currentRevision, reason);
  }

  /** A create refused at revision `rev`: created and canceled with `reason`. */
  #refuse(rev: number, reason: string): void {
    this.#push(controlResponse(this.#header(rev), INVALID_WATCH_ID, true, true, reason));
  }

  #create(creq: WatchCreateRequest): void {
    const cur = this.#hub.store.currentRevision;
    // etcd's watch server: "\0" is the smallest key, a "\0" range end means ">= key".
    const key = creq.key.length === 0 ? new Uint8Array([0]) : creq.key;
    // A negative start revision is accepted and then canceled as compacted
    // by the hub (etcd 3.4/3.5; 3.6 refuses it up front).
    if (isEmptyRange(key, creq.rangeEnd)) return this.#refuse(cur, "mvcc: watcher range is empty");
    let id = creq.watchId;
    if (id === 0n) {
      while (this.#entries.has(this.#nextId)) this.#nextId++;
      id = this.#nextId++;
    } else if (this.#entries.has(id)) {
      return this.#refuse(cur, "mvcc: duplicate watch ID provided on the WatchStream");
    }
    // Created goes out before anything the watcher can produce.
    this.#push(controlResponse(this.#header(cur), id, true, false, ""));
    const watcher = this.#hub.watch(
      id,
      {
        key,
        rangeEnd: creq.rangeEnd,
        noPut: creq.filters.includes(WatchCreateRequest_FilterType.NOPUT),
        noDelete: creq.filters.includes(WatchCreateRequest_FilterType.NODELETE),
        prevKv: creq.prevKv,
        fragment: creq.fragment,
        progressNotify: creq.progressNotify,
      },
      Number(creq.startRevision),
      this,
    );
    this.#entries.set(id, watcher);
  }

  #cancel(id: bigint): void {
    const w = this.#entries.get(id);
    if (w === undefined) return; // etcd answers nothing for an unknown id
    this.#hub.cancel(w);
    this.#entries.delete(id);
    this.#push(
      controlResponse(this.#header(this.#hub.store.currentRevision), id, false, true, ""),
    );
    if (this.#deferredProgress) this.#requestProgressAll();
  }

  /**
   * etcd 3.5's RequestProgressAll: when every watcher of the stream is
   * synced, one response with watch id -1 and the current revision;
   * otherwise deferred until they are. A stream without watchers gets none.
   */
  #requestProgressAll(): void {
    let first: Watcher | undefined;
    for (const w of this.#entries.values()) {
      if (w.state === "done") continue; // canceled by compaction
      if (!this.#hub.isSynced(w)) {
        this.#deferredProgress = true;
        return;
      }
      first ??= w;
    }
    this.#deferredProgress = false;
    if (first === undefined) return;
    const rev = this.#hub.store.currentRevision;
    // Like etcd, it rides the first watcher's buffer and is dropped when that is full.
    this.offer({ watcher: first, revision: rev, events: [], compactRevision: 0, streamWide: true });
  }

  #progressTick(): void {
    for (const w of this.#entries.values()) {
      if (!w.progressNotify) continue;
      if (w.quiet && this.#hub.isSynced(w)) {
        const rev = this.#hub.store.currentRevision;
        this.offer({ watcher: w, revision: rev, events: [], compactRevision: 0 });
      }
      w.quiet = true;
    }
  }

  // ---- output ----

  #push(q: Queued): void {
    this.#queue.push(q);
    const wake = this.#wake;
    if (wake !== undefined) {
      this.#wake = undefined;
      wake();
    }
  }

  /** Resolves when responses are queued or the stream closed. */
  wait(): Promise<void> {
    if (this.#queue.length > 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => (this.#wake = resolve));
  }

  /** Takes every queued response, built for the wire, in order. */
  take(): WatchResponse[] {
    const queued = this.#queue;
    this.#queue = [];
    const out: WatchResponse[] = [];
    for (const q of queued) {
      if (isControl(q)) {
        out.push(q);
        continue;
      }
      this.#bounded--;
      this.#eventStats?.sent(q.events.length);
      this.#build(q, out);
    }
    // A deferred progress request is retried as responses go out (etcd's sendLoop).
    if (this.#deferredProgress) this.#requestProgressAll();
    if (this.#wasFull && this.#bounded <= this.#bufferSize / 2) {
      this.#wasFull = false;
      this.#hub.kick();
    }
    return out;
  }

  #build(r: HubResponse, out: WatchResponse[]): void {
    if (r.streamWide) {
      out.push(controlResponse(this.#header(r.revision), INVALID_WATCH_ID, false, false, ""));
      return;
    }
    const w = r.watcher;
    // Canceled since queued: etcd no longer forwards responses for that id.
    if (this.#entries.get(w.id) !== w) return;
    const resp = eventResponse(
      this.#header(r.revision),
      w.id,
      this.#wireEvents(r.events, w.prevKv),
      r.compactRevision,
    );
    if (r.events.length > 0) w.quiet = false;
    if (w.fragment) out.push(...fragmentResponse(resp, this.#maxRequestBytes));
    else out.push(resp);
  }

  /** Store events carry prev_kv; keep it only where etcd's watch server would fill it. */
  #wireEvents(events: Event[], prevKv: boolean): Event[] {
    // Usually none has one (the hub builds prev_kv only while a watcher
    // asked for it): then the hub's array serves as it is.
    if (!events.some((ev) => ev.prevKv !== undefined)) return events;
    const compactRev = this.#hub.store.compactRevision;
    return events.map((ev) => {
      if (ev.prevKv === undefined) return ev;
      if (prevKv && !isCreate(ev) && Number(ev.kv!.modRevision) - 1 >= compactRev) return ev;
      return withoutPrevKv(ev);
    });
  }

  /** Cancels every watcher and wakes the transport; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTicker();
    for (const w of this.#entries.values()) this.#hub.cancel(w);
    this.#entries.clear();
    if (this.#eventStats !== undefined) {
      let n = 0;
      for (const q of this.#queue) if (!isControl(q)) n += q.events.length;
      this.#eventStats.dropped(n);
    }
    this.#queue = [];
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/**
 * An event, progress or compaction response, as `create(WatchResponseSchema,
 * ...)` makes it (every field, defaults included) but built as a literal:
 * with 1,000 watchers each put becomes 1,000 of these, and `create`'s
 * reflective initialisation cost 0.5–1 µs apiece (stream_test checks the
 * two are equal).
 */
export function eventResponse(
  header: ResponseHeader,
  watchId: bigint,
  events: Event[],
  compactRevision: number,
): WatchResponse {
  return {
    $typeName: "etcdserverpb.WatchResponse",
    header,
    watchId,
    created: false,
    canceled: compactRevision !== 0,
    compactRevision: compactRevision === 0 ? 0n : BigInt(compactRevision),
    cancelReason: "",
    fragment: false,
    events,
  };
}

/**
 * A response without events (created, canceled, a refused create, a
 * stream-wide progress notification), built as a literal like
 * {@link eventResponse}: 10,000 watchers opened make 10,000 "created"
 * responses (stream_test checks it equals `create`'s).
 */
export function controlResponse(
  header: ResponseHeader,
  watchId: bigint,
  created: boolean,
  canceled: boolean,
  cancelReason: string,
): WatchResponse {
  return {
    $typeName: "etcdserverpb.WatchResponse",
    header,
    watchId,
    created,
    canceled,
    compactRevision: 0n,
    cancelReason,
    fragment: false,
    events: [],
  };
}

/**
 * Copies without prev_kv, one per event: every watcher that gets the
 * stripped form shares it (so its wire encoding is shared too).
 */
const stripped = new WeakMap<Event, Event>();

function withoutPrevKv(ev: Event): Event {
  let out = stripped.get(ev);
  if (out === undefined) stripped.set(ev, out = { ...ev, prevKv: undefined });
  return out;
}

function isCreate(ev: Event): boolean {
  return ev.type === Event_EventType.PUT && ev.kv!.createRevision === ev.kv!.modRevision;
}
