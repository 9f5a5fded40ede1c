/**
 * A multi-member cairn cluster on loopback for integration tests: start the
 * members bootstrapped together, find the leader over gRPC (Maintenance
 * Status), tear everything down; and a watch client that fails over between
 * members the way clientv3 does.
 *
 * Leader discovery talks gRPC directly rather than spawning etcdctl, so a
 * test can poll it often without burning the machine's two cores.
 */

import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  Maintenance,
  Watch,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
} from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type Event, Event_EventType, type KeyValue } from "../../src/gen/etcd/api/mvccpb/kv_pb.ts";
import { Member, type MemberKind, sleep } from "./member.ts";

/**
 * Starts `n` members bootstrapped together (cairn unless `kind` says etcd,
 * so a test can run the same scenario on the reference) and waits until
 * each is healthy.
 */
export async function startCluster(
  n: number,
  extraArgs: string[] = [],
  kind: MemberKind = "cairn",
): Promise<Member[]> {
  const members: Member[] = [];
  for (let i = 1; i <= n; i++) {
    members.push(await Member.create({ kind, name: `m${i}`, extraArgs }));
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  const token = `cluster-${members[0].clientPort}`;
  for (const m of members) m.options.cluster = { initialCluster, token };
  for (const m of members) m.launch();
  try {
    await Promise.all(members.map((m) => m.waitHealthy(30_000)));
  } catch (err) {
    await Promise.all(members.map((m) => m.destroy()));
    throw err;
  }
  return members;
}

/** What one member says about itself and its leader (0n: none known). */
export interface LeaderView {
  /** The member asked. */
  member: Member;
  /** Its own id. */
  memberId: bigint;
  /** The leader it follows, 0n when it knows none. */
  leader: bigint;
}

/** Maintenance.Status of one running member, or undefined if it does not answer in time. */
export async function leaderView(m: Member, timeoutMs = 1000): Promise<LeaderView | undefined> {
  const client = createClient(Maintenance, createGrpcTransport({ baseUrl: m.clientUrl }));
  try {
    const s = await client.status({}, { timeoutMs });
    return { member: m, memberId: s.header?.memberId ?? 0n, leader: s.leader };
  } catch {
    return undefined;
  }
}

/** Waits until every running member names the same, running leader; returns it. */
export async function waitForLeader(members: Member[], timeoutMs = 15_000): Promise<Member> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    const live = members.filter((m) => m.running);
    const views = await Promise.all(live.map((m) => leaderView(m)));
    const leaders = new Set(views.map((v) => v?.leader ?? 0n));
    if (leaders.size === 1 && !leaders.has(0n)) {
      const leader = views.find((v) => v!.memberId === [...leaders][0]);
      if (leader) return leader.member;
    }
    last = views.map((v) => `${v?.member.name ?? "?"}->${v?.leader.toString(16) ?? "-"}`).join(
      " ",
    );
    await sleep(100);
  }
  throw new Error(`no single leader within ${timeoutMs} ms: ${last}`);
}

/** A cluster with one follower stopped, to fall behind while the test writes. */
export interface LaggingCluster {
  members: Member[];
  leader: Member;
  /** The stopped follower. */
  lagging: Member;
}

/**
 * Starts 3 cairn members with `extraArgs`, finds the leader and stops one
 * follower (SIGTERM). The caller destroys `members`; on a failure here they
 * are destroyed before the error is thrown.
 */
export async function startWithLaggingFollower(extraArgs: string[]): Promise<LaggingCluster> {
  const members = await startCluster(3, extraArgs);
  try {
    const leader = await waitForLeader(members);
    const lagging = members.find((m) => m !== leader)!;
    await lagging.stop();
    return { members, leader, lagging };
  } catch (err) {
    await destroyAll(members);
    throw err;
  }
}

/** Destroys every member (processes and temp dirs), whatever state they are in. */
export async function destroyAll(members: Member[]): Promise<void> {
  await Promise.all(members.map((m) => m.destroy()));
}

// ---- a watch client that fails over between members ----

/** A key-value as tests compare it. */
export interface KvRec {
  /** Value, UTF-8 decoded. */
  value: string;
  /** create_revision. */
  create: number;
  /** mod_revision. */
  mod: number;
  /** version. */
  version: number;
}

/** One received watch event, flattened. */
export interface EventRec {
  /** The event's revision (kv.mod_revision). */
  rev: number;
  /** PUT or DELETE. */
  type: "PUT" | "DELETE";
  /** Key, UTF-8 decoded. */
  key: string;
  /** Value ("" for a delete). */
  value: string;
  /** kv.create_revision (0 for a delete). */
  create: number;
  /** kv.version (0 for a delete). */
  version: number;
  /** prev_kv, when the server sent one. */
  prev?: KvRec;
}

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A KeyValue as a {@link KvRec}. */
export function kvRec(kv: KeyValue): KvRec {
  return {
    value: dec(kv.value),
    create: Number(kv.createRevision),
    mod: Number(kv.modRevision),
    version: Number(kv.version),
  };
}

