/**
 * The simulated peer network: every member's {@link PeerTransport} and
 * {@link PeerCaller} in one process, delivering through the scheduler.
 *
 * Messages go through the real wire codec (so no object is shared between
 * members) and may be dropped, delayed, duplicated and reordered, per the
 * run's fault profile; partitions cut links in both directions. A
 * forwarded proposal is never duplicated: Raft is not idempotent for it
 * (the log would hold the write twice), and the real transport cannot
 * deliver a message twice (one TCP stream per peer, nothing resent after
 * a broken connection); every other duplicate stands for a stale
 * retransmission Raft must tolerate. A receiver
 * hears only members of its current configuration, as the real peer port
 * (a removed sender is told so, as with the real 410). Member-endpoint
 * calls (`GET /members`, leader calls) reach the target's routes with the
 * same delays and time out like the real client.
 *
 * @module
 */
import { type Message, MessageType } from "../../raft/types.ts";
import { decodeMessage, encodeMessage } from "../../transport/codec.ts";
import { coalesceBatch } from "../../transport/coalesce.ts";
import { readWholeSnapshot } from "../../transport/peer.ts";
import type {
  MemberNetwork,
  PeerCaller,
  PeerReply,
  PeerTransport,
  TransportOptions,
} from "../env.ts";
import type { Life, Scheduler } from "./scheduler.ts";

/** How hostile the network is. */
export interface NetFaults {
  /** Chance that a message is lost. */
  dropRate: number;
  /** Chance that a message is delivered twice. */
  dupRate: number;
  /** Delivery delay bounds (ms). */
  minDelayMs: number;
  maxDelayMs: number;
  /** Keep per-link order (as one real HTTP/2 stream does) instead of reordering. */
  fifo: boolean;
}

/** Counters for the test's sanity checks. */
export interface NetStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  calls: number;
}

interface Endpoint {
  id: bigint;
  url: string;
  life: Life;
  opts: TransportOptions;
  peers: Map<bigint, string[]>;
  stopped: boolean;
}

const EMPTY = new Uint8Array(0);

