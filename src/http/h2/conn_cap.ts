/**
 * The connection cap of one listener ({@link MAX_CONNECTIONS_PER_LISTENER}).
 * At the cap a new connection takes the place of the oldest idle one (a
 * connection still showing its protocol, or HTTP/2 with no open stream),
 * so a flood of idle connections cannot lock out a client that comes to
 * do work; when none is idle the new connection is refused.
 *
 * @module
 */
import { MAX_CONNECTIONS_PER_LISTENER } from "./limits.ts";

/** A listener's view of one of its connections. */
export interface CappedConn {
  /** True when the connection may be closed to make room. */
  idle(): boolean;
  /** Closes the connection to make room (HTTP/2: GOAWAY NO_ERROR first). */
  evict(): void;
}

/**
 * Connections looked at for an idle one per admission at the cap. The busy
 * ones looked at move to the back, so a cap full of busy connections costs
 * a bounded amount of work per refused connection, and idle ones are still
 * found in a few admissions.
 */
const SCAN = 64;

/** Counts a listener's connections and makes room at the cap. */
export class ConnectionCap {
  /** Connections in admission order, the oldest first (busy ones rotate to the back). */
  readonly #conns = new Set<CappedConn>();

  constructor(readonly max: number = MAX_CONNECTIONS_PER_LISTENER) {}

  /** Connections admitted and not released. */
  get size(): number {
    return this.#conns.size;
  }

  /**
   * Admits `c`. At the cap the oldest idle connection is evicted for it;
   * false when none was found (the caller closes `c`).
   */
  admit(c: CappedConn): boolean {
    if (this.#conns.size >= this.max && !this.#evictOne()) return false;
    this.#conns.add(c);
    return true;
  }

  /** `c` ended. */
  release(c: CappedConn): void {
    this.#conns.delete(c);
  }

  #evictOne(): boolean {
    const busy: CappedConn[] = [];
    let victim: CappedConn | undefined;
    for (const c of this.#conns) {
      if (c.idle()) {
        victim = c;
        break;
      }
      busy.push(c);
      if (busy.length >= SCAN) break;
    }
    for (const c of busy) {
      this.#conns.delete(c);
      this.#conns.add(c);
    }
    if (victim === undefined) return false;
    this.#conns.delete(victim);
    victim.evict();
    return true;
  }
}
