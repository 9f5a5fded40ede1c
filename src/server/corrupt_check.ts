/**
 * etcd's data corruption checks, which compare HashKV across members:
 *
 * - `--experimental-initial-corrupt-check`: before a restarted member
 *   serves anyone, it asks every peer for HashKV at its own revision and
 *   refuses to start when a peer at the same compact revision has another
 *   hash. Peers that do not answer, are behind, or have compacted past that
 *   revision are skipped, as etcd skips them.
 * - `--experimental-corrupt-check-time`: the leader periodically compares
 *   its own HashKV with its followers' and raises a CORRUPT alarm through
 *   the log, naming the member whose state departs from its own.
 * - `--experimental-compact-hash-check-enabled`: the leader periodically
 *   compares the hash it recorded at each recent compaction with the one
 *   each follower recorded there (compaction_hash.ts) and raises CORRUPT
 *   on a difference.
 *
 * Peers answer on the peer port at etcd's `GET /members/hashkv`, with the
 * JSON etcd's handler speaks: `{"revision":N}` in, `{"header":{"revision":
 * R},"hash":H,"compact_revision":C}` out, 400 with mvcc's error text for a
 * compacted or future revision, and 412 "cluster ID mismatch" when the
 * caller's `X-Etcd-Cluster-ID` names another cluster (etcd 3.5.17).
 *
 * @module
 */
import { EtcdErrors, isEtcdError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { KVHash } from "../mvcc/hash.ts";
import type { PeerReply } from "../transport/peer_client.ts";
import { ERR_CLUSTER_MISMATCH, formatId } from "../transport/protocol.ts";
import type { PeerRouteAnswer, PeerRouteHandler } from "../transport/transport.ts";
import type { CompactionHash } from "./compaction_hash.ts";

/** etcd's peer-port path for HashKV (`PeerHashKVPath`). */
export const PEER_HASHKV_PATH = "/members/hashkv";

/** mvcc's error text for a revision below the compact revision (etcd's `mvcc.ErrCompacted`). */
export const MVCC_COMPACTED = "mvcc: required revision has been compacted";
/** mvcc's error text for a revision above the current one (etcd's `mvcc.ErrFutureRev`). */
export const MVCC_FUTURE_REV = "mvcc: required revision is a future revision";

/** The header carrying the caller's cluster id (etcd's). */
export const H_ETCD_CLUSTER_ID = "x-etcd-cluster-id";

/** The part of the MVCC store the checks read. */
export interface HashSource {
  /** etcd's HashKV at `rev` (0 = current); throws etcd's compacted / future revision errors. */
  hashKV(rev: number): KVHash;
  /** The store's current revision. */
  readonly currentRevision: number;
}

/** A peer's HashKV answer. */
export interface PeerHashKV {
  /** CRC-32C of its history up to the asked revision. */
  hash: number;
  /** Its compact revision (-1 before any compaction). */
  compactRevision: number;
  /** Its current revision (etcd puts it in the answer's header). */
  revision: number;
}

/** Why a peer gave no hash. */
export type PeerHashError =
  | { kind: "compacted" }
  | { kind: "future" }
  | { kind: "clusterMismatch" }
  | { kind: "failed"; message: string };

/** One peer's outcome: an answer, or why there is none. */
export interface PeerHashResult {
  /** The peer's member id. */
  id: bigint;
  /** Its peer URLs, tried in order. */
  urls: string[];
  /** Its answer from the first URL that gave one. */
  resp?: PeerHashKV;
  /** The last URL's failure when none answered. */
  err?: PeerHashError;
}

/** A peer as the membership knows it. */
export interface PeerInfo {
  id: bigint;
  peerUrls: string[];
}

/** One call to a peer endpoint (PeerLinks.call). */
export type PeerCall = (
  url: string,
  path: string,
  body: Uint8Array,
  timeoutMs: number,
  method: string,
  headers: [string, string][],
) => Promise<PeerReply>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The request body etcd sends: Go's JSON of HashKVRequest (a zero revision is omitted). */
export function encodeHashKVRequest(revision: number): Uint8Array {
  return encoder.encode(revision === 0 ? "{}" : JSON.stringify({ revision }));
}

/** Parses a HashKVRequest body; undefined when it is not one (etcd answers 400). */
export function decodeHashKVRequest(body: Uint8Array): number | undefined {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(body));
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const rev = (v as Record<string, unknown>).revision ?? 0;
  return typeof rev === "number" && Number.isSafeInteger(rev) ? rev : undefined;
}

