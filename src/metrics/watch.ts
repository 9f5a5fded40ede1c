/**
 * etcd's watch event families: `etcd_debugging_mvcc_events_total`, the
 * events sent to watch clients, and `etcd_debugging_mvcc_pending_events_total`,
 * the events queued for them and not sent yet. Watch streams report
 * through {@link WatchEventMetrics} (src/watch/stream.ts's WatchEventStats).
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "./registry.ts";

/** Events through the watch streams of one member. */
export class WatchEventMetrics {
  readonly #sent: Counter;
  readonly #pending: Gauge;

  constructor(reg: Registry) {
    this.#sent = new Counter(reg, {
      name: "etcd_debugging_mvcc_events_total",
      help: "Events sent to watch clients.",
    });
    this.#pending = new Gauge(reg, {
      name: "etcd_debugging_mvcc_pending_events_total",
      help: "Events queued for watch clients and not sent yet.",
    });
  }

  /** `n` events were queued for a client. */
  queued(n: number): void {
    this.#pending.inc(n);
  }

  /** `n` queued events went to the wire. */
  sent(n: number): void {
    this.#pending.dec(n);
    this.#sent.inc(n);
  }

  /** `n` queued events went away with their stream. */
  dropped(n: number): void {
    this.#pending.dec(n);
  }
}
