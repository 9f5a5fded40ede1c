/**
 * The watch hub (etcd's watchableStore): fans committed events out to
 * watchers and brings lagging watchers up to date from history.
 *
 * - Synced watchers get each write's events straight from apply, through
 *   an index (`WatcherGroup`) so fan-out cost follows the watchers that
 *   match, not all watchers.
 * - Unsynced watchers (start revision in the past, a full stream buffer,
 *   a snapshot that replaced the store) catch up from `eventsBetween` in
 *   bounded rounds scheduled off the apply path. A round reads history up
 *   to the current revision and moves the watcher into the synced group in
 *   the same turn, so no write can slip in between: nothing is lost or
 *   sent twice.
 * - A watcher whose next revision is below the compaction revision gets
 *   one response with `compact_revision` set and is dropped, as etcd does.
 * - Writes never wait for watchers: a sink that refuses a response (its
 *   buffer is full) only sends the watcher back to unsynced.
 *
 * @module
 */
import { type Clock, REAL_CLOCK, type TimerId } from "../clock.ts";
import type { Event } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { toBinary } from "../mvcc/keys.ts";
import type { EventCache, MvccStore } from "../mvcc/store.ts";
import { WatcherGroup } from "./group.ts";
import { Watcher, type WatcherSpec, type WatchSink } from "./watcher.ts";

/** Tuning knobs; the defaults follow etcd. */
export interface HubOptions {
  /** Most distinct revisions in one catch-up response (etcd's watchBatchMaxRevs, 1000). */
  maxBatchRevs?: number;
  /** Unsynced watchers served per catch-up round (etcd's maxWatchersPerSync, 512). */
  watchersPerRound?: number;
  /** Store revisions of history one watcher reads per round (bounds the work of a round). */
  spanRevs?: number;
  /**
   * Versions whose catch-up Event objects are remembered across rounds
   * (two generations of this many; default 4096), so watchers that lag
   * alike share one object and one encoding per version.
   */
  sharedEvents?: number;
  /** Delay before retrying watchers whose streams were full (etcd syncs every 100 ms). */
  retryMs?: number;
  /** Timers for catch-up rounds (default: the runtime's; the member simulation passes its own). */
  clock?: Clock;
}

/** Fans out MVCC events to watchers; see the module doc. */
export class WatchHub {
  readonly #synced = new WatcherGroup();
  readonly #unsynced = new Set<Watcher>();
  readonly #maxBatchRevs: number;
  readonly #watchersPerRound: number;
  readonly #spanRevs: number;
  readonly #retryMs: number;
  readonly #clock: Clock;
  #store: MvccStore | undefined;
  #timer: TimerId | undefined;
  #timerDue = Infinity;
  #closed = false;
  /** Scratch list of #notifyOne (reused: apply runs one write at a time). */
  readonly #matched: Watcher[] = [];
  /** Live watchers that asked for prev_kv. */
  #prevKvWatchers = 0;
  /** Catch-up events built without / with prev_kv (never mixed in one cache). */
  readonly #plainEvents: GenerationalCache;
  readonly #prevEvents: GenerationalCache;

  /** @param opts tuning knobs (tests make them small) */
  constructor(opts: HubOptions = {}) {
    this.#maxBatchRevs = opts.maxBatchRevs ?? 1000;
    this.#watchersPerRound = opts.watchersPerRound ?? 512;
    this.#spanRevs = opts.spanRevs ?? 10_000;
    this.#retryMs = opts.retryMs ?? 100;
    this.#clock = opts.clock ?? REAL_CLOCK;
    const shared = opts.sharedEvents ?? 4096;
    this.#plainEvents = new GenerationalCache(shared);
    this.#prevEvents = new GenerationalCache(shared);
  }

