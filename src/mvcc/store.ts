/**
 * The MVCC key-value state machine: etcd's `mvcc.store` plus the KV part of
 * its `applierV3backend`, in memory. Deterministic: only committed Raft
 * entries call the mutating methods, in log order, on every member.
 *
 * Revisions are plain numbers inside; responses carry bigints. Every write
 * (put, delete that removed something, txn that wrote something) is exactly
 * one new revision. Top-level response headers are left unset: the caller
 * fills cluster/member/term, and the revision is `currentRevision` right
 * after the call (etcd's header revision for all four requests).
 */
import type {
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type Event, Event_EventType, type KeyValue } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import { EtcdErrors } from "../errors.ts";
import { type DecodedStore, decodeStore, decodeStoreSteps, encodeStore } from "./codec.ts";
import { runSteps, runStepsPaused } from "./steps.ts";
import { CompactionRunner } from "./compaction.ts";
import { StoreView } from "./view.ts";
import { compareToPath, forEachChosenOp, isTxnReadonly } from "./compare.ts";
import { hashAll, hashKV, type KVHash } from "./hash.ts";
import { KeyIndex, latestLive, previousOf, type Version, visibleAt } from "./history.ts";
import { compareBytes, EMPTY_BYTES, keySpan, toBinary } from "./keys.ts";
import { evalRange, kvOf } from "./range.ts";

/** How the store talks to the lessor (all optional; defaults accept every lease). */
export interface LeaseHooks {
  /** Whether lease `id` exists (a put naming an unknown lease fails with leaseNotFound). */
  exists(id: bigint): boolean;
  /** Key `key` is now attached to lease `id`. */
  attach(id: bigint, key: Uint8Array): void;
  /** Key `key` is no longer attached to lease `id`. */
  detach(id: bigint, key: Uint8Array): void;
}

const NO_HOOKS: LeaseHooks = {
  exists: () => true,
  attach: () => {},
  detach: () => {},
};

function header(rev: number): ResponseHeader {
  return {
    $typeName: "etcdserverpb.ResponseHeader",
    clusterId: 0n,
    memberId: 0n,
    revision: BigInt(rev),
    raftTerm: 0n,
  };
}

/** Wire KeyValue of a deleted key as etcd's watch events carry it. */
function tombstoneKV(v: Version): KeyValue {
  return {
    $typeName: "mvccpb.KeyValue",
    key: v.key,
    createRevision: 0n,
    modRevision: BigInt(v.main),
    version: 0n,
    value: EMPTY_BYTES,
    lease: 0n,
  };
}

function event(v: Version, prev: Version | undefined): Event {
  return {
    $typeName: "mvccpb.Event",
    type: v.ver === 0 ? Event_EventType.DELETE : Event_EventType.PUT,
    kv: v.ver === 0 ? tombstoneKV(v) : kvOf(v),
    prevKv: prev === undefined ? undefined : kvOf(prev),
  };
}

/**
 * Where `eventsBetween` looks up and leaves the Event built for a version
 * (keyed by the version object), so readers share one object per version.
 */
export interface EventCache {
  /** The event already built for `version`, if any. */
  get(version: object): Event | undefined;
  /** Remembers the event built for `version`. */
  set(version: object, ev: Event): unknown;
}

/** Write-txn slots kept for reuse; a larger txn's arrays are dropped when it ends. */
const KEEP_TXN_SLOTS = 1024;

/** In-memory etcd-compatible MVCC store. */
export class MvccStore {
  #index = new KeyIndex();
  #compaction = new CompactionRunner(this.#index);
  // etcd starts at revision 1 and compactMainRev -1.
  #rev = 1;
  #compactRev = -1;
  #hooks: LeaseHooks;
  // The open write txn: its new versions and the ones they replaced, in
  // the first `#count` slots. The arrays are reused (one write at a time):
  // emptying one with `length = 0` let its backing store go, and the next
  // push allocated another, two arrays of 17 slots per put.
  #changes: (Version | undefined)[] = [];
  #prevs: (Version | undefined)[] = [];
  #count = 0;