/** The answer body: Go's JSON of HashKVResponse as etcd's handler fills it (zero fields omitted). */
export function encodeHashKVAnswer(a: PeerHashKV): Uint8Array {
  const out: Record<string, unknown> = { header: a.revision === 0 ? {} : { revision: a.revision } };
  if (a.hash !== 0) out.hash = a.hash;
  if (a.compactRevision !== 0) out.compact_revision = a.compactRevision;
  return encoder.encode(JSON.stringify(out));
}

/** Parses an answer body; throws on anything that is not one. */
export function decodeHashKVAnswer(body: Uint8Array): PeerHashKV {
  const v = JSON.parse(decoder.decode(body)) as Record<string, unknown>;
  const header = (v?.header ?? {}) as Record<string, unknown>;
  const num = (x: unknown, what: string): number => {
    if (x === undefined) return 0;
    if (typeof x !== "number" || !Number.isSafeInteger(x)) {
      throw new Error(`malformed hashkv answer: ${what}`);
    }
    return x;
  };
  return {
    hash: num(v.hash, "hash"),
    compactRevision: num(v.compact_revision, "compact_revision"),
    revision: num(header.revision, "header.revision"),
  };
}

function textAnswer(status: number, text: string): PeerRouteAnswer {
  // Go's http.Error ends the text with a newline.
  return { status, contentType: "text/plain; charset=utf-8", body: encoder.encode(`${text}\n`) };
}

/**
 * The peer-port handler for `GET /members/hashkv`: HashKV of the store
 * `store()` returns at the asked revision (read at call time, since a
 * snapshot install replaces the store), or, as etcd's `HashByRev` does
 * first, the hash `stored(rev)` recorded when a compaction at that
 * revision was applied. A caller from another cluster is refused.
 */
export function hashKVRoute(
  store: () => HashSource,
  clusterId: bigint,
  log: Logger,
  stored: (rev: number) => CompactionHash | undefined = () => undefined,
): PeerRouteHandler {
  return (body, header) => {
    const theirs = header(H_ETCD_CLUSTER_ID);
    if (theirs !== undefined && theirs !== "" && theirs !== formatId(clusterId)) {
      return textAnswer(412, ERR_CLUSTER_MISMATCH);
    }
    const rev = decodeHashKVRequest(body);
    if (rev === undefined) {
      log.warn("failed to unmarshal request", { error: "not a HashKVRequest" });
      return textAnswer(400, "error unmarshalling request");
    }
    const s = store();
    let h: Pick<KVHash, "hash" | "compactRevision">;
    try {
      h = stored(rev) ?? s.hashKV(rev);
    } catch (err) {
      const why = isEtcdError(err, EtcdErrors.compacted)
        ? MVCC_COMPACTED
        : isEtcdError(err, EtcdErrors.futureRev)
        ? MVCC_FUTURE_REV
        : undefined;
      if (why === undefined) throw err;
      log.warn("failed to get hashKV", { "requested-revision": rev, error: why });
      return textAnswer(400, why);
    }
    return {
      status: 200,
      contentType: "application/json",
      body: encodeHashKVAnswer({
        hash: h.hash,
        compactRevision: h.compactRevision,
        revision: s.currentRevision,
      }),
    };
  };
}

/** Reads one peer's answer the way etcd's `HashByRev` client does. */
export function interpretReply(reply: PeerReply): PeerHashKV | PeerHashError {
  const text = decoder.decode(reply.body);
  if (reply.status === 400) {
    if (text.includes(MVCC_COMPACTED)) return { kind: "compacted" };
    if (text.includes(MVCC_FUTURE_REV)) return { kind: "future" };
  }
  if (reply.status === 412 && text.includes(ERR_CLUSTER_MISMATCH)) {
    return { kind: "clusterMismatch" };
  }
  if (reply.status !== 200) {
    return { kind: "failed", message: `unknown error: ${text || reply.error || reply.status}` };
  }
  try {
    return decodeHashKVAnswer(reply.body);
  } catch (err) {
    return { kind: "failed", message: String((err as Error)?.message ?? err) };
  }
}