/** A watch Event as an {@link EventRec}. */
export function eventRec(e: Event): EventRec {
  const kv = e.kv!;
  const rec: EventRec = {
    rev: Number(kv.modRevision),
    type: e.type === Event_EventType.DELETE ? "DELETE" : "PUT",
    key: dec(kv.key),
    value: dec(kv.value),
    create: Number(kv.createRevision),
    version: Number(kv.version),
  };
  if (e.prevKv) rec.prev = kvRec(e.prevKv);
  return rec;
}

/** What a {@link ResumingWatcher} watches. */
export interface WatchTarget {
  /** First key. */
  key: Uint8Array;
  /** Range end (exclusive), as in WatchCreateRequest. */
  rangeEnd: Uint8Array;
  /** Ask for prev_kv. */
  prevKv?: boolean;
}

/**
 * A range watch that survives losing its stream, as clientv3 does: it
 * re-creates the watch on the next member (in `members` order) from the
 * last revision it saw + 1. Events are recorded exactly as received, never
 * de-duplicated, so a duplicate delivery shows. Bounded: it gives up after
 * 200 sessions or 90 s.
 */
export class ResumingWatcher {
  /** Every event received, in order. */
  readonly events: EventRec[] = [];
  /** `member@startRevision` of each stream that got created, in order. */
  readonly sessions: string[] = [];
  /** Why streams ended, for failure messages. */
  readonly breaks: string[] = [];
  /** The canceling response, if the server canceled the watch. */
  canceled: WatchResponse | undefined;
  /** Last revision seen; the next session starts at lastRev + 1 (-1: not yet known). */
  lastRev: number;
  #at: number;
  #abort: AbortController | undefined;
  #stopped = false;
  readonly #loop: Promise<void>;

  /**
   * Starts watching on `first`. `startRev` 0 means "from now": like
   * clientv3, the revision is then taken from the first created response.
   */
  constructor(
    readonly name: string,
    readonly members: Member[],
    first: Member,
    readonly target: WatchTarget,
    startRev: number,
  ) {
    this.lastRev = startRev === 0 ? -1 : startRev - 1;
    this.#at = members.indexOf(first);
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (let attempt = 0; attempt < 200 && !this.#stopped && Date.now() < deadline; attempt++) {
      const m = this.members[this.#at];
      const abort = new AbortController();
      this.#abort = abort;
      try {
        await this.#session(m, abort.signal);
        this.breaks.push(`${m.name}: stream ended`);
      } catch (err) {
        this.breaks.push(`${m.name}: ${String(err).slice(0, 120)}`);
      }
      if (this.#stopped || this.canceled) return;
      this.#at = (this.#at + 1) % this.members.length;
      await sleep(50);
    }
  }

  async #session(m: Member, signal: AbortSignal): Promise<void> {
    const client = createClient(Watch, createGrpcTransport({ baseUrl: m.clientUrl }));
    const startRevision = this.lastRev < 0 ? 0n : BigInt(this.lastRev + 1);
    const first = create(WatchRequestSchema, {
      requestUnion: { case: "createRequest", value: { ...this.target, startRevision } },
    });
    async function* requests(): AsyncGenerator<WatchRequest> {
      yield first;
      // Keep the request side open until this session is torn down.
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
    }
    for await (const r of client.watch(requests(), { signal })) {
      if (r.created) {
        this.sessions.push(`${m.name}@${startRevision}`);
        if (this.lastRev < 0) this.lastRev = Number(r.header?.revision ?? 0n);
      }
      if (r.canceled) {
        this.canceled = r;
        return;
      }
      for (const e of r.events) {
        const rec = eventRec(e);
        this.events.push(rec);
        this.lastRev = rec.rev;
      }
    }
  }

  /** Breaks the current stream on purpose; it resumes on `to`, or else on the next member. */
  cut(to?: Member): void {
    if (to) this.#at = (this.members.indexOf(to) + this.members.length - 1) % this.members.length;
    this.#abort?.abort();
  }

  /** Stops for good and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    await this.#loop;
  }

  /** One line of state for failure messages. */
  describe(): string {
    return `${this.name}: last=${this.lastRev} events=${this.events.length} ` +
      `sessions=${this.sessions.join(",")} breaks=${this.breaks.join(" | ")}`;
  }
}
