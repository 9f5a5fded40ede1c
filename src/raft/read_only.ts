/**
 * ReadOnly: the leader's queue of ReadIndex requests waiting for a quorum
 * of heartbeat acknowledgements that prove it is still the leader. An
 * acknowledgement of a later request also confirms every earlier one, so a
 * single heartbeat round can release many requests.
 *
 * @module
 */

import type { Message, NodeId } from "./types.ts";

/** One pending read: the commit index when it arrived, the request, and who acknowledged. */
export interface ReadIndexStatus {
  index: number;
  req: Message;
  acks: Set<NodeId>;
}

function key(ctx: Uint8Array): string {
  let s = "";
  for (const b of ctx) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Pending ReadIndex requests in arrival order, keyed by their context bytes. */
export class ReadOnly {
  #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];

  /** Queues a request seen at commit index `index` (a duplicate context is ignored). */
  addRequest(index: number, m: Message): void {
    const k = key(m.context);
    if (this.#pending.has(k)) return;
    this.#pending.set(k, { index, req: m, acks: new Set() });
    this.#queue.push(k);
  }

  /** Records `id`'s acknowledgement of the request `ctx`; returns the ack set, if known. */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | undefined {
    const rs = this.#pending.get(key(ctx));
    if (rs === undefined) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Removes and returns every request up to and including `ctx`. */
  advance(ctx: Uint8Array): ReadIndexStatus[] {
    const k = key(ctx);
    const at = this.#queue.indexOf(k);
    if (at < 0) return [];
    const done = this.#queue.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const d of done) {
      const rs = this.#pending.get(d);
      if (rs !== undefined) out.push(rs);
      this.#pending.delete(d);
    }
    return out;
  }

  /** Context of the newest pending request (carried by heartbeats), if any. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    if (this.#queue.length === 0) return undefined;
    return this.#pending.get(this.#queue[this.#queue.length - 1])?.req.context;
  }

  /** Number of requests waiting. */
  size(): number {
    return this.#queue.length;
  }
}
