/**
 * Members vouched for by other members. The peer port hears only members of
 * this member's current configuration, but a member that fell behind a
 * membership change (down while a member was added) does not know the new
 * one yet, and if that one leads, the stream that would bring the change
 * is refused: the member would never catch up. etcd avoids this by
 * processing pipeline messages from any sender it does not know to be
 * removed; cairn asks instead: when a sender is refused as unknown, the
 * member asks its known peers for their membership (`GET /members`, over
 * the peer network, TLS included) and admits the sender for a while if a
 * peer of this cluster lists it, and learns its peer URLs so that Raft's
 * answers reach it (etcd adds such a sender as a "remote" from its
 * X-PeerURLs header). A stranger no member lists stays out.
 *
 * Lookups cost at most one request in flight and one round per
 * LOOKUP_INTERVAL_MS, however many ids a stranger tries.
 *
 * @module
 */
import type { MemberRecord } from "../gen/cairn/internal_pb.ts";
import type { Logger } from "../log.ts";
import type { PeerReply } from "../transport/peer_client.ts";
import { formatId } from "../transport/protocol.ts";
import type { PublishedMembership } from "./join.ts";

/** Least time between two membership lookups at the peers. */
const LOOKUP_INTERVAL_MS = 1000;
/** How long a vouched sender is admitted without a fresh lookup. */
const VOUCH_TTL_MS = 60_000;

/** What {@link Vouching} needs from its member. */
export interface VouchingOptions {
  selfId: bigint;
  clusterId: bigint;
  log: Logger;
  /** The members this member knows (the ones asked). */
  peers(): MemberRecord[];
  /** A sender was admitted: answers to it go to `peerUrls`. */
  onAdmit(id: bigint, peerUrls: string[]): void;
  /** One GET on a peer's member endpoint. */
  get(url: string, path: string, timeoutMs: number): Promise<PeerReply>;
  /** Milliseconds one lookup may take per peer. */
  timeoutMs: number;
  /** Clock (tests pass their own). */
  now?: () => number;
}

/** Senders admitted on the word of a member of this cluster. */
export class Vouching {
  readonly #o: VouchingOptions;
  readonly #now: () => number;
  /** Admitted sender -> until when. */
  readonly #vouched = new Map<bigint, number>();
  /** Members the last lookup found (id -> peer URLs), and when it ran. */
  #listed = new Map<bigint, string[]>();
  #lookedUpAt = -Infinity;
  #inFlight = false;
  /** Ids refused since the last lookup started, to admit when it answers. */
  readonly #waiting = new Set<bigint>();

  constructor(opts: VouchingOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Whether `id` is currently admitted on a peer's word. */
  has(id: bigint): boolean {
    const until = this.#vouched.get(id);
    if (until === undefined) return false;
    if (until >= this.#now()) return true;
    this.#vouched.delete(id);
    return false;
  }

  /** Drops `id` (it was removed from the cluster). */
  forget(id: bigint): void {
    this.#vouched.delete(id);
    this.#listed.delete(id);
  }

  /**
   * `id` was refused as unknown: admit it if the latest lookup lists it,
   * or start a lookup when none ran lately. Never throws.
   */
  ask(id: bigint): void {
    if (this.#listed.has(id) && this.#now() - this.#lookedUpAt < LOOKUP_INTERVAL_MS) {
      return this.#admit(id);
    }
    if (this.#waiting.size < 64) this.#waiting.add(id);
    if (this.#inFlight || this.#now() - this.#lookedUpAt < LOOKUP_INTERVAL_MS) return;
    this.#inFlight = true;
    this.#lookedUpAt = this.#now();
    this.#lookup().then(
      (listed) => {
        if (listed !== undefined) this.#listed = listed;
        for (const w of this.#waiting) if (this.#listed.has(w)) this.#admit(w);
        this.#waiting.clear();
      },
      (err) => this.#o.log.debug("membership lookup failed", { error: String(err) }),
    ).finally(() => (this.#inFlight = false));
  }

  #admit(id: bigint): void {
    if (!this.has(id)) {
      this.#o.log.info("admitting a member that peers list but this member does not know yet", {
        "remote-peer-id": formatId(id),
      });
    }
    this.#vouched.set(id, this.#now() + VOUCH_TTL_MS);
    this.#o.onAdmit(id, this.#listed.get(id) ?? []);
  }

  /** The members the first peer of this cluster that answers lists (undefined: none answered). */
  async #lookup(): Promise<Map<bigint, string[]> | undefined> {
    const o = this.#o;
    for (const peer of o.peers()) {
      if (peer.id === o.selfId) continue;
      for (const url of peer.peerUrls) {
        try {
          const reply = await o.get(url, "/members", o.timeoutMs);
          if (reply.status !== 200) continue;
          const published = JSON.parse(new TextDecoder().decode(reply.body)) as PublishedMembership;
          if (BigInt(`0x${published.clusterId}`) !== o.clusterId) continue;
          return new Map(published.members.map((m) => [BigInt(`0x${m.id}`), m.peerURLs]));
        } catch {
          // Down or not answering: ask the next one.
        }
      }
    }
    return undefined;
  }
}
