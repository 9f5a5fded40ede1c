/**
 * The sending half for one remote member: an HTTP/2 connection (cairn's own
 * client, src/http/h2/client.ts) carrying one long-lived
 * `POST /raft/stream`, a bounded queue in front of it, and
 * snapshot transfers on connections of their own (so a slow snapshot never
 * holds up heartbeats).
 *
 * Everything queued in one turn of the event loop leaves as one frame in one
 * write, runs of appends and of acknowledgements merged (coalesce.ts). While the stream is backed up (the peer reads slowly) messages wait
 * in the queue; when the queue is full, or the peer is known to be down,
 * they are dropped and reported, since Raft retries on its own and stale
 * messages are worthless. A broken connection is retried with exponential
 * backoff.
 *
 * After a partition heals, a connection that lived through it is stuck: the
 * kernel retransmits into it at intervals that doubled all along (seconds by
 * then), and a fresh attempt may have sent its SYN just before the network
 * came back. So when the peer's own connection to us delivers a frame
 * ({@link Peer.heard}) while ours waits for a PING answer or for a retry, we
 * connect afresh at once instead of waiting for timers.
 *
 * @module
 */
import { H2ClientConnection, type H2ClientStream } from "../http/h2/client.ts";
import type { Dialer } from "../http/net.ts";
import type { Logger } from "../log.ts";
import type { PeerTrafficStats } from "../metrics/peer.ts";
import type { Message, SnapshotMeta } from "../raft/types.ts";
import { approxSize, encodeFrame, encodeMessage, FRAME_HEADER } from "./codec.ts";
import { crc32c } from "../wire/crc32c.ts";
import { CoalescingQueue } from "./coalesce.ts";
import {
  formatId,
  FRAME_TARGET_BYTES,
  H_CLUSTER_ID,
  H_ERROR,
  H_FROM,
  H_SNAPSHOT_CRC,
  H_SNAPSHOT_SIZE,
  H_TO,
  PATH_SNAPSHOT,
  PATH_STREAM,
} from "./protocol.ts";

/** Limits and timings of a peer sender; see Transport for the defaults. */
export interface PeerLimits {
  /** Most messages waiting for one peer. */
  maxQueuedMessages: number;
  /** Most (estimated) bytes waiting for one peer. */
  maxQueuedBytes: number;
  /** First reconnect delay; doubles per failure up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** A snapshot transfer making no progress for this long fails. */
  snapshotIdleMs: number;
  /** Size of the writes a snapshot's data is cut into. */
  snapshotChunkBytes: number;
  /** How often a live connection is probed with an HTTP/2 PING. */
  pingIntervalMs: number;
  /** A PING unanswered for this long marks the connection dead (a silent network). */
  pingTimeoutMs: number;
  /**
   * A connection attempt unanswered for this long is abandoned and retried.
   * Shorter than pingTimeoutMs: after a partition heals, a fresh attempt
   * beats waiting out the kernel's growing SYN retry intervals.
   */
  connectTimeoutMs: number;
}

/**
 * A snapshot's body, read a piece at a time while it is sent (the
 * snapshot store's SnapshotBodyReader is one).
 */
export interface SnapshotSource {
  /** Bytes in all. */
  readonly size: number;
  /** CRC-32C of the whole body, sent ahead so the receiver can check it. */
  readonly crc: number;
  /**
   * The next piece of at most `max` bytes, which the sender may keep, or
   * null after the last; rejects on a failed read or when the bytes read do
   * not match `crc`.
   */
  next(max: number): Promise<Uint8Array | null>;
  /** Releases what it holds open. */
  close(): void;
}

/** What a peer sender shares with its transport. */
export interface PeerContext {
  selfId: bigint;
  clusterId: bigint;
  log: Logger;
  limits: PeerLimits;
  /** Deferred by the transport: never called from inside `send`. */
  onUnreachable(peer: bigint): void;
  onSnapshotStatus(peer: bigint, ok: boolean): void;
  /** The peer answered 410: it knows this member as removed from the cluster. */
  onRemoved(peer: bigint): void;
  /** Opens connections to the peer's URLs (TLS when they are https). */
  dial: Dialer;
  /** Where bytes sent, disconnections and snapshot transfers are counted (etcd's metrics). */
  stats?: PeerTrafficStats;
  /** Opens the body of a snapshot whose message carries none (see TransportOptions.openSnapshot). */
  openSnapshot?(meta: SnapshotMeta): Promise<SnapshotSource>;
}

