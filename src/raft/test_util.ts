/**
 * A tiny synchronous network of RawNodes for unit tests: every Ready is
 * persisted to the member's MemoryStorage, applied, and its messages are
 * queued; `deliver()` hands queued messages out until the network is quiet.
 * Links can be cut to model partitions, and message types filtered.
 *
 * @module
 */

import { decodeConfChange } from "./confchange.ts";
import { RawNode } from "./raw_node.ts";
import type { RaftConfig } from "./raft.ts";
import { MemoryStorage } from "./storage.ts";
import {
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  StateRole,
} from "./types.ts";

/** One member of the test network. */
export interface TestMember {
  id: NodeId;
  storage: MemoryStorage;
  node: RawNode;
  applied: Entry[];
  readStates: ReadState[];
  confState?: ConfState;
}

/** Synchronous message-passing harness. */
export class TestNet {
  readonly members = new Map<NodeId, TestMember>();
  queue: Message[] = [];
  /** Every message that was delivered (for assertions on traffic). */
  delivered: Message[] = [];
  readonly #cut = new Set<string>();
  /** Message types to drop silently. */
  readonly dropTypes = new Set<MessageType>();

  /** Creates members `ids` as a fresh cluster, each with `extra` config applied. */
  constructor(ids: NodeId[], extra: Partial<RaftConfig> = {}) {
    for (const id of ids) this.add(id, ids, extra);
  }

  /** Adds a member; `peers` bootstraps it (omit for a member joining an existing cluster). */
  add(id: NodeId, peers: NodeId[] | undefined, extra: Partial<RaftConfig> = {}): TestMember {
    const storage = new MemoryStorage();
    const node = new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      random: () => 0,
      peers,
      ...extra,
    });
    const m: TestMember = { id, storage, node, applied: [], readStates: [] };
    this.members.set(id, m);
    this.flush(m);
    return m;
  }

  /** The member with id `id`. */
  get(id: NodeId): TestMember {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  /** Processes every pending Ready of `m` (persist, queue messages, apply, advance). */
  flush(m: TestMember): void {
    while (m.node.hasReady()) {
      const rd = m.node.ready();
      if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
      m.storage.append(rd.entries);
      if (rd.hardState) m.storage.setHardState(rd.hardState);
      this.queue.push(...rd.messages);
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.ConfChange) {
          m.confState = m.node.applyConfChange(decodeConfChange(e.data));
        }
        m.applied.push(e);
      }
      m.readStates.push(...rd.readStates);
      m.node.advance(rd);
    }
  }

  /** Flushes every member. */
  flushAll(): void {
    for (const m of this.members.values()) this.flush(m);
  }

  /** Cuts (or restores) both directions between a and b. */
  cut(a: NodeId, b: NodeId, on = true): void {
    for (const k of [`${a}-${b}`, `${b}-${a}`]) on ? this.#cut.add(k) : this.#cut.delete(k);
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) if (other !== id) this.cut(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.#cut.clear();
  }

  /** Delivers queued messages until none are left (or `limit` deliveries). */
  deliver(limit = 10_000): void {
    this.flushAll();
    for (let n = 0; this.queue.length > 0 && n < limit; n++) {
      const msg = this.queue.shift()!;
      const to = this.members.get(msg.to);
      if (to === undefined || this.#cut.has(`${msg.from}-${msg.to}`)) continue;
      if (this.dropTypes.has(msg.type)) continue;
      this.delivered.push(msg);
      to.node.step(msg);
      this.flush(to);
    }
  }

  /** Ticks every member `n` times, delivering after each round. */
  tick(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) {
        m.node.tick();
        this.flush(m);
      }
      this.deliver();
    }
  }

  /** Has `id` campaign and lets the network settle. */
  elect(id: NodeId): void {
    this.get(id).node.campaign();
    this.deliver();
  }

  /** Ids of members that currently think they lead. */
  leaders(): NodeId[] {
    return [...this.members.values()]
      .filter((m) => m.node.status().role === StateRole.Leader)
      .map((m) => m.id);
  }
}

/** Shorthand for UTF-8 bytes. */
export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** The application data of the normal, non-empty entries applied by a member. */
export function appliedData(m: TestMember): string[] {
  return m.applied
    .filter((e) => e.type === EntryType.Normal && e.data.length > 0)
    .map((e) => new TextDecoder().decode(e.data));
}