  /** Called after each committed write revision with its events (prev kv included). */
  onEvents?: (rev: number, events: Event[]) => void;
  /**
   * Whether anyone would look at the events now; when false they are not
   * built (most writes of a member without live watchers).
   */
  eventsWanted?: () => boolean;
  /**
   * Whether live events should carry the previous version (`prev_kv`);
   * when false they are built without it, which halves their size for
   * the usual watchers that never asked for it. Default: always.
   */
  prevWanted?: () => boolean;
  /** Called after a compaction with the new compact revision. */
  onCompact?: (rev: number) => void;
  /**
   * Called when a compaction at `rev` has passed its checks, before it
   * takes effect: the store still stands at the previous compact revision
   * (a member records the hash of what the compaction covers).
   */
  beforeCompact?: (rev: number) => void;

  /** @param hooks lessor callbacks; missing ones accept/ignore */
  constructor(hooks?: Partial<LeaseHooks>) {
    this.#hooks = { ...NO_HOOKS, ...hooks };
  }

  /** The newest revision (1 for an empty store). */
  get currentRevision(): number {
    return this.#rev;
  }

  /** The last compaction revision, -1 if never compacted (as etcd reports it). */
  get compactRevision(): number {
    return this.#compactRev;
  }

  // ---- reads ----