/** Sends to one remote member. */
export class Peer {
  readonly id: bigint;
  #urls: URL[];
  #urlIndex = 0;
  readonly #ctx: PeerContext;
  readonly #log: Logger;
  /** Waiting messages; runs of appends and acknowledgements merge (coalesce.ts). */
  readonly #queue = new CoalescingQueue();
  #queuedBytes = 0;
  #session: H2ClientConnection | undefined;
  #stream: H2ClientStream | undefined;
  /** Bumped per connection attempt, so events of an abandoned one are ignored. */
  #generation = 0;
  #active = false;
  /** The last attempt failed or the connection broke: drop instead of queueing. */
  #down = false;
  #backedUp = false;
  #flushScheduled = false;
  #backoffMs: number;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  /** When the unanswered PING of the live connection was sent (performance.now()); 0 if none. */
  #pingSince = 0;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the current connection attempt started (performance.now()). */
  #attemptAt = 0;
  /** When {@link heard} last started a connection, so it does so at most once per connectTimeoutMs. */
  #heardRestartAt = -Infinity;
  /** When the peer last delivered a frame to us. */
  #heardAt = -Infinity;
  /** When the peer's frames resumed after a silence longer than pingIntervalMs. */
  #resumedAt = -Infinity;
  readonly #snapshots = new Set<H2ClientConnection>();

  /** Starts connecting at once. `urls` must be non-empty. */
  constructor(id: bigint, urls: URL[], ctx: PeerContext) {
    this.id = id;
    this.#urls = urls;
    this.#ctx = ctx;
    this.#log = ctx.log.with({ "remote-peer-id": formatId(id) });
    this.#backoffMs = ctx.limits.minBackoffMs;
    this.#connect();
  }

  /** True while the message stream is established (the peer answered 200). */
  get active(): boolean {
    return this.#active;
  }

  /** Messages waiting to be written (diagnostics and tests). */
  get queued(): number {
    return this.#queue.length;
  }

  /** Replaces the peer's URLs; a live connection is kept until it breaks. */
  setUrls(urls: URL[]): void {
    this.#urls = urls;
    this.#urlIndex = 0;
  }

  /** Queues `m`; false when it was dropped (peer down or queue full). */
  enqueue(m: Message): boolean {
    if (this.#closed || this.#down) return false;
    const size = approxSize(m);
    const lim = this.#ctx.limits;
    if (
      this.#queue.length >= lim.maxQueuedMessages || this.#queuedBytes + size > lim.maxQueuedBytes
    ) {
      return false;
    }
    this.#queue.push(m);
    this.#queuedBytes += size;
    if (this.#active && !this.#backedUp && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(this.#flush);
    }
    return true;
  }

  /**
   * Writes everything queued, unless the stream is backed up: one frame
   * per FRAME_TARGET_BYTES or so (receivers bound a frame's size, see
   * protocol.ts), usually just one.
   */
  #flush = (): void => {
    this.#flushScheduled = false;
    const stream = this.#stream;
    if (!this.#active || this.#backedUp || this.#queue.length === 0 || stream === undefined) return;
    const total = this.#queuedBytes;
    const msgs = this.#queue.take();
    this.#queuedBytes = 0;
    let ok = true;
    if (total <= FRAME_TARGET_BYTES) ok = this.#write(stream, encodeFrame(msgs));
    else {
      let from = 0;
      let bytes = 0;
      for (let i = 0; i < msgs.length; i++) {
        bytes += approxSize(msgs[i]);
        if (bytes >= FRAME_TARGET_BYTES || i === msgs.length - 1) {
          ok = this.#write(stream, encodeFrame(msgs.slice(from, i + 1))) && ok;
          from = i + 1;
          bytes = 0;
        }
      }
    }
    // A full stream says so and calls drain once it has room again.
    if (!ok) this.#backedUp = true;
  };

  #write(stream: H2ClientStream, frame: Uint8Array): boolean {
    this.#ctx.stats?.sent(this.id, frame.length);
    return stream.write(frame);
  }

