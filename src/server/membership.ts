/**
 * The replicated membership: which members exist, their names and URLs.
 * Changed only by applying committed entries (DESIGN.md rule 1).
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { type MemberRecord, MemberRecordSchema } from "../gen/cairn/internal_pb.ts";
import { type Member as MemberPb, MemberSchema } from "../gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { computeMemberId, urlString } from "./ids.ts";

/** Members by id, in a stable (id) order for listing. */
export class Membership {
  #members = new Map<bigint, MemberRecord>();
  /** Ids removed from the cluster (etcd keeps them in members_removed). */
  #removed = new Set<bigint>();

  /** Builds the membership a new cluster starts with from `--initial-cluster`. */
  static fromInitialCluster(initialCluster: Map<string, URL[]>, token: string): Membership {
    const m = new Membership();
    for (const [name, urls] of initialCluster) {
      const peerUrls = urls.map(urlString);
      const id = computeMemberId(peerUrls, token);
      m.set(create(MemberRecordSchema, { id, name, peerUrls, clientUrls: [], isLearner: false }));
    }
    return m;
  }

  /** Rebuilds a membership from records (snapshot or bootstrap metadata) and removed ids. */
  static fromRecords(
    records: readonly MemberRecord[],
    removed: readonly bigint[] = [],
  ): Membership {
    const m = new Membership();
    for (const r of records) m.set(r);
    for (const id of removed) m.#removed.add(id);
    return m;
  }

  /** Adds or replaces a member. */
  set(record: MemberRecord): void {
    this.#members.set(record.id, record);
  }

  /** Removes a member and remembers its id as removed; false when it was not there. */
  remove(id: bigint): boolean {
    this.#removed.add(id);
    return this.#members.delete(id);
  }

  /**
   * Adds or replaces a member that joins (an added voter or learner): an id
   * removed earlier and added again is a member once more.
   */
  join(record: MemberRecord): void {
    this.#removed.delete(record.id);
    this.set(record);
  }

  /** Whether `id` was removed from the cluster (and not added again). */
  isRemoved(id: bigint): boolean {
    return this.#removed.has(id);
  }

  /** Removed ids, sorted (for snapshots). */
  removedIds(): bigint[] {
    return [...this.#removed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The member with `id`, if any. */
  get(id: bigint): MemberRecord | undefined {
    return this.#members.get(id);
  }

  /** All members sorted by id. */
  records(): MemberRecord[] {
    return [...this.#members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Ids of voting members. */
  voterIds(): bigint[] {
    return this.records().filter((r) => !r.isLearner).map((r) => r.id);
  }

  /** Ids of learners. */
  learnerIds(): bigint[] {
    return this.records().filter((r) => r.isLearner).map((r) => r.id);
  }

  /** The members as the Cluster API returns them. */
  toApi(): MemberPb[] {
    return this.records().map((r) =>
      create(MemberSchema, {
        ID: r.id,
        name: r.name,
        peerURLs: r.peerUrls,
        clientURLs: r.clientUrls,
        isLearner: r.isLearner,
      })
    );
  }
}
