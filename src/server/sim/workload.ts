/**
 * The simulated clients: logical processes that call the members the way
 * the API layer does (propose for every write, a ReadIndex barrier then a
 * local read for linearizable gets), record every call with its virtual
 * call and return times for the linearizability check, keep leases alive
 * and hold watch streams that move to another member when theirs dies.
 *
 * A call that gets no answer in time, or whose member died, has an
 * unknown outcome; only a refusal that certainly changed nothing
 * ("no leader": Raft dropped the proposal) counts as failed.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  CompareSchema,
  LeaseCheckpointRequestSchema,
  LeaseCheckpointSchema,
  LeaseGrantRequestSchema,
  type LeaseGrantResponse,
  PutRequestSchema,
  RequestOpSchema,
  TxnRequestSchema,
  type TxnResponse,
} from "../../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import type { Watcher } from "../../watch/watcher.ts";
import { Checks, type LinOp, WatchCheck } from "./checks.ts";
import type { SimCluster, SimNode } from "./cluster.ts";
import type { Life, Scheduler } from "./scheduler.ts";

/** Knobs of the client side of a run. */
export interface WorkloadOptions {
  clients: number;
  /** Registers contended by the clients. */
  keys: number;
  /** Most watch streams open at once. */
  watches: number;
  /** A call unanswered this long (ms) is given up as unknown. */
  opTimeoutMs: number;
}

type Result<T> = { ok: true; value: T } | { ok: false; error: unknown };

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Stream {
  check: WatchCheck;
  node: SimNode;
  life: Life;
  watcher: Watcher;
  full: boolean;
  /** Events the stream holds before it reports full. */
  cap: number;
  buffered: number;
}

/** The clients of a run; see the module doc. */
export class Workload {
  readonly #s: Scheduler;
  readonly #c: SimCluster;
  readonly #checks: Checks;
  readonly #o: WorkloadOptions;
  readonly #leases: { id: bigint; key: string }[] = [];
  readonly #streams: Stream[] = [];
  /** Watches whose stream died, waiting to resume elsewhere. */
  readonly #orphans: WatchCheck[] = [];
  #seq = 0;
  #watchIds = 0n;
  #stopped = false;
  readonly stats = { calls: 0, ok: 0, failed: 0, unknown: 0, leases: 0, keepAlives: 0, resumed: 0 };

  /** @param s scheduler @param c cluster @param checks where history goes @param o knobs */
  constructor(s: Scheduler, c: SimCluster, checks: Checks, o: WorkloadOptions) {
    this.#s = s;
    this.#c = c;
    this.#checks = checks;
    this.#o = o;
  }

  /** Starts every client loop. */
  start(): void {
    for (let i = 0; i < this.#o.clients; i++) void this.#loop(i);
  }

  /** Clients finish their current call and issue no more. */
  stop(): void {
    this.#stopped = true;
  }

  /** After each step: deliver what watch streams buffered and resume dead ones. */
  afterStep(): void {
    for (const st of [...this.#streams]) {
      if (!st.life.alive || st.node.member === undefined || st.node.life !== st.life) {
        this.#streams.splice(this.#streams.indexOf(st), 1);
        this.#orphans.push(st.check);
        continue;
      }
      st.buffered = 0;
      if (st.full) {
        st.full = false;
        st.node.member.watchHub.kick();
      }
    }
  }

  /** Linearizable reads of every key through every running member (the end of a run). */
  async finalReads(): Promise<void> {
    const tasks: Promise<void>[] = [];
    for (const node of this.#c.up()) {
      for (let k = 0; k < this.#o.keys; k++) {
        tasks.push(this.#get(-1 - tasks.length, node, `k${k}`));
      }
    }
    await Promise.all(tasks);
  }

  /** Watches still open or waiting to resume (for the end-of-run check). */
  allWatches(): WatchCheck[] {
    return [...this.#streams.map((s) => s.check), ...this.#orphans];
  }

  async #loop(client: number): Promise<void> {
    const s = this.#s;
    while (!this.#stopped) {
      await s.sleep(s.rng() * 30);
      const nodes = this.#c.up();
      if (nodes.length === 0) {
        await s.sleep(50);
        continue;
      }
      const node = nodes[Math.floor(s.rng() * nodes.length)];
      const r = s.rng();
      const key = `k${Math.floor(s.rng() * this.#o.keys)}`;
      if (r < 0.35) await this.#put(client, node, key);
      else if (r < 0.65) await this.#get(client, node, key);
      else if (r < 0.85) await this.#cas(client, node, key);
      else if (r < 0.9) await this.#grant(client, node);
      else if (r < 0.96) await this.#keepAlive(node);
      else this.#watch(node);
    }
  }

  /** Races `p` against the client's deadline. */
  async #timed<T>(p: Promise<T>): Promise<Result<T>> {
    let timedOut = false;
    const deadline = this.#s.sleep(this.#o.opTimeoutMs).then(() => (timedOut = true));
    try {
      const v = await Promise.race([p, deadline]);
      if (timedOut) return { ok: false, error: new Error("client deadline") };
      return { ok: true, value: v as T };
    } catch (error) {
      return { ok: false, error };
    }
  }

  #outcome(r: Result<unknown>): "ok" | "fail" | "unknown" {
    this.stats.calls++;
    if (r.ok) {
      this.stats.ok++;
      return "ok";
    }
    // Only a dropped proposal certainly changed nothing.
    const msg = String((r.error as Error)?.message ?? r.error);
    if (/no leader/.test(msg)) {
      this.stats.failed++;
      return "fail";
    }
    this.stats.unknown++;
    return "unknown";
  }

  /**
   * Records a call as it is made (unknown until it returns), so a call
   * still in flight when the run ends is in the history too.
   */
  #begin(op: LinOp): LinOp {
    this.#checks.ops.push(op);
    return op;
  }