  /**
   * The peer delivered a frame on its own connection to us (called for every
   * received batch, so it must stay cheap): the network between us works
   * right now. If our side looks stuck, start a fresh connection at once:
   * a live connection whose PING went out before the peer's frames resumed
   * after a silence and is still unanswered after HEARD_STALE_MS, a retry
   * waiting out its backoff, or an attempt older than HEARD_STALE_MS (its
   * SYN was probably lost). At most once per connectTimeoutMs, so a slow
   * link or a refusing peer is not hammered. A PING merely slow behind a
   * long backlog does not count: the peer's frames did not pause then.
   */
  heard(): void {
    if (this.#closed) return;
    const now = performance.now();
    const lim = this.#ctx.limits;
    if (now - this.#heardAt > lim.pingIntervalMs) this.#resumedAt = now;
    this.#heardAt = now;
    if (now - this.#heardRestartAt < lim.connectTimeoutMs) return;
    let why: string | undefined;
    if (this.#active) {
      const since = this.#pingSince;
      if (since !== 0 && since < this.#resumedAt && now - since > HEARD_STALE_MS) {
        why = "PING unanswered while the peer reaches us";
      }
    } else if (this.#retryTimer !== undefined) {
      why = "retrying at once: the peer reaches us";
    } else if (now - this.#attemptAt > HEARD_STALE_MS) {
      why = "connection attempt unanswered while the peer reaches us";
    }
    if (why === undefined) return;
    this.#heardRestartAt = now;
    this.#lost(why, true);
  }

  #connect(): void {
    this.#retryTimer = undefined;
    if (this.#closed) return;
    this.#attemptAt = performance.now();
    const gen = ++this.#generation;
    const url = this.#urls[this.#urlIndex % this.#urls.length];
    const lost = (why: string) => {
      if (gen === this.#generation) this.#lost(why);
    };
    // A peer host that drops packets never refuses: give up and try anew.
    this.#connectTimer = setTimeout(
      () => lost("no answer (timed out)"),
      this.#ctx.limits.connectTimeoutMs,
    );
    this.#ctx.dial(url).then((conn) => H2ClientConnection.over(conn, { onClose: lost })).then(
      (session) => {
        if (gen !== this.#generation) return session.close("abandoned");
        this.#session = session;
        this.#openStream(session, url, gen, lost);
      },
      (err) => lost(String(err)),
    );
  }

  /** Opens the message stream on a fresh connection; active once the peer answers 200. */
  #openStream(
    session: H2ClientConnection,
    url: URL,
    gen: number,
    lost: (why: string) => void,
  ): void {
    const stream = session.request([
      [":method", "POST"],
      [":scheme", "http"],
      [":authority", url.host],
      [":path", PATH_STREAM],
      [H_CLUSTER_ID, formatId(this.#ctx.clusterId)],
      [H_FROM, formatId(this.#ctx.selfId)],
      [H_TO, formatId(this.id)],
    ], false);
    this.#stream = stream;
    stream.listener = {
      response: (status, fields) => {
        if (gen !== this.#generation) return;
        clearTimeout(this.#connectTimer);
        if (status !== 200) {
          const why = fields.find(([n]) => n === H_ERROR)?.[1] ?? `status ${status}`;
          this.#log.error("peer refused the message stream", { "peer-url": url, error: why });
          lost(why);
          // etcd's sender takes 410 Gone as its own removal (errMemberRemoved).
          if (status === 410 && !this.#closed) this.#ctx.onRemoved(this.id);
          return;
        }
        this.#active = true;
        this.#startPings(session, gen);
        this.#down = false;
        this.#backoffMs = this.#ctx.limits.minBackoffMs;
        this.#log.info("peer became active", { "peer-url": url });
        this.#flush();
      },
      end: () => lost("peer ended the message stream"),
      abort: lost,
      drain: () => {
        if (gen !== this.#generation) return;
        this.#backedUp = false;
        this.#flush();
      },
    };
  }

  /**
   * A peer whose network went silent never resets the connection: Raft's
   * own traffic would merely pile up. A PING left unanswered for
   * pingTimeoutMs ends the connection, so the peer is reported unreachable
   * and isActive turns false.
   */
  #startPings(session: H2ClientConnection, gen: number): void {
    const lim = this.#ctx.limits;
    this.#pingSince = 0;
    let lastTick = performance.now();
    this.#pingTimer = setInterval(() => {
      if (gen !== this.#generation) return;
      const now = performance.now();
      // A tick this late means our own event loop (or the whole process)
      // did not run: the answer may be sitting unread, so the peer gets a
      // fresh timeout instead of being declared silent.
      const weStalled = now - lastTick > 2 * lim.pingIntervalMs;
      lastTick = now;
      if (this.#pingSince !== 0) {
        if (weStalled) this.#pingSince = now;
        else if (now - this.#pingSince > lim.pingTimeoutMs) {
          this.#lost("no answer to PING (timed out)");
        }
        return;
      }
      this.#pingSince = now;
      session.ping().then(() => {
        if (gen === this.#generation) this.#pingSince = 0;
      }, () => {/* the connection ended: its onClose reports that */});
    }, lim.pingIntervalMs);
  }

  /** The connection failed or broke: drop what waits, report, retry later (or `now`). */
  #lost(why: string, now = false): void {
    const wasActive = this.#active;
    this.#generation++; // ignore any further events of this connection
    this.#active = false;
    this.#down = true;
    this.#backedUp = false;
    this.#teardown();
    if (this.#closed) return;
    if (wasActive) {
      this.#log.warn("peer became inactive", { error: why });
      this.#ctx.stats?.disconnected(this.id);
    } else this.#log.debug("cannot connect to peer", { error: why, "retry-ms": this.#backoffMs });
    const dropped = this.#queue.length;
    this.#queue.take();
    this.#queuedBytes = 0;
    if (dropped > 0 || wasActive) this.#ctx.onUnreachable(this.id);
    this.#urlIndex++;
    if (now) {
      clearTimeout(this.#retryTimer);
      this.#connect();
      return;
    }
    this.#retryTimer = setTimeout(() => this.#connect(), this.#backoffMs);
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#ctx.limits.maxBackoffMs);
  }

  /** Drops the current connection. */
  #teardown(): void {
    clearInterval(this.#pingTimer);
    clearTimeout(this.#connectTimer);
    this.#pingTimer = undefined;
    this.#pingSince = 0;
    this.#session?.close("connection replaced");
    this.#stream = undefined;
    this.#session = undefined;
  }

  /**
   * Sends one snapshot on a connection of its own, in chunks, and reports
   * the outcome with onSnapshotStatus. Its body is `msg.snapshot.data`, or
   * when that is empty, what `openSnapshot` reads (the member's file),
   * streamed a chunk at a time as the connection takes it.
   */
  sendSnapshot(msg: Message): void {
    this.#sendSnapshot(msg).then(
      (ok) => this.#ctx.onSnapshotStatus(this.id, ok),
      (e) => {
        this.#log.warn("sending snapshot failed", { error: String(e) });
        this.#ctx.onSnapshotStatus(this.id, false);
      },
    );
  }

  /**
   * Where the body of `msg`'s snapshot comes from: its own bytes, or the
   * file `openSnapshot` opens. Opening (it checks the file's header) that
   * makes no end within the transfer's idle limit fails the send.
   */
  async #snapshotSource(msg: Message): Promise<SnapshotSource> {
    const { data, meta } = msg.snapshot!;
    const open = this.#ctx.openSnapshot;
    if (data.length > 0 || open === undefined) return bytesSource(data);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("opening the snapshot file timed out")),
        this.#ctx.limits.snapshotIdleMs,
      );
    });
    const opening = open(meta);
    try {
      return await Promise.race([opening, late]);
    } catch (err) {
      // Opened after all, too late: nobody will read it.
      opening.then((src) => src.close(), () => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async #sendSnapshot(msg: Message): Promise<boolean> {
    if (this.#closed || msg.snapshot === undefined) return false;
    const src = await this.#snapshotSource(msg);
    if (this.#closed) {
      src.close();
      return false;
    }
    const head = encodeMessage(msg);
    const frame = new Uint8Array(FRAME_HEADER + head.length);
    new DataView(frame.buffer).setUint32(0, head.length);
    frame.set(head, FRAME_HEADER);
    const url = this.#urls[this.#urlIndex % this.#urls.length];
    const log = this.#log.with({ "snapshot-index": msg.snapshot.meta.index });
    const lim = this.#ctx.limits;
    log.info("sending database snapshot", { "peer-url": url, "snapshot-size": src.size });
    const stats = this.#ctx.stats;
    const startedAt = performance.now();
    stats?.snapshotSending(this.id);
    let done = false;
    let idle: ReturnType<typeof setTimeout> | undefined;
    let session: H2ClientConnection | undefined;
    return await new Promise<boolean>((resolve) => {
      const finish = (ok: boolean, why?: string) => {
        if (done) return;
        done = true;
        clearTimeout(idle);
        src.close();
        stats?.snapshotSent(this.id, ok, (performance.now() - startedAt) / 1000);
        if (ok) log.info("sent database snapshot", { "snapshot-size": src.size });
        else log.warn("sending snapshot failed", { error: why });
        if (session) {
          this.#snapshots.delete(session);
          session.close("snapshot sent");
        }
        resolve(ok);
      };
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => finish(false, "no progress (timed out)"), lim.snapshotIdleMs);
      };
      touch();
      this.#ctx.dial(url).then((conn) =>
        H2ClientConnection.over(conn, { onClose: (why) => finish(false, why) })
      ).then(
        (c) => {
          if (done || this.#closed) {
            // Given up meanwhile (timed out, or the transport stopped).
            c.close("abandoned");
            return finish(false, "transport closed");
          }
          session = c;
          this.#snapshots.add(c);
          const req = c.request([
            [":method", "POST"],
            [":scheme", "http"],
            [":authority", url.host],
            [":path", PATH_SNAPSHOT],
            [H_CLUSTER_ID, formatId(this.#ctx.clusterId)],
            [H_FROM, formatId(this.#ctx.selfId)],
            [H_TO, formatId(this.id)],
            [H_SNAPSHOT_SIZE, String(src.size)],
            [H_SNAPSHOT_CRC, String(src.crc)],
          ], false);
          // One chunk read, then written; the next only once the stream has
          // room: the body is never in memory whole, nor buffered twice. A
          // read that fails (or finds the body damaged) resets the stream,
          // so the receiver never takes a partial snapshot.
          let reading = false;
          const pump = async () => {
            if (done || reading) return;
            reading = true;
            try {
              for (;;) {
                touch();
                const chunk = await src.next(lim.snapshotChunkBytes);
                if (done) return;
                if (chunk === null) return req.end();
                stats?.sent(this.id, chunk.length);
                if (!req.write(chunk)) return; // drain calls pump again
              }
            } catch (err) {
              if (done) return;
              req.reset();
              finish(false, `reading the snapshot: ${(err as Error).message}`);
            } finally {
              reading = false;
            }
          };
          req.listener = {
            response: (status, fields) => {
              if (status === 204) return finish(true);
              finish(false, fields.find(([n]) => n === H_ERROR)?.[1] ?? `status ${status}`);
            },
            end: () => finish(false, "stream ended before the peer answered"),
            abort: (why) => finish(false, why),
            drain: () => void pump(),
          };
          stats?.sent(this.id, frame.length);
          req.write(frame);
          void pump();
        },
        (err) => finish(false, String(err)),
      );
    });
  }

  /** Drops the connection, pending messages and snapshot transfers; no retries after. */
  close(): void {
    this.#closed = true;
    this.#generation++;
    this.#active = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#connectTimer);
    this.#pingTimer = undefined;
    this.#queue.take();
    this.#queuedBytes = 0;
    for (const c of [this.#session, ...this.#snapshots]) c?.close("transport closed");
    this.#stream = undefined;
    this.#session = undefined;
    this.#snapshots.clear();
  }
}

/**
 * A PING or connection attempt unanswered for this long, while the peer
 * reaches us, is presumed lost: on a LAN answers take milliseconds. On a
 * slow link a wrong guess costs one handshake, once per connectTimeoutMs.
 */
const HEARD_STALE_MS = 100;

/** A body already in memory, handed out in views. */
function bytesSource(data: Uint8Array): SnapshotSource {
  let off = 0;
  return {
    size: data.length,
    crc: crc32c(data),
    next(max: number): Promise<Uint8Array | null> {
      if (off === data.length) return Promise.resolve(null);
      const end = Math.min(off + Math.max(1, max), data.length);
      const piece = data.subarray(off, end);
      off = end;
      return Promise.resolve(piece);
    },
    close() {},
  };
}

/**
 * Reads all of `src`, checked against its size (and by `src` against its
 * checksum), and closes it: for a simulated network, which hands bodies
 * over whole, and for tests.
 */
export async function readWholeSnapshot(src: SnapshotSource): Promise<Uint8Array> {
  try {
    const out = new Uint8Array(src.size);
    let at = 0;
    for (let piece = await src.next(1 << 20); piece !== null; piece = await src.next(1 << 20)) {
      if (at + piece.length > out.length) throw new Error("snapshot longer than announced");
      out.set(piece, at);
      at += piece.length;
    }
    if (at !== out.length) throw new Error("snapshot shorter than announced");
    return out;
  } finally {
    src.close();
  }
}