/** What asking the peers for their hashes needs. */
export interface PeerHashOptions {
  selfId: bigint;
  /** Sent along so a member of another cluster refuses to answer. */
  clusterId: bigint;
  log: Logger;
  call: PeerCall;
  /** Per-URL request timeout (etcd's request timeout). */
  timeoutMs: number;
}

/**
 * Asks every peer but ourselves for HashKV at `rev`, trying each of its
 * URLs in turn until one answers; peers are asked concurrently.
 */
export function fetchPeerHashes(
  o: PeerHashOptions,
  peers: Iterable<PeerInfo>,
  rev: number,
): Promise<PeerHashResult[]> {
  const asks: Promise<PeerHashResult>[] = [];
  for (const p of peers) {
    if (p.id === o.selfId || p.peerUrls.length === 0) continue;
    asks.push(askPeer(o, p, rev));
  }
  return Promise.all(asks);
}

async function askPeer(o: PeerHashOptions, p: PeerInfo, rev: number): Promise<PeerHashResult> {
  let lastErr: PeerHashError = { kind: "failed", message: "no peer URL" };
  const headers: [string, string][] = [
    ["content-type", "application/json"],
    [H_ETCD_CLUSTER_ID, formatId(o.clusterId)],
  ];
  for (const url of p.peerUrls) {
    let got: PeerHashKV | PeerHashError;
    try {
      const body = encodeHashKVRequest(rev);
      const reply = await o.call(url, PEER_HASHKV_PATH, body, o.timeoutMs, "GET", headers);
      got = interpretReply(reply);
    } catch (err) {
      got = { kind: "failed", message: String((err as Error)?.message ?? err) };
    }
    if (!("kind" in got)) return { id: p.id, urls: p.peerUrls, resp: got };
    lastErr = got;
    o.log.warn("failed hash kv request", {
      "local-member-id": o.selfId,
      "requested-revision": rev,
      "remote-peer-endpoint": url,
      error: describe(got),
    });
  }
  return { id: p.id, urls: p.peerUrls, err: lastErr };
}

function describe(e: PeerHashError): string {
  if (e.kind === "compacted") return EtcdErrors.compacted().rawMessage;
  if (e.kind === "future") return EtcdErrors.futureRev().rawMessage;
  if (e.kind === "clusterMismatch") return "etcdserver: cluster ID mismatch";
  return e.message;
}

/** The initial check failed: this member's data differs from a peer's. */
export class DataInconsistency extends Error {
  /** etcd's wording, naming the local member. */
  constructor(selfId: bigint) {
    super(`${hex(selfId)} found data inconsistency with peers`);
    this.name = "DataInconsistency";
  }
}

/**
 * etcd's initial corruption check: compares the local HashKV at the
 * current revision with every peer's at that revision. Throws
 * {@link DataInconsistency} when a peer with the same compact revision has
 * a different hash; a different compact revision, a peer that is behind
 * or has compacted past the revision, or one that does not answer is
 * logged and skipped.
 */
export async function initialCorruptCheck(
  o: PeerHashOptions,
  local: HashSource,
  peers: Iterable<PeerInfo>,
): Promise<void> {
  o.log.info("starting initial corruption check", {
    "local-member-id": o.selfId,
    timeout: `${o.timeoutMs / 1000}s`,
  });
  const h = local.hashKV(0);
  const rev = h.hashRevision;
  const mine = {
    "local-member-id": o.selfId,
    "local-member-revision": rev,
    "local-member-compact-revision": h.compactRevision,
    "local-member-hash": h.hash,
  };
  let mismatch = 0;
  for (const p of await fetchPeerHashes(o, peers, rev)) {
    const theirs = { "remote-peer-id": p.id, "remote-peer-endpoints": p.urls };
    if (p.resp) {
      if (p.resp.hash === h.hash) continue;
      const fields = {
        ...mine,
        ...theirs,
        "remote-peer-revision": p.resp.revision,
        "remote-peer-compact-revision": p.resp.compactRevision,
        "remote-peer-hash": p.resp.hash,
      };
      if (p.resp.compactRevision === h.compactRevision) {
        o.log.warn("found different hash values from remote peer", fields);
        mismatch++;
      } else {
        o.log.warn("found different compact revision values from remote peer", fields);
      }
    } else if (p.err?.kind === "future") {
      o.log.warn("cannot fetch hash from slow remote peer", {
        ...mine,
        ...theirs,
        error: describe(p.err),
      });
    } else if (p.err?.kind === "compacted") {
      o.log.warn("cannot fetch hash from remote peer; local member is behind", {
        ...mine,
        ...theirs,
        error: describe(p.err),
      });
    } else if (p.err?.kind === "clusterMismatch") {
      o.log.warn("cluster ID mismatch", { ...mine, ...theirs, error: describe(p.err) });
    }
  }
  if (mismatch > 0) throw new DataInconsistency(o.selfId);
  o.log.info("initial corruption checking passed; no corruption", { "local-member-id": o.selfId });
}