  /** Fills in how a recorded call ended. */
  #end(op: LinOp, outcome: "ok" | "fail" | "unknown"): void {
    op.outcome = outcome;
    op.ret = outcome === "unknown" ? null : this.#s.now;
  }

  #value(client: number): string {
    return `c${client}.${++this.#seq}`;
  }

  async #put(client: number, node: SimNode, key: string): Promise<void> {
    const m = node.member!;
    const value = this.#value(client);
    const op = this.#begin({
      kind: "put",
      client,
      key,
      value,
      call: this.#s.now,
      ret: null,
      outcome: "unknown",
      via: node.label,
    });
    const r = await this.#timed(m.propose({
      case: "put",
      value: create(PutRequestSchema, { key: enc.encode(key), value: enc.encode(value) }),
    }));
    this.#end(op, this.#outcome(r));
    if (r.ok) this.#checks.acked(key, value, r.value.revision, this.#s.now);
  }

  async #get(client: number, node: SimNode, key: string): Promise<void> {
    const m = node.member!;
    const op = this.#begin({
      kind: "get",
      client,
      key,
      read: null,
      call: this.#s.now,
      ret: null,
      outcome: "unknown",
      via: node.label,
    });
    const r = await this.#timed(m.readBarrier());
    // The barrier passed: the local store is at least as new as any write
    // acknowledged before the call; read it now (it only moves forward).
    const kv = r.ok ? m.sm.store.get(enc.encode(key)) : undefined;
    if (op.kind === "get") op.read = kv === undefined ? null : dec.decode(kv.value);
    // Where the read was served, for reports: member, applied index, store revision.
    if (r.ok) op.via = `${node.label}@i${m.appliedIndex}r${m.sm.store.currentRevision}`;
    this.#end(op, this.#outcome(r));
  }

  async #cas(client: number, node: SimNode, key: string): Promise<void> {
    const m = node.member!;
    // Expect what this member last saw (a good guess, often stale on purpose).
    const seen = m.sm.store.get(enc.encode(key));
    const expected = seen === undefined ? null : dec.decode(seen.value);
    const value = this.#value(client);
    const compare = create(CompareSchema, {
      key: enc.encode(key),
      result: Compare_CompareResult.EQUAL,
      ...(expected === null
        ? {
          target: Compare_CompareTarget.CREATE,
          targetUnion: { case: "createRevision" as const, value: 0n },
        }
        : {
          target: Compare_CompareTarget.VALUE,
          targetUnion: { case: "value" as const, value: enc.encode(expected) },
        }),
    });
    const put = create(RequestOpSchema, {
      request: {
        case: "requestPut",
        value: create(PutRequestSchema, { key: enc.encode(key), value: enc.encode(value) }),
      },
    });
    const op = this.#begin({
      kind: "cas",
      client,
      key,
      expected,
      value,
      call: this.#s.now,
      ret: null,
      outcome: "unknown",
      via: node.label,
    });
    const r = await this.#timed(m.propose({
      case: "txn",
      value: create(TxnRequestSchema, { compare: [compare], success: [put] }),
    }));
    const swapped = r.ok ? (r.value.response as TxnResponse).succeeded : undefined;
    if (op.kind === "cas") op.swapped = swapped;
    this.#end(op, this.#outcome(r));
    if (r.ok && swapped) this.#checks.acked(key, value, r.value.revision, this.#s.now);
  }

  async #grant(client: number, node: SimNode): Promise<void> {
    const m = node.member!;
    const id = (BigInt(client + 1) << 40n) | BigInt(++this.#seq);
    const call = this.#s.now;
    const r = await this.#timed(m.propose({
      case: "leaseGrant",
      value: create(LeaseGrantRequestSchema, {
        ID: id,
        TTL: BigInt(1 + Math.floor(this.#s.rng() * 3)),
      }),
    }));
    this.#outcome(r);
    if (!r.ok) return;
    const ttl = Number((r.value.response as LeaseGrantResponse).TTL);
    const key = `lease/${id.toString(16)}`;
    this.#checks.leaseAlive(id, key, ttl, call);
    this.#leases.push({ id, key });
    this.stats.leases++;
    const live = node.member;
    if (live === undefined) return;
    const put = await this.#timed(live.propose({
      case: "put",
      value: create(PutRequestSchema, { key: enc.encode(key), value: enc.encode("x"), lease: id }),
    }));
    this.#outcome(put);
  }

  /**
   * A keep-alive as the Lease service serves it: on the leader's lessor
   * (a follower forwards it there), clearing a checkpointed TTL through
   * the log first, then renewing.
   */
  async #keepAlive(node: SimNode): Promise<void> {
    if (this.#leases.length === 0) return;
    const s = this.#s;
    const pick = this.#leases[Math.floor(s.rng() * this.#leases.length)];
    const call = s.now;
    const leaderId = node.member!.leader;
    const target = leaderId === node.member!.id
      ? node
      : this.#c.up().find((n) => n.member!.id === leaderId);
    if (target === undefined) return;
    const m = target.member!;
    const lessor = m.sm.lessor;
    if (m.leader !== m.id || !lessor.isPrimary) return;
    // As the Lease service: a leader cut off or removed must not renew.
    const confirmed = await this.#timed(m.confirmLeadership());
    if (!confirmed.ok || !confirmed.value) return;
    const lease = lessor.lookup(pick.id);
    if (lease === undefined) {
      this.#leases.splice(this.#leases.indexOf(pick), 1);
      return;
    }
    if (lessor.expired(lease)) return;
    if (lease.remainingTtl > 0) {
      const checkpoint = create(LeaseCheckpointSchema, { ID: pick.id, remainingTTL: 0n });
      const r = await this.#timed(m.propose({
        case: "leaseCheckpoint",
        value: create(LeaseCheckpointRequestSchema, { checkpoints: [checkpoint] }),
      }));
      if (!r.ok) return;
    }
    if (!target.life?.alive || target.member !== m) return;
    let ttl: number;
    try {
      ttl = lessor.renew(pick.id);
    } catch {
      return;
    }
    this.stats.keepAlives++;
    this.#checks.leaseAlive(pick.id, pick.key, ttl, call);
  }

  /** Opens a watch stream on `node`, resuming an orphaned one first. */
  #watch(node: SimNode): void {
    const resume = this.#orphans.shift();
    if (resume === undefined && this.#streams.length >= this.#o.watches) return;
    const m = node.member!;
    const life = node.life!;
    const prefix = resume?.prefix ?? (this.#s.rng() < 0.7 ? "k" : "lease/");
    const start = resume?.nextRev ?? m.sm.store.currentRevision + 1;
    const check = resume ?? new WatchCheck(`w${++this.#watchIds}`, prefix, start);
    if (resume) this.stats.resumed++;
    else this.#checks.watches.add(check);
    const end = enc.encode(prefix);
    end[end.length - 1]++;
    const st: Stream = {
      check,
      node,
      life,
      watcher: undefined as unknown as Watcher,
      full: false,
      cap: 1 + Math.floor(this.#s.rng() * 20),
      buffered: 0,
    };
    st.watcher = m.watchHub.watch(
      ++this.#watchIds,
      { key: enc.encode(prefix), rangeEnd: end },
      start,
      {
        get full() {
          return st.full;
        },
        offer: (resp) => {
          if (!life.alive) return true;
          if (resp.compactRevision > 0) {
            check.pending.push({
              rev: -1,
              key: "",
              digest: `compacted at ${resp.compactRevision}`,
              isDelete: false,
            });
            return true;
          }
          if (st.full) return false;
          check.pending.push(...Checks.records(resp.events));
          st.buffered += resp.events.length;
          if (st.buffered >= st.cap) st.full = true;
          return true;
        },
      },
    );
    this.#streams.push(st);
  }
}
