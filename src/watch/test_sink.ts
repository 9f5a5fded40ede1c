/**
 * A WatchSink for tests: records what the hub offers, with an optional
 * capacity that a test drains by hand (to play a slow consumer).
 *
 * @module
 */
import { Event_EventType } from "../gen/etcd/api/mvccpb/kv_pb.ts";
import type { WatchHub } from "./hub.ts";
import type { HubResponse, Watcher, WatchSink } from "./watcher.ts";

const td = new TextDecoder();

/** Compact text of one event: "PUT k=v@rev" or "DELETE k@rev". */
export function eventText(ev: HubResponse["events"][number]): string {
  const kv = ev.kv!;
  const key = td.decode(kv.key);
  return ev.type === Event_EventType.PUT
    ? `PUT ${key}=${td.decode(kv.value)}@${kv.modRevision}`
    : `DELETE ${key}@${kv.modRevision}`;
}

/** Records responses; `capacity` bounds what is held until `drain`. */
export class TestSink implements WatchSink {
  /** Every response taken, in order (drained or not). */
  readonly taken: HubResponse[] = [];
  /** Responses not yet drained. */
  pending = 0;
  /** Watchers reported as synced. */
  readonly synced: Watcher[] = [];
  readonly #capacity: number;
  readonly #hub: WatchHub | undefined;

  /** @param capacity buffer size (Infinity = never full); @param hub kicked on drain */
  constructor(capacity = Infinity, hub?: WatchHub) {
    this.#capacity = capacity;
    this.#hub = hub;
  }

  /** True while `pending` reached the capacity. */
  get full(): boolean {
    return this.pending >= this.#capacity;
  }

  /** Takes a response unless full. */
  offer(resp: HubResponse): boolean {
    if (this.full) return false;
    this.pending++;
    this.taken.push(resp);
    return true;
  }

  /** Records the promotion. */
  onSynced(w: Watcher): void {
    this.synced.push(w);
  }

  /** The consumer caught up: empty the buffer and let the hub retry. */
  drain(): void {
    this.pending = 0;
    this.#hub?.kick();
  }

  /** All events taken so far, as text, in order. */
  events(): string[] {
    return this.taken.flatMap((r) => r.events.map(eventText));
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