/**
 * The `tick` of a leader's periodic check: it starts `check` when this
 * member leads and the previous pass has ended, so a slow pass (peers that
 * time out) is never overlapped by the next interval's; a pass that throws
 * is logged as `failure` and the next tick tries again, as etcd's monitor
 * loops log and go on.
 */
function leaderTicker(
  host: { isLeader(): boolean; readonly log: Logger },
  failure: string,
  check: () => Promise<unknown>,
): () => void {
  let running = false;
  return () => {
    if (running || !host.isLeader()) return;
    running = true;
    check()
      .catch((err) => host.log.warn(failure, { error: String((err as Error)?.message ?? err) }))
      .finally(() => (running = false));
  };
}

/** What the periodic check needs from its member. */
export interface MonitorHost extends PeerHashOptions {
  /** The member's store as of now (a snapshot install replaces it). */
  store(): HashSource;
  /** The current membership. */
  peers(): Iterable<PeerInfo>;
  /** Whether this member leads now. */
  isLeader(): boolean;
  /** Resolves once the member has applied everything committed when it was called. */
  readBarrier(): Promise<void>;
  /** Proposes AlarmRequest{ACTIVATE, CORRUPT, memberID} through the log. */
  raiseCorrupt(memberId: bigint): void;
}

/**
 * The leader's periodic check (`--experimental-corrupt-check-time`). Call
 * {@link tick} on every interval: it runs one check when this member leads
 * and no check is still running.
 */
export class CorruptionMonitor {
  readonly #host: MonitorHost;
  /** Starts a check unless one is running or this member is not the leader. */
  readonly tick: () => void;

  /** A monitor for `host`; nothing runs until {@link tick}. */
  constructor(host: MonitorHost) {
    this.#host = host;
    this.tick = leaderTicker(host, "failed to check hash KV", () => this.check());
  }

  /**
   * One pass, as etcd's leader runs it: hash locally, ask the followers at
   * that revision, hash again after a linearizable read barrier, then raise
   * CORRUPT (at most once per pass) when a member is found wanting: itself
   * if its own hash moved without a revision change, or a follower ahead of
   * it, compacted further than it, or with another hash at the same compact
   * revision. The log names that member; the alarm names member 0, as etcd
   * 3.4 and 3.5 raise it, since the leader cannot tell whether the follower
   * or itself holds the bad copy.
   */
  async check(): Promise<void> {
    const host = this.#host;
    const log = host.log;
    const h = host.store().hashKV(0);
    const peers = await fetchPeerHashes(host, host.peers(), h.hashRevision);
    await host.readBarrier();
    const h2 = host.store().hashKV(0);

    let alarmed = false;
    const mismatch = () => {
      if (alarmed) return;
      alarmed = true;
      host.raiseCorrupt(0n);
    };

    if (
      h2.hash !== h.hash && h2.hashRevision === h.hashRevision &&
      h2.compactRevision === h.compactRevision
    ) {
      log.warn("found hash mismatch", {
        "revision-1": h.hashRevision,
        "compact-revision-1": h.compactRevision,
        "hash-1": h.hash,
        "revision-2": h2.hashRevision,
        "compact-revision-2": h2.compactRevision,
        "hash-2": h2.hash,
      });
      mismatch();
    }

    let checked = 0;
    for (const p of peers) {
      if (!p.resp) continue;
      checked++;
      const r = p.resp;
      if (r.revision > h2.hashRevision) {
        log.warn("revision from follower must be less than or equal to leader's", {
          "leader-revision": h2.hashRevision,
          "follower-revision": r.revision,
          "follower-peer-id": p.id,
        });
        mismatch();
      }
      if (r.compactRevision > h2.compactRevision) {
        log.warn("compact revision from follower must be less than or equal to leader's", {
          "leader-compact-revision": h2.compactRevision,
          "follower-compact-revision": r.compactRevision,
          "follower-peer-id": p.id,
        });
        mismatch();
      }
      if (r.compactRevision === h.compactRevision && r.hash !== h.hash) {
        log.warn("same compact revision then hashes must match", {
          "leader-compact-revision": h2.compactRevision,
          "leader-hash": h.hash,
          "follower-compact-revision": r.compactRevision,
          "follower-hash": r.hash,
          "follower-peer-id": p.id,
        });
        mismatch();
      }
    }
    log.info("finished peer corruption check", { "number-of-peers-checked": checked });
  }
}