  /**
   * Subscribes to `store`'s events and compactions. Called again after a
   * snapshot install replaced the store: every synced watcher then catches
   * up from the new store's history (etcd's watchableStore.Restore).
   */
  attach(store: MvccStore): void {
    const old = this.#store;
    if (old === store) return;
    if (old !== undefined) {
      old.onEvents = undefined;
      old.eventsWanted = undefined;
      old.prevWanted = undefined;
      old.onCompact = undefined;
    }
    this.#store = store;
    // Cached events are the old store's versions.
    this.#plainEvents.clear();
    this.#prevEvents.clear();
    store.onEvents = (rev, events) => this.#notify(rev, events);
    // Only synced watchers take live events; unsynced ones read history.
    store.eventsWanted = () => this.#synced.size > 0;
    store.prevWanted = () => this.#prevKvWatchers > 0;
    store.onCompact = () => this.kick();
    if (old === undefined) return;
    // Synced watchers have seen everything up to the old store's revision.
    const seen = old.currentRevision + 1;
    for (const w of [...this.#synced]) {
      this.#synced.delete(w);
      if (w.minRev < seen) w.minRev = seen;
      w.state = "unsynced";
      this.#unsynced.add(w);
    }
    this.kick();
  }

  /** The attached store. */
  get store(): MvccStore {
    if (this.#store === undefined) throw new Error("watch hub has no store attached");
    return this.#store;
  }

  /** Number of synced and unsynced watchers (for metrics and tests). */
  get counts(): { synced: number; unsynced: number } {
    return { synced: this.#synced.size, unsynced: this.#unsynced.size };
  }

  /**
   * Registers a watcher. `startRev` 0 means "from the next write"; a start
   * revision after the current one waits for it; an older one catches up
   * from history (or is canceled as compacted).
   */
  watch(id: bigint, spec: WatcherSpec, startRev: number, sink: WatchSink): Watcher {
    const cur = this.store.currentRevision;
    if (spec.prevKv) this.#prevKvWatchers++;
    if (startRev === 0 || startRev > cur) {
      const w = new Watcher(id, spec, startRev, Math.max(cur + 1, startRev), sink);
      w.state = "synced";
      this.#synced.add(w);
      return w;
    }
    const w = new Watcher(id, spec, startRev, startRev, sink);
    this.#unsynced.add(w);
    this.kick();
    return w;
  }

  /** Removes a watcher; it gets nothing more. */
  cancel(w: Watcher): void {
    if (w.state === "synced") this.#synced.delete(w);
    else if (w.state === "unsynced") this.#unsynced.delete(w);
    this.#retire(w);
  }

  /** Marks `w` done, once. */
  #retire(w: Watcher): void {
    if (w.state !== "done" && w.prevKv) this.#prevKvWatchers--;
    w.state = "done";
  }

  /**
   * Whether `w` is live and up to date, so a progress notification may
   * claim "nothing for you up to the current revision" (etcd's progressIfSync).
   */
  isSynced(w: Watcher): boolean {
    return w.state === "synced" && this.store.currentRevision >= w.startRev;
  }

  /** Schedules a catch-up round soon (a sink calls this when its buffer drains). */
  kick(): void {
    this.#schedule(0);
  }

  /** Stops timers and detaches from the store. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#store !== undefined) {
      this.#store.onEvents = undefined;
      this.#store.eventsWanted = undefined;
      this.#store.prevWanted = undefined;
      this.#store.onCompact = undefined;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed || this.#unsynced.size === 0) return;
    const due = this.#clock.monotonic() + delayMs;
    if (this.#timer !== undefined) {
      if (this.#timerDue <= due) return;
      this.#clock.clearTimeout(this.#timer);
    }
    this.#timerDue = due;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDue = Infinity;
      this.#syncRound();
    }, delayMs);
  }

  /** Live fan-out of one write revision (runs inside apply: must stay cheap). */
  #notify(rev: number, events: Event[]): void {
    if (this.#synced.size === 0) return;
    if (events.length === 1) return this.#notifyOne(rev, events);
    const batches = new Map<Watcher, Event[]>();
    for (const ev of events) {
      this.#synced.forEachMatching(toBinary(ev.kv!.key), (w) => {
        if (rev < w.minRev) return; // a watcher waiting for a future start revision
        const b = batches.get(w);
        if (b === undefined) batches.set(w, [ev]);
        else b.push(ev);
      });
    }
    let demoted = false;
    for (const [w, evs] of batches) demoted = this.#deliver(w, rev, evs) || demoted;
    if (demoted) this.#schedule(this.#retryMs);
  }