  /** Range at `req.revision` (0 = current). Throws compacted/futureRev. */
  range(req: RangeRequest): RangeResponse {
    return evalRange(this.#index, req, this.#rev, this.#compactRev);
  }

  /** The live KeyValue of `key` at the current revision, if any. */
  get(key: Uint8Array): KeyValue | undefined {
    const v = latestLive(this.#index.entry(toBinary(key)));
    return v === undefined ? undefined : kvOf(v);
  }

  /**
   * How many keys are live at the current revision (etcd's keys_total
   * gauge). It walks the index, so it is cached per revision: scrapes
   * between writes cost nothing.
   */
  liveKeyCount(): number {
    if (this.#liveKeysAt === this.#rev && this.#index === this.#liveKeysIndex) {
      return this.#liveKeys;
    }
    let n = 0;
    for (const hist of this.#index.tree.values()) if (latestLive(hist) !== undefined) n++;
    this.#liveKeys = n;
    this.#liveKeysAt = this.#rev;
    this.#liveKeysIndex = this.#index;
    return n;
  }
  #liveKeys = 0;
  #liveKeysAt = -1;
  #liveKeysIndex: KeyIndex | undefined;

  /** Live keys that carry a lease, with it (for rebuilding a lessor). */
  leasedKeys(): { key: Uint8Array; lease: bigint }[] {
    const out: { key: Uint8Array; lease: bigint }[] = [];
    for (const hist of this.#index.tree.values()) {
      const v = latestLive(hist);
      if (v !== undefined && v.lease !== 0n) out.push({ key: v.key.slice(), lease: v.lease });
    }
    return out;
  }

  /**
   * Retained events of revisions `[fromRev, toRev]` for keys in
   * `(key, rangeEnd)` (etcd's range_end rules; no key = every key), for
   * watch catch-up. The caller checks `fromRev >= compactRevision` first:
   * compaction drops superseded versions and tombstones up to it. Reads
   * that pass the same `shared` cache get the same Event object for a
   * version (so its wire encoding is made once for all of them). Without
   * `withPrev` the events carry no `prev_kv` (and the previous versions
   * are not looked up); a cache must only ever see one of the two forms.
   */
  eventsBetween(
    fromRev: number,
    toRev: number,
    key?: Uint8Array,
    rangeEnd?: Uint8Array,
    shared?: EventCache,
    withPrev = true,
  ): Event[] {
    const span = key === undefined ? undefined : keySpan(key, rangeEnd ?? EMPTY_BYTES);
    const index = this.#index;
    const log = index.log;
    const out: Event[] = [];
    for (let i = index.logIndexFrom(fromRev); i < log.length; i++) {
      const v = log[i];
      if (v.main > toRev) break;
      // A compaction whose work is under way: what it will drop is gone already.
      if (!index.retained(v)) continue;
      if (span !== undefined) {
        const k = v.bkey;
        if (span.kind === "single" ? k !== span.key : k < span.key) continue;
        if (span.kind === "range" && k >= span.end) continue;
      }
      let ev = shared?.get(v);
      if (ev === undefined) {
        ev = event(v, withPrev ? this.#prevOf(v) : undefined);
        shared?.set(v, ev);
      }
      out.push(ev);
    }
    return out;
  }

  #prevOf(v: Version): Version | undefined {
    const p = previousOf(this.#index.entry(v.bkey)!, v);
    return p === undefined || p.ver === 0 || !this.#index.retained(p) ? undefined : p;
  }

  // ---- writes ----

  /** Put. Throws leaseNotFound / keyNotFound (ignore_value|lease on a missing key). */
  put(req: PutRequest): PutResponse {
    if (req.lease !== 0n && !this.#hooks.exists(req.lease)) throw EtcdErrors.leaseNotFound();
    this.#begin();
    const resp = this.#applyPut(req);
    this.#commit();
    return resp;
  }

  /** DeleteRange. Deleting nothing creates no revision. */
  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    this.#begin();
    const resp = this.#applyDelete(req);
    this.#commit();
    return resp;
  }

  /**
   * Deletes each listed key that exists, all in one revision, in byte order
   * (etcd's lease revoke). Returns how many were deleted.
   */
  deleteKeys(keys: Uint8Array[]): number {
    const sorted = [...keys].sort(compareBytes);
    this.#begin();
    let n = 0;
    for (const key of sorted) {
      const prev = latestLive(this.#index.entry(toBinary(key)));
      if (prev === undefined) continue;
      this.#writeDelete(prev);
      n++;
    }
    this.#commit();
    return n;
  }

  /**
   * Txn. Compares (nested ones too) see the state before the txn; every
   * put's key/lease preconditions and every range's revision are checked
   * before anything is written; the ops then run in order, each seeing the
   * earlier ones, and the whole txn is one revision (none if nothing written).
   */
  txn(req: TxnRequest): TxnResponse {
    const cur = this.#rev;
    const path = compareToPath(this.#index, req, cur);
    if (!isTxnReadonly(req)) {
      forEachChosenOp(req, path, 0, (op) => {
        if (op.request.case === "requestPut") this.#checkPut(op.request.value, cur);
      });
    }
    forEachChosenOp(req, path, 0, (op) => {
      if (op.request.case !== "requestRange") return;
      const rev = Number(op.request.value.revision);
      if (rev === 0) return;
      if (rev > cur) throw EtcdErrors.futureRev();
      if (rev < this.#compactRev) throw EtcdErrors.compacted();
    });
    this.#begin();
    let resp: TxnResponse;
    try {
      resp = this.#applyTxn(req, path, 0).resp;
    } catch (err) {
      this.#rollback();
      throw err;
    }
    this.#commit();
    return resp;
  }

  /**
   * Compacts history at `rev` (etcd's compacted/futureRev rules) and does
   * all the work before returning, earlier compactions' outstanding work
   * included (tools, tests, small stores; apply uses {@link compactInSteps}).
   */
  compact(rev: number): void {
    this.#scheduleCompaction(rev);
    void this.#compaction.request(rev);
    this.#compaction.finishNow();
  }

  /**
   * Compacts history at `rev` (etcd's compacted/futureRev rules, thrown
   * here): the compact revision and what reads, watches and digests see
   * change at once, exactly as {@link compact} would leave them; dropping
   * the obsolete versions is done in steps with a pause between them (see
   * compaction.ts), the first step before this returns. The promise
   * resolves when that work is done (etcd's `physical` compaction waits
   * for it); it never needs to be awaited.
   */
  compactInSteps(rev: number): Promise<void> {
    this.#scheduleCompaction(rev);
    return this.#compaction.request(rev);
  }

  /**
   * Awaited between compaction steps (default: a zero-delay timer). A
   * member gives its own clock's pause; one that rejects abandons the work
   * in progress (a stopping member), leaving the state as readers see it.
   */
  set compactionPause(pause: () => Promise<void>) {
    this.#compaction.pause = pause;
  }

  /** Versions dropped or moved per compaction step (tests make it small). */
  set compactionStepVersions(n: number) {
    this.#compaction.stepVersions = n;
  }

  /** Whether a compaction's work is still under way. */
  get compactionPending(): boolean {
    return this.#compaction.busy;
  }

  /** Resolves when the work of every compaction applied so far is done. */
  compactionIdle(): Promise<void> {
    return this.#compaction.idle();
  }

  #scheduleCompaction(rev: number): void {
    if (rev <= this.#compactRev) throw EtcdErrors.compacted();
    if (rev > this.#rev) throw EtcdErrors.futureRev();
    this.beforeCompact?.(rev);
    this.#index.scheduleCompaction(rev);
    this.#compactRev = rev;
    this.onCompact?.(rev);
  }

  // ---- digests, snapshots, size ----

  /** etcd's HashKV at `rev` (0 = current). */
  hashKV(rev: number): KVHash {
    return hashKV(this.#index, rev, this.#rev, this.#compactRev);
  }

  /** Digest of the whole stored state (for the Hash RPC). */
  hash(): number {
    return hashAll(this.#index, this.#rev, this.#compactRev);
  }

  /**
   * The store as it is now, unchanged by later writes and compactions
   * (see view.ts): O(retained versions) reference copies, no bytes.
   */
  pointInTime(): StoreView {
    const index = this.#index;
    const log = index.log;
    if (!this.compactionPending) return new StoreView(log.slice(), this.#rev, this.#compactRev);
    // A compaction's work is under way: the versions it will drop are left
    // out, so every snapshot (cairn's, or the bbolt file etcd reads, whose
    // meta says the compaction is finished) holds the compacted state
    // however far the work has got. Only the log below the compaction
    // point can hold such versions.
    const end = index.logIndexFrom(this.#compactRev + 1);
    const kept: Version[] = [];
    for (let i = 0; i < end; i++) if (index.retained(log[i])) kept.push(log[i]);
    for (let i = end; i < log.length; i++) kept.push(log[i]);
    return new StoreView(kept, this.#rev, this.#compactRev);
  }

  /** Full state (history, revision, compact revision) for a snapshot, in one go. */
  serialize(): Uint8Array {
    return encodeStore(this.pointInTime());
  }

  /**
   * Rebuilds a store from `serialize()` (or `storeChunks`) output. Like
   * etcd's store restore, calls `hooks.attach` for every live key that
   * carries a lease, so restore the lessor first. `checked`: the caller
   * has just verified a checksum over `bytes` (a snapshot file's), so the
   * store's own is not computed again (a pass over ~290 MB at 1,000,000
   * keys). The store keeps reading its keys and values in `bytes`.
   */
  static restore(bytes: Uint8Array, hooks?: Partial<LeaseHooks>, checked = false): MvccStore {
    const s = MvccStore.#decoded(decodeStore(bytes, checked), hooks);
    runSteps(s.#index.compactSteps(s.#compactRev));
    s.attachLeases();
    return s;
  }

  /**
   * {@link restore} in steps, awaiting `pause` between them: a follower
   * installing a leader's snapshot of a large store keeps its event loop
   * (one pass over 1,000,000 keys takes seconds). Leases are not attached:
   * restore the lessor, then call {@link attachLeases}, with nothing
   * awaited in between.
   */
  static async restoreInSteps(
    bytes: Uint8Array,
    pause: () => Promise<void>,
    hooks?: Partial<LeaseHooks>,
  ): Promise<MvccStore> {
    const s = MvccStore.#decoded(await runStepsPaused(decodeStoreSteps(bytes), pause), hooks);
    await runStepsPaused(s.#index.compactSteps(s.#compactRev), pause);
    return s;
  }

  /**
   * A store over a decoded snapshot. A snapshot taken while a compaction's
   * work was under way holds versions that compaction drops: the caller
   * finishes that work (`compactSteps` at the compact revision) before the
   * store is used, as etcd finishes a scheduled compaction on restart.
   */
  static #decoded(d: DecodedStore, hooks?: Partial<LeaseHooks>): MvccStore {
    const s = new MvccStore(hooks);
    s.#index = d.index;
    s.#compaction = new CompactionRunner(d.index);
    s.#rev = d.currentRev;
    s.#compactRev = d.compactRev;
    // A snapshot holding nothing its compaction drops (any written since
    // the compaction's work finished) needs no walk over its versions.
    if (!d.index.adoptCompaction(d.compactRev)) d.index.scheduleCompaction(d.compactRev);
    return s;
  }

  /** Tells the lessor (`hooks.attach`) about every live key carrying a lease, as etcd's restore does. */
  attachLeases(): void {
    for (const { key, lease } of this.leasedKeys()) this.#hooks.attach(lease, key);
  }

  /**
   * Versions stored, tombstones included (compaction removes some; while
   * its work is under way, some it will remove are still counted).
   */
  get versionCount(): number {
    return this.#index.log.length;
  }

  /**
   * Bytes the retained data takes (keys, values, per-version bookkeeping):
   * etcd's dbSizeInUse. Compaction lowers it at once.
   */
  approximateSize(): number {
    return 4096 + this.#index.bytes;
  }

  /**
   * Bytes reserved for the data, etcd's dbSize (the bbolt file's size):
   * the most the store held since the last {@link defragment}, or what it
   * holds plus the free space inside its arena if that is more. Space freed
   * by compaction stays counted (later writes reuse it) until a
   * defragmentation gives it back, as with etcd's file; the backend quota
   * is checked against this, so a NOSPACE alarm needs compact + defrag.
   */
  reservedSize(): number {
    const idx = this.#index;
    return 4096 + Math.max(idx.peakBytes, idx.bytes + idx.arena.slackBytes);
  }

  /**
   * etcd's Defragment for an in-memory store: moves the retained bytes out
   * of partly free arena slabs so the freed space goes back, and resets
   * {@link reservedSize} to what is in use. Runs in steps, awaiting `pause`
   * between them, so the member keeps applying writes meanwhile. Local to
   * this member (not replicated state), as in etcd.
   */
  async defragment(pause: () => Promise<void>): Promise<void> {
    // The space a compaction frees must be free before it can be given
    // back: its outstanding work is finished first, with this pause.
    await this.#compaction.finish(pause);
    await this.#index.repack(pause);
  }

  // ---- write txn internals ----

  #begin(): void {
    const n = this.#count;
    if (n === 0) return;
    this.#count = 0;
    if (n > KEEP_TXN_SLOTS) {
      // A txn that touched many keys (a DeleteRange over a whole prefix)
      // does not leave arrays of its size behind for good.
      this.#changes = [];
      this.#prevs = [];
      return;
    }
    // Emptied, not shortened: a version left here would keep its slab alive.
    const changes = this.#changes;
    const prevs = this.#prevs;
    for (let i = 0; i < n; i++) {
      changes[i] = undefined;
      prevs[i] = undefined;
    }
  }

  /** Adds `v` (replacing `prev`) to the open write txn. */
  #record(v: Version, prev: Version | undefined): void {
    const i = this.#count++;
    this.#changes[i] = v;
    this.#prevs[i] = prev;
  }

  /** Revision reads inside the open write txn see. */
  #viewRev(): number {
    return this.#count > 0 ? this.#rev + 1 : this.#rev;
  }

  #commit(): void {
    const n = this.#count;
    if (n === 0) return;
    const changes = this.#changes;
    const rev = ++this.#rev;
    const prevs = this.#prevs;
    const hooks = this.#hooks;
    // Lease bookkeeping after the fact, so a rolled-back txn never touched the lessor.
    for (let i = 0; i < n; i++) {
      const v = changes[i]!;
      const p = prevs[i];
      if (p !== undefined && p.lease !== 0n) hooks.detach(p.lease, v.key);
      // A copy: the lessor keeps it, and a view would pin an arena slab.
      if (v.lease !== 0n) hooks.attach(v.lease, v.key.slice());
    }
    if (this.onEvents !== undefined && (this.eventsWanted?.() ?? true)) {
      const events: Event[] = new Array(n);
      const withPrev = this.prevWanted?.() ?? true;
      for (let i = 0; i < n; i++) {
        events[i] = event(changes[i]!, withPrev ? prevs[i] : undefined);
      }
      this.#begin();
      this.onEvents(rev, events);
    } else {
      this.#begin();
    }
  }

  #rollback(): void {
    for (let i = this.#count - 1; i >= 0; i--) this.#index.unappend(this.#changes[i]!);
    this.#begin();
  }

  #checkPut(p: PutRequest, cur: number): void {
    if (p.ignoreValue || p.ignoreLease) {
      const hist = this.#index.entry(toBinary(p.key));
      if (hist === undefined || visibleAt(hist, cur) === undefined) throw EtcdErrors.keyNotFound();
    }
    if (p.lease !== 0n && !this.#hooks.exists(p.lease)) throw EtcdErrors.leaseNotFound();
  }

  #applyPut(req: PutRequest): PutResponse {
    const bkey = toBinary(req.key);
    const hist = this.#index.entry(bkey);
    // The newest version is what the open txn sees: nothing newer exists.
    const prev = latestLive(hist);
    if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw EtcdErrors.keyNotFound();
    const main = this.#rev + 1;
    // The index copies key and value bytes: request bytes may be views into
    // a larger (reused) buffer.
    const v = this.#index.add(
      bkey,
      req.key,
      req.ignoreValue ? prev!.value : req.value,
      main,
      this.#count,
      prev === undefined ? main : prev.create,
      prev === undefined ? 1 : prev.ver + 1,
      req.ignoreLease ? prev!.lease : req.lease,
      hist,
    );
    this.#record(v, prev);
    return {
      $typeName: "etcdserverpb.PutResponse",
      header: undefined,
      prevKv: req.prevKv && prev !== undefined ? kvOf(prev) : undefined,
    };
  }

  #writeDelete(prev: Version): void {
    const v = this.#index.add(
      prev.bkey,
      prev.key,
      EMPTY_BYTES,
      this.#rev + 1,
      this.#count,
      0,
      0,
      0n,
    );
    this.#record(v, prev);
  }

  #applyDelete(req: DeleteRangeRequest): DeleteRangeResponse {
    const victims: Version[] = [];
    if (req.rangeEnd.length === 0) {
      const v = latestLive(this.#index.entry(toBinary(req.key)));
      if (v !== undefined) victims.push(v);
    } else {
      this.#index.scan(keySpan(req.key, req.rangeEnd), (hist) => {
        const v = latestLive(hist);
        if (v !== undefined) victims.push(v);
      });
    }
    for (const v of victims) this.#writeDelete(v);
    return {
      $typeName: "etcdserverpb.DeleteRangeResponse",
      header: undefined,
      deleted: BigInt(victims.length),
      prevKvs: req.prevKv ? victims.map((v) => kvOf(v)) : [],
    };
  }

  #applyTxn(rt: TxnRequest, path: boolean[], at: number): { resp: TxnResponse; used: number } {
    const ops: RequestOp[] = path[at] ? rt.success : rt.failure;
    const responses: ResponseOp[] = [];
    let used = 0;
    for (const op of ops) {
      const r = op.request;
      switch (r.case) {
        case "requestRange": {
          const view = this.#viewRev();
          const value = evalRange(this.#index, r.value, view, this.#compactRev);
          value.header = header(view);
          responses.push(responseOp({ case: "responseRange", value }));
          break;
        }
        case "requestPut": {
          const value = this.#applyPut(r.value);
          value.header = header(this.#rev + 1);
          responses.push(responseOp({ case: "responsePut", value }));
          break;
        }
        case "requestDeleteRange": {
          const value = this.#applyDelete(r.value);
          value.header = header(this.#viewRev());
          responses.push(responseOp({ case: "responseDeleteRange", value }));
          break;
        }
        case "requestTxn": {
          const nested = this.#applyTxn(r.value, path, at + 1 + used);
          used += nested.used + 1;
          // etcd gives nested txn responses an empty header.
          nested.resp.header = header(0);
          responses.push(responseOp({ case: "responseTxn", value: nested.resp }));
          break;
        }
        default:
          responses.push(responseOp({ case: undefined }));
      }
    }
    return {
      resp: {
        $typeName: "etcdserverpb.TxnResponse",
        header: undefined,
        succeeded: path[at],
        responses,
      },
      used,
    };
  }
}

function responseOp(response: ResponseOp["response"]): ResponseOp {
  return { $typeName: "etcdserverpb.ResponseOp", response };
}
