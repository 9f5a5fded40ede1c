/**
 * One watcher as the hub sees it: a key span, the next revision it still
 * needs (`minRev`), its event filters, and the sink (its client stream)
 * that responses are offered to.
 *
 * @module
 */
import { type Event, Event_EventType } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { EMPTY_BYTES, fromBinary, keySpan, toBinary } from "../mvcc/keys.ts";

/** What the hub hands a stream for one watcher. */
export interface HubResponse {
  /** The watcher the response belongs to. */
  watcher: Watcher;
  /**
   * Header revision: the write's revision for live events, the store's
   * current revision for catch-up batches and progress, 0 for a compaction
   * cancel (as etcd leaves it).
   */
  revision: number;
  /** Events in revision order; empty for progress notifications and cancels. */
  events: Event[];
  /** Non-zero when the watcher is canceled because its history was compacted. */
  compactRevision: number;
  /** A progress notification for the whole stream (sent with watch id -1). */
  streamWide?: boolean;
}

/** Where a watcher's responses go: its client stream, with a bounded buffer. */
export interface WatchSink {
  /**
   * True while the sink's buffer is full (the hub then skips it when
   * catching up). A sink that answers true kicks the hub once it has room.
   */
  readonly full: boolean;
  /**
   * Offers an event, progress or compaction response. Returns false when
   * the buffer is full: the response was not taken and the watcher must
   * get those events again later (from history).
   */
  offer(resp: HubResponse): boolean;
  /** The watcher has caught up and now receives live events. */
  onSynced?(w: Watcher): void;
}

/** Where a watcher currently lives in the hub. */
export type WatcherState = "synced" | "unsynced" | "done";

/** Options that define a watcher (already normalised the way etcd's watch server does). */
export interface WatcherSpec {
  /** First key (never empty: etcd replaces an empty key by "\0"). */
  key: Uint8Array;
  /** Empty = the single key; "\0" = every key >= key; otherwise [key, rangeEnd). */
  rangeEnd: Uint8Array;
  /** Drop PUT events (etcd's NOPUT filter). */
  noPut?: boolean;
  /** Drop DELETE events (etcd's NODELETE filter). */
  noDelete?: boolean;
  /**
   * The client asked for `prev_kv`: while any watcher does, events are
   * built with it (otherwise without, which halves what each holds).
   */
  prevKv?: boolean;
  /** The client asked for fragmented responses (kept for its stream). */
  fragment?: boolean;
  /** The client asked for progress notifications (kept for its stream). */
  progressNotify?: boolean;
}

/** The range end of a from-key span ("\0"); never mutated. */
const FROM_KEY_END = new Uint8Array([0]);

/**
 * A registered watcher. Created by `WatchHub.watch`.
 *
 * It holds its span as binary strings only (the byte forms are rebuilt
 * for the rare history read), and the few per-watcher flags of its stream
 * live here too rather than in an object of their own: a member with
 * 10,000 watchers keeps 10,000 of these.
 */
export class Watcher {
  /** Stream-level watch id (only meaningful to the sink). */
  readonly id: bigint;
  /** How the span selects keys. */
  readonly kind: "single" | "from" | "range";
  /** First key as a binary string. */
  readonly bkey: string;
  /** Exclusive end as a binary string ("" unless kind is "range"). */
  readonly bend: string;
  /** Drop PUT events. */
  readonly noPut: boolean;
  /** Drop DELETE events. */
  readonly noDelete: boolean;
  /** Wants `prev_kv` on its events. */
  readonly prevKv: boolean;
  /** The revision the client asked to start from (0 = now). */
  readonly startRev: number;
  /** Where its responses go. */
  readonly sink: WatchSink;
  /** The lowest revision whose events this watcher has not been given yet. */
  minRev: number;
  /** Where it lives in the hub. */
  state: WatcherState = "unsynced";
  /** Its stream splits large responses (etcd's fragment option). */
  readonly fragment: boolean;
  /** Its stream sends it progress notifications. */
  readonly progressNotify: boolean;
  /** etcd's per-watcher progress flag, kept by its stream: no events since the last tick. */
  quiet = true;

  /** @internal use WatchHub.watch */
  constructor(id: bigint, spec: WatcherSpec, startRev: number, minRev: number, sink: WatchSink) {
    this.id = id;
    const span = keySpan(spec.key, spec.rangeEnd);
    this.kind = span.kind;
    this.bkey = span.key;
    this.bend = span.kind === "range" ? span.end : "";
    this.noPut = spec.noPut ?? false;
    this.noDelete = spec.noDelete ?? false;
    this.prevKv = spec.prevKv ?? false;
    this.fragment = spec.fragment ?? false;
    this.progressNotify = spec.progressNotify ?? false;
    this.startRev = startRev;
    this.minRev = minRev;
    this.sink = sink;
  }

  /** The first key as bytes (built on each call: for history reads). */
  get key(): Uint8Array {
    return fromBinary(this.bkey);
  }

  /** The range end as bytes, in etcd's form (empty, "\0" or the exclusive end). */
  get rangeEnd(): Uint8Array {
    if (this.kind === "single") return EMPTY_BYTES;
    return this.kind === "from" ? FROM_KEY_END : fromBinary(this.bend);
  }

  /** Whether the binary-string key `k` lies in this watcher's span. */
  contains(k: string): boolean {
    if (this.kind === "single") return k === this.bkey;
    if (k < this.bkey) return false;
    return this.kind === "from" || k < this.bend;
  }

  /** Whether any filter is set (so `filter` may drop events). */
  get filtered(): boolean {
    return this.noPut || this.noDelete;
  }

  /** The events that pass this watcher's filters (the same array when nothing is filtered). */
  filter(events: Event[]): Event[] {
    if (!this.noPut && !this.noDelete) return events;
    const out: Event[] = [];
    for (const ev of events) {
      if (ev.type === Event_EventType.PUT ? this.noPut : this.noDelete) continue;
      out.push(ev);
    }
    return out;
  }
}

/** Whether `rangeEnd` makes an empty span for `key` (etcd: end set and key >= end). */
export function isEmptyRange(key: Uint8Array, rangeEnd: Uint8Array): boolean {
  if (rangeEnd.length === 0) return false;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return false;
  return toBinary(key) >= toBinary(rangeEnd);
}