  /**
   * A write of one key (most puts): every matching watcher gets the
   * store's own one-event array, so no map and no array per watcher.
   */
  #notifyOne(rev: number, events: Event[]): void {
    const matched = this.#matched;
    // Collected first: delivering may demote, which edits the group.
    this.#synced.forEachMatching(toBinary(events[0].kv!.key), (w) => {
      if (rev >= w.minRev) matched.push(w);
    });
    let demoted = false;
    for (let i = 0; i < matched.length; i++) {
      demoted = this.#deliver(matched[i], rev, events) || demoted;
    }
    matched.length = 0;
    if (demoted) this.#schedule(this.#retryMs);
  }

  /** Offers `w` its events of revision `rev`; true when its full stream sent it back to unsynced. */
  #deliver(w: Watcher, rev: number, evs: Event[]): boolean {
    const out = w.filter(evs);
    if (
      out.length > 0 &&
      !w.sink.offer({ watcher: w, revision: rev, events: out, compactRevision: 0 })
    ) {
      // Its stream is full: it will get this revision again from history.
      w.minRev = rev;
      this.#synced.delete(w);
      w.state = "unsynced";
      this.#unsynced.add(w);
      return true;
    }
    w.minRev = rev + 1;
    return false;
  }

  /** One bounded catch-up round over unsynced watchers (etcd's syncWatchers). */
  #syncRound(): void {
    if (this.#closed || this.#store === undefined) return;
    const store = this.#store;
    const cur = store.currentRevision;
    const compactRev = store.compactRevision;
    let served = 0;
    let blocked = false;
    const reads = new Map<string, { events: Event[]; next: number | undefined }>();
    // Reads hand out one Event object per version, in this round and the
    // next ones: watchers that lag differently (or are served in different
    // rounds) still share events and their encoding.
    const withPrev = this.#prevKvWatchers > 0;
    const shared = withPrev ? this.#prevEvents : this.#plainEvents;
    let more = false;
    // Snapshot the order: watchers that stay unsynced go to the back.
    for (const w of [...this.#unsynced]) {
      if (served >= this.#watchersPerRound) {
        more = true;
        break;
      }
      if (w.sink.full) {
        blocked = true;
        continue;
      }
      served++;
      if (w.minRev < compactRev) {
        // Its history is gone: one compaction response, then it is dropped.
        if (w.sink.offer({ watcher: w, revision: 0, events: [], compactRevision: compactRev })) {
          this.#unsynced.delete(w);
          this.#retire(w);
        } else blocked = true;
        continue;
      }
      if (w.minRev > cur) {
        // A future start revision moved here by a store restore.
        this.#promote(w);
        continue;
      }
      // No more than one response's worth of revisions is read.
      const to = Math.min(cur, w.minRev + Math.min(this.#spanRevs, this.#maxBatchRevs) - 1);
      // Watchers of one span that lag alike (a whole stream demoted at once)
      // share one history read: the same Event objects, encoded once.
      const readKey = `${w.minRev}:${to}:${w.kind}:${w.bkey}:${w.bend}`;
      // The cut is shared too: it walks every event of the read, and 1,000
      // watchers demoted together would each walk the same thousand.
      let read = reads.get(readKey);
      if (read === undefined) {
        read = this.#cut(
          store.eventsBetween(w.minRev, to, w.key, w.rangeEnd, shared, withPrev),
        );
        reads.set(readKey, read);
      }
      const { events, next } = read;
      const out = w.filter(events);
      if (out.length > 0) {
        if (!w.sink.offer({ watcher: w, revision: cur, events: out, compactRevision: 0 })) {
          blocked = true;
          continue;
        }
      }
      if (next !== undefined) {
        w.minRev = next;
      } else if (to < cur) {
        w.minRev = to + 1;
      } else {
        w.minRev = cur + 1;
        this.#promote(w);
        continue;
      }
      this.#unsynced.delete(w);
      this.#unsynced.add(w);
      more = true;
    }
    if (more) this.#schedule(0);
    else if (blocked) this.#schedule(this.#retryMs);
  }

  /** Keeps at most `maxBatchRevs` whole revisions; `next` is the first revision left out. */
  #cut(events: Event[]): { events: Event[]; next: number | undefined } {
    let revs = 0;
    let last = -1;
    for (let i = 0; i < events.length; i++) {
      const rev = Number(events[i].kv!.modRevision);
      if (rev !== last) {
        if (++revs > this.#maxBatchRevs) return { events: events.slice(0, i), next: rev };
        last = rev;
      }
    }
    return { events, next: undefined };
  }

  #promote(w: Watcher): void {
    this.#unsynced.delete(w);
    w.state = "synced";
    this.#synced.add(w);
    w.sink.onSynced?.(w);
  }
}

/**
 * A bounded map in two generations: lookups see both, inserts go to the
 * young one, and when it is full the old one is dropped and the young one
 * becomes old. Holds at most 2 × `limit` entries and keeps the recent.
 */
class GenerationalCache implements EventCache {
  #young = new Map<object, Event>();
  #old = new Map<object, Event>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(version: object): Event | undefined {
    return this.#young.get(version) ?? this.#old.get(version);
  }

  set(version: object, ev: Event): void {
    if (this.#young.size >= this.#limit) {
      this.#old = this.#young;
      this.#young = new Map();
    }
    this.#young.set(version, ev);
  }

  clear(): void {
    this.#young = new Map();
    this.#old = new Map();
  }
}