/** All members' network; see the module doc. */
export class SimNetwork {
  readonly #s: Scheduler;
  readonly #byId = new Map<bigint, Endpoint>();
  readonly #byUrl = new Map<string, Endpoint>();
  /** One-way cuts "from>to". */
  readonly #cuts = new Set<string>();
  /** Per link, when its last message is due (for FIFO links). */
  readonly #lastDue = new Map<string, number>();
  faults: NetFaults;
  /**
   * Scripted scenarios steer single messages: "drop" loses one, a number
   * delays it by that many ms more. Random runs leave it unset.
   */
  steer?: (m: Message) => "drop" | number | undefined;
  readonly stats: NetStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, calls: 0 };

  /** @param s the scheduler @param faults the initial fault profile */
  constructor(s: Scheduler, faults: NetFaults) {
    this.#s = s;
    this.faults = faults;
  }

  /** The network one incarnation of the member at peer URL `selfUrl` uses. */
  port(life: Life, selfUrl: string): MemberNetwork {
    return {
      startTransport: (opts) => Promise.resolve(this.#listen(life, selfUrl, opts)),
      caller: () => this.#caller(life, selfUrl),
    };
  }

  /** Cuts every link between members of different groups (ids not listed are cut from all). */
  partition(groups: bigint[][]): void {
    this.#cuts.clear();
    const ids = groups.flat();
    const groupOf = new Map<bigint, number>();
    groups.forEach((g, i) => g.forEach((id) => groupOf.set(id, i)));
    for (const a of ids) {
      for (const b of ids) if (groupOf.get(a) !== groupOf.get(b)) this.#cuts.add(`${a}>${b}`);
    }
  }

  /** Cuts the link from `a` to `b` only (an asymmetric fault). */
  cutOneWay(a: bigint, b: bigint): void {
    this.#cuts.add(`${a}>${b}`);
  }

  /** Restores every link. */
  heal(): void {
    this.#cuts.clear();
  }

  /** Whether a message from `a` would reach `b` now. */
  linked(a: bigint, b: bigint): boolean {
    return !this.#cuts.has(`${a}>${b}`);
  }

  /** Whether any link is cut. */
  get partitioned(): boolean {
    return this.#cuts.size > 0;
  }

  #listen(life: Life, url: string, opts: TransportOptions): PeerTransport {
    const ep: Endpoint = { id: opts.selfId, url, life, opts, peers: new Map(), stopped: false };
    this.#byId.set(ep.id, ep);
    this.#byUrl.set(url, ep);
    // deno-lint-ignore no-this-alias
    const net = this;
    return {
      setPeer(id, urls) {
        if (!ep.stopped && id !== ep.id) ep.peers.set(id, urls);
      },
      removePeer(id) {
        ep.peers.delete(id);
      },
      send(msgs) {
        if (ep.stopped || !life.alive) return;
        let unreachable: Set<bigint> | undefined;
        // Merged per peer as the real transport's queues merge them (transport/coalesce.ts).
        for (const m of coalesceBatch(msgs)) {
          if (!ep.peers.has(m.to)) continue; // unknown peer: dropped, as the real transport does
          if (!net.#send(ep, m)) (unreachable ??= new Set()).add(m.to);
        }
        if (unreachable) {
          const ids = unreachable;
          queueMicrotask(() => {
            if (ep.stopped || !life.alive) return;
            for (const id of ids) opts.onUnreachable(id);
          });
        }
      },
      isActive(id) {
        return net.#up(ep, id);
      },
      queued() {
        return 0;
      },
      stop() {
        ep.stopped = true;
        if (net.#byId.get(ep.id) === ep) net.#byId.delete(ep.id);
        if (net.#byUrl.get(url) === ep) net.#byUrl.delete(url);
        return Promise.resolve();
      },
    };
  }

  /** Whether `to` is up and reachable from `from` now. */
  #up(from: Endpoint, to: bigint): boolean {
    const t = this.#byId.get(to);
    return t !== undefined && t.life.alive && !t.stopped && this.linked(from.id, to);
  }

  /** Queues one message; false when it is certainly lost (link cut or peer down). */
  #send(from: Endpoint, m: Message): boolean {
    this.stats.sent++;
    if (!this.#up(from, m.to)) {
      this.stats.dropped++;
      if (m.type === MessageType.Snap) this.#snapStatus(from, m.to, false);
      return false;
    }
    const f = this.faults;
    const rng = this.#s.rng;
    const steered = this.steer?.(m);
    if (steered === "drop" || rng() < f.dropRate) {
      this.stats.dropped++;
      if (m.type === MessageType.Snap) this.#snapStatus(from, m.to, false);
      return true; // lost in flight: the sender cannot tell
    }
    if (m.type === MessageType.Snap && m.snapshot!.data.length === 0 && from.opts.openSnapshot) {
      // The member keeps its snapshot in a file: read it as its transport
      // would, then send it on (a failed read fails the send).
      const life = from.life;
      const open = from.opts.openSnapshot;
      open(m.snapshot!.meta).then(readWholeSnapshot).then(
        (body) => {
          // A sender that crashed or stopped meanwhile sends nothing. (The
          // body is a fresh buffer already: nothing to copy.)
          if (life.alive && !from.stopped) this.#route(from, m, steered, body);
        },
        () => this.#snapStatus(from, m.to, false),
      );
      return true;
    }
    const data = m.type === MessageType.Snap ? m.snapshot!.data.slice() : undefined;
    this.#route(from, m, steered, data);
    return true;
  }

  /** Schedules the delivery of `m` (with its snapshot body `data`) after its delay, maybe twice. */
  #route(
    from: Endpoint,
    m: Message,
    steered: "drop" | number | undefined,
    data: Uint8Array | undefined,
  ): void {
    const f = this.faults;
    const rng = this.#s.rng;
    const bytes = encodeMessage(m);
    const copies = m.type !== MessageType.Prop && rng() < f.dupRate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let c = 0; c < copies; c++) {
      const link = `${from.id}>${m.to}`;
      let due = this.#s.now + f.minDelayMs + rng() * (f.maxDelayMs - f.minDelayMs);
      if (rng() < 0.01) due += rng() * 50 * f.maxDelayMs; // a rare straggler
      if (typeof steered === "number") due += steered;
      if (f.fifo) {
        due = Math.max(due, this.#lastDue.get(link) ?? 0);
        this.#lastDue.set(link, due);
      }
      this.#s.at(due - this.#s.now, () => this.#deliver(from, m.to, bytes, data));
    }
  }

  #deliver(from: Endpoint, to: bigint, bytes: Uint8Array, data: Uint8Array | undefined): void {
    const t = this.#byId.get(to);
    if (t === undefined || !t.life.alive || t.stopped || !this.linked(from.id, to)) {
      this.stats.dropped++;
      if (data) this.#snapStatus(from, to, false);
      return;
    }
    // The receiving peer port hears only members of its configuration.
    if (!t.opts.isMember(from.id)) {
      this.stats.dropped++;
      if (t.opts.isRemoved?.(from.id)) {
        if (from.life.alive && !from.stopped) from.opts.onRemoved?.(to);
      } else {
        t.opts.onUnknownSender?.(from.id);
      }
      if (data) this.#snapStatus(from, to, false);
      return;
    }
    const m = decodeMessage(bytes);
    this.stats.delivered++;
    if (data) {
      m.snapshot!.data = data.slice();
      t.opts.onSnapshot(m);
      this.#snapStatus(from, to, true);
    } else {
      t.opts.onMessages([m]);
    }
  }

  /** Tells the sender how its snapshot went, a little later. */
  #snapStatus(from: Endpoint, to: bigint, ok: boolean): void {
    const delay = this.faults.minDelayMs + this.#s.rng() * this.faults.maxDelayMs;
    this.#s.at(delay, () => {
      if (!from.stopped) from.opts.onSnapshotStatus(to, ok);
    }, from.life);
  }

  #caller(life: Life, selfUrl: string): PeerCaller {
    // deno-lint-ignore no-this-alias
    const net = this;
    return {
      call(url, path, body, timeoutMs, method = "POST", headers = []) {
        net.stats.calls++;
        return net.#call(life, selfUrl, url, path, body ?? EMPTY, timeoutMs, method, headers);
      },
      close() {},
    };
  }

  async #call(
    life: Life,
    selfUrl: string,
    url: string,
    path: string,
    body: Uint8Array,
    timeoutMs: number,
    method: string,
    headers: [string, string][],
  ): Promise<PeerReply> {
    const s = this.#s;
    let settled = false;
    const late = new Promise<never>((_, reject) => {
      s.at(timeoutMs, () => {
        if (!settled) {
          reject(new Error(`peer ${url} did not answer ${path} within ${timeoutMs} ms`));
        }
      }, life);
    });
    late.catch(() => {});
    const exchange = async (): Promise<PeerReply> => {
      const f = this.faults;
      const hop = () => s.sleep(f.minDelayMs + s.rng() * (f.maxDelayMs - f.minDelayMs), life);
      await hop();
      const self = this.#byUrl.get(selfUrl);
      const t = this.#byUrl.get(new URL(url).origin) ?? this.#byUrl.get(url);
      const cut = self !== undefined && t !== undefined && !this.linked(self.id, t.id);
      if (t === undefined || !t.life.alive || t.stopped || cut) {
        await new Promise<never>(() => {}); // no answer: the timeout decides
      }
      const handler = t!.opts.routes?.(path, method);
      let reply: PeerReply;
      if (handler === undefined) {
        reply = { status: 404, body: EMPTY };
      } else {
        try {
          const header = (name: string) => headers.find(([n]) => n === name)?.[1];
          const answer = await handler(body.slice(), header);
          reply = { status: answer.status, body: answer.body.slice() };
        } catch (err) {
          reply = { status: 500, body: EMPTY, error: String((err as Error)?.message ?? err) };
        }
      }
      await hop();
      const back = this.#byUrl.get(selfUrl);
      if (back !== undefined && t !== undefined && !this.linked(t.id, back.id)) {
        await new Promise<never>(() => {});
      }
      return reply;
    };
    try {
      return await Promise.race([exchange(), late]);
    } finally {
      settled = true;
    }
  }
}
