/**
 * etcd's check that a leader sends its heartbeats on time: a leader whose
 * event loop or disk held it past twice the heartbeat interval between two
 * heartbeats to the same follower logs "leader failed to send out heartbeat
 * on time; took too long, leader is overloaded likely from slow disk" and
 * counts etcd_server_heartbeat_send_failures_total. It is the warning
 * operators look for before an election they cannot explain.
 *
 * @module
 */
import { formatDurationMs } from "../config/values.ts";
import type { Logger } from "../log.ts";
import { type Message, MessageType } from "../raft/types.ts";
import { idToHex } from "./ids.ts";

/** A heartbeat that went out late. */
export interface LateHeartbeat {
  /** The follower it went to. */
  to: bigint;
  /** How far past the allowed gap (twice the heartbeat interval) it went, ms. */
  exceededMs: number;
}

/** What a {@link HeartbeatWatch} needs from its member. */
export interface HeartbeatWatchOptions {
  /** `--heartbeat-interval`, ms; heartbeats may be up to twice that apart. */
  heartbeatIntervalMs: number;
  /** A monotonic clock, ms. */
  now(): number;
  log: Pick<Logger, "warn">;
  /** etcd_server_heartbeat_send_failures_total. */
  failures: { inc(): void };
}

/** Tracks, per follower, when the leader last sent it a heartbeat. */
export class HeartbeatWatch {
  readonly #o: HeartbeatWatchOptions;
  readonly #last = new Map<bigint, number>();

  constructor(o: HeartbeatWatchOptions) {
    this.#o = o;
  }

  /** Forgets every follower's last heartbeat (the member just became leader). */
  reset(): void {
    this.#last.clear();
  }

  /** Records a heartbeat to `to` sent now; returns it if it came late. */
  observe(to: bigint): LateHeartbeat | undefined {
    const now = this.#o.now();
    const last = this.#last.get(to);
    this.#last.set(to, now);
    if (last === undefined) return undefined;
    const gap = now - last;
    const maxGap = 2 * this.#o.heartbeatIntervalMs;
    return gap > maxGap ? { to, exceededMs: gap - maxGap } : undefined;
  }

  /** Observes the heartbeats among a leader's outgoing messages; warns about and counts late ones. */
  check(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.type !== MessageType.Heartbeat) continue;
      const late = this.observe(m.to);
      if (late === undefined) continue;
      const interval = this.#o.heartbeatIntervalMs;
      this.#o.log.warn(
        "leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk",
        {
          to: idToHex(m.to),
          "heartbeat-interval": formatDurationMs(interval),
          "expected-duration": formatDurationMs(2 * interval),
          "exceeded-duration": formatDurationMs(Math.round(late.exceededMs)),
        },
      );
      this.#o.failures.inc();
    }
  }
}