/** What the compaction hash check needs from its member. */
export interface CompactHashHost extends PeerHashOptions {
  /** The compaction hashes this member recorded (any order). */
  hashes(): CompactionHash[];
  /** The current membership. */
  peers(): Iterable<PeerInfo>;
  /** Whether this member leads now. */
  isLeader(): boolean;
  /** Proposes AlarmRequest{ACTIVATE, CORRUPT, memberID} through the log. */
  raiseCorrupt(memberId: bigint): void;
}

/**
 * The leader's compaction hash check (etcd 3.5's `CompactHashCheck`, run
 * every `--experimental-compact-hash-check-time` with
 * `--experimental-compact-hash-check-enabled`). Call {@link tick} on every
 * interval: when this member leads and no check is running it runs one.
 */
export class CompactHashMonitor {
  readonly #host: CompactHashHost;
  /** The newest compaction revision every peer was checked at. */
  #latestChecked = 0;
  /** Starts a check unless one is running or this member is not the leader. */
  readonly tick: () => void;

  /** A monitor for `host`; nothing runs until {@link tick}. */
  constructor(host: CompactHashHost) {
    this.#host = host;
    this.tick = leaderTicker(host, "failed compaction hash check", () => this.check());
  }

  /**
   * One pass, as etcd's leader runs it: for its recorded compaction hashes
   * newer than the last one fully checked, newest first, it asks every
   * peer for HashKV at that compaction's revision (a peer answers with the
   * hash it recorded there). A peer with the same previous compact
   * revision and another hash raises CORRUPT, for member 0 as etcd 3.5
   * does (which copy is bad cannot be told), and ends the pass. A peer
   * that does not answer or answers with another compact revision is not
   * checked; the first revision every peer was checked at ends the pass
   * and is not checked again. Resolves to whether a mismatch was found.
   */
  async check(): Promise<boolean> {
    const host = this.#host;
    const log = host.log;
    log.info("starting compact hash check", {
      "local-member-id": host.selfId,
      timeout: `${host.timeoutMs / 1000}s`,
    });
    const hashes = host.hashes()
      .filter((h) => h.revision > this.#latestChecked)
      .sort((a, b) => b.revision - a.revision);
    for (let i = 0; i < hashes.length; i++) {
      const mine = hashes[i];
      const peers = await fetchPeerHashes(host, host.peers(), mine.revision);
      if (peers.length === 0) continue;
      let checked = 0;
      for (const p of peers) {
        if (!p.resp || p.resp.compactRevision !== mine.compactRevision) continue;
        if (p.resp.hash !== mine.hash) {
          host.raiseCorrupt(0n);
          log.error("failed compaction hash check", {
            revision: mine.revision,
            "leader-compact-revision": mine.compactRevision,
            "leader-hash": mine.hash,
            "follower-compact-revision": p.resp.compactRevision,
            "follower-hash": p.resp.hash,
            "follower-peer-id": p.id,
          });
          return true;
        }
        checked++;
        log.info("successfully checked hash on follower", {
          revision: mine.revision,
          "peer-id": p.id,
        });
      }
      if (checked === peers.length) {
        log.info("successfully checked hash on whole cluster", {
          "number-of-peers-checked": checked,
          revision: mine.revision,
        });
        if (mine.revision > this.#latestChecked) this.#latestChecked = mine.revision;
        log.info("finished compaction hash check", { "number-of-hashes-checked": i + 1 });
        return false;
      }
      log.warn("skipped revision in compaction hash check; was not able to check all peers", {
        "number-of-peers-checked": checked,
        "number-of-peers": peers.length,
        revision: mine.revision,
      });
    }
    log.info("finished compaction hash check", { "number-of-hashes-checked": hashes.length });
    return false;
  }
}

function hex(id: bigint): string {
  return BigInt.asUintN(64, id).toString(16);
}
