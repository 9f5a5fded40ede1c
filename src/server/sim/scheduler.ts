/**
 * The simulation's scheduler: one virtual timeline for every member, the
 * network, the disks and the clients, driven from one seed.
 *
 * Every source of asynchrony in a simulated member (timers, disk latency,
 * message delivery, peer calls) is an event here. The driver pops events in
 * time order (ties in the order they were scheduled), runs each, then lets
 * the JavaScript microtasks it started run before the next event. Nothing
 * real (no timer, no I/O) takes part, so a seed always replays the same
 * run: the microtask queue is FIFO and everything else comes from here.
 *
 * An event may belong to a process incarnation ({@link Life}); once that
 * incarnation is dead its events are skipped, as a killed process's timers
 * and pending I/O vanish with it.
 *
 * @module
 */
import type { Clock, TimerId } from "../../clock.ts";

/** A process incarnation: its events run only while it lives. */
export interface Life {
  alive: boolean;
}

/** A scheduled event; `cancelled` stops it from running. */
export interface SimEvent {
  at: number;
  seq: number;
  fn: () => void;
  owner: Life | undefined;
  cancelled: boolean;
}

/** Microtask turns allowed after each event before the next one runs. */
const DRAIN_TURNS = 40;

/**
 * Microtask turns allowed, when no event is due before the end of a run,
 * for work still going on in microtasks alone (an async loop over a
 * directory listing, say) to reach its next timer or disk wait before the
 * clock jumps to the end. Without them a lone member part-way through its
 * start found the clock 15 s later and counted as never converging (member
 * sim, size 1, seed 546); with peers, their timers kept events coming.
 */
const IDLE_DRAIN_TURNS = 10_000;

/**
 * Bounds that turn a livelock of the system under test (an endless loop of
 * messages or timers) into a reported failure instead of a hung run.
 */
export const MAX_PENDING_EVENTS = 200_000;
/** Events one run may take at most (a normal run takes a few thousand). */
export const MAX_STEPS = 500_000;

/** Virtual time in ms; starts at a fixed wall-clock-like epoch. */
export const SIM_EPOCH = 1_750_000_000_000;

/** A binary min-heap of events by (at, seq). */
class EventHeap {
  readonly #a: SimEvent[] = [];

  get size(): number {
    return this.#a.length;
  }

  push(e: SimEvent): void {
    const a = this.#a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }

  peek(): SimEvent | undefined {
    return this.#a[0];
  }

  pop(): SimEvent | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(x: SimEvent, y: SimEvent): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/** Runs events in virtual time; see the module doc. */
export class Scheduler {
  readonly rng: () => number;
  #now = SIM_EPOCH;
  #seq = 0;
  readonly #heap = new EventHeap();
  /** Events run so far. */
  steps = 0;
  /** Set when a bound was crossed: the run stops and reports it. */
  runaway: string | undefined;
  /** Told about an exception an event threw (a member timer that throws kills a real process). */
  onEventError: (err: unknown, owner: Life | undefined) => void = (err) => {
    throw err;
  };

  /** @param rng the run's seeded random source */
  constructor(rng: () => number) {
    this.rng = rng;
  }

  /** Virtual time now (ms). */
  get now(): number {
    return this.#now;
  }

  /** Schedules `fn` after `delayMs` (>= 0) of virtual time, owned by `owner` if given. */
  at(delayMs: number, fn: () => void, owner?: Life): SimEvent {
    const e: SimEvent = {
      at: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      fn,
      owner,
      cancelled: false,
    };
    this.#heap.push(e);
    if (this.#heap.size > MAX_PENDING_EVENTS && this.runaway === undefined) {
      this.runaway = `over ${MAX_PENDING_EVENTS} events pending at virtual time ${this.#now}`;
    }
    return e;
  }

  /** A promise resolved after `delayMs`; never resolved if `owner` dies first. */
  sleep(delayMs: number, owner?: Life): Promise<void> {
    return new Promise((resolve) => this.at(delayMs, resolve, owner));
  }

  /**
   * Runs events until virtual time `until` (or until `stop()` says so),
   * calling `after` once each event and its microtasks are done.
   */
  async runUntil(until: number, after: () => void, stop?: () => boolean): Promise<void> {
    for (;;) {
      let next = this.#heap.peek();
      if (next === undefined || next.at > until) {
        for (let i = 0; i < IDLE_DRAIN_TURNS && !this.#dueBy(until) && !stop?.(); i++) {
          await undefined;
        }
        next = this.#heap.peek();
      }
      if (next === undefined || next.at > until || stop?.()) break;
      if (this.steps >= MAX_STEPS && this.runaway === undefined) {
        this.runaway = `over ${MAX_STEPS} events run by virtual time ${this.#now}`;
      }
      if (this.runaway !== undefined) break;
      this.#heap.pop();
      if (next.cancelled || (next.owner !== undefined && !next.owner.alive)) continue;
      this.#now = next.at;
      this.steps++;
      try {
        next.fn();
      } catch (err) {
        this.onEventError(err, next.owner);
      }
      for (let i = 0; i < DRAIN_TURNS; i++) await undefined;
      after();
    }
    if (!stop?.() && this.#now < until) this.#now = until;
  }

  /** Whether an event is scheduled at or before `until`. */
  #dueBy(until: number): boolean {
    const next = this.#heap.peek();
    return next !== undefined && next.at <= until;
  }
}

/**
 * A {@link Clock} for one process incarnation: its timers are scheduler
 * events it owns, its monotonic clock is virtual time from its own origin,
 * and its wall clock is virtual time plus the node's offset (which clock
 * jumps move).
 */
export class SimClock implements Clock {
  readonly #s: Scheduler;
  readonly #life: Life;
  readonly #wall: { offset: number };
  readonly #monoBase: number;
  readonly #timers = new Map<number, SimEvent>();
  #ids = 0;

  /**
   * @param s the scheduler
   * @param life the incarnation owning the timers
   * @param wall the node's wall-clock offset (shared across incarnations)
   * @param monoBase where this incarnation's monotonic clock starts
   */
  constructor(s: Scheduler, life: Life, wall: { offset: number }, monoBase: number) {
    this.#s = s;
    this.#life = life;
    this.#wall = wall;
    this.#monoBase = monoBase;
  }

  now(): number {
    // Whole ms, as Date.now gives.
    return Math.floor(this.#s.now + this.#wall.offset);
  }

  monotonic(): number {
    return this.#s.now - SIM_EPOCH + this.#monoBase;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = ++this.#ids;
    this.#timers.set(
      id,
      this.#s.at(ms + this.#jitter(), () => {
        this.#timers.delete(id);
        fn();
      }, this.#life),
    );
    return id;
  }

  clearTimeout(id: TimerId | undefined): void {
    if (typeof id !== "number") return;
    const e = this.#timers.get(id);
    if (e) e.cancelled = true;
    this.#timers.delete(id);
  }

  setInterval(fn: () => void, ms: number): TimerId {
    const id = ++this.#ids;
    const arm = () => {
      this.#timers.set(
        id,
        this.#s.at(Math.max(ms, 1) + this.#jitter(), () => {
          arm();
          fn();
        }, this.#life),
      );
    };
    arm();
    return id;
  }

  clearInterval(id: TimerId | undefined): void {
    this.clearTimeout(id);
  }

  /** Timers fire a little late, as real ones do. */
  #jitter(): number {
    const r = this.#s.rng();
    return r < 0.8 ? 0 : r * 2;
  }
}
