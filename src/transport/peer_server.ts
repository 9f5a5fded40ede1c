/**
 * The receiving half of the peer transport: a cleartext HTTP/2 server on
 * each `--listen-peer-urls` address, serving the two endpoints described in
 * protocol.ts. Received batches go to `onMessages` in the order the sender
 * wrote them; a snapshot is checked against its size and CRC-32C and
 * handed whole to `onSnapshot`.
 *
 * Deno's `node:http2` lets a `'request'` listener take over every stream, so
 * only `'stream'` is used; every server, session and stream has an error
 * handler, because an abrupt reset is otherwise fatal.
 *
 * @module
 */
import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { guardAgainstGoaway } from "../http/goaway_filter.ts";
import CRC32C from "crc-32/crc32c.js";
import type { Logger } from "../log.ts";
import { type Message, MessageType } from "../raft/types.ts";
import { decodeBatch, decodeMessage } from "./codec.ts";
import {
  ERR_CLUSTER_MISMATCH,
  ERR_MEMBER_MISMATCH,
  formatId,
  FrameSplitter,
  H_CLUSTER_ID,
  H_ERROR,
  H_FROM,
  H_SNAPSHOT_CRC,
  H_SNAPSHOT_SIZE,
  H_TO,
  parseId,
  PATH_SNAPSHOT,
  PATH_STREAM,
} from "./protocol.ts";

/** A complete answer to a request on one of the member's own peer endpoints. */
export interface PeerRouteAnswer {
  status: number;
  contentType: string;
  body: Uint8Array;
}

/** Serves one request to a member endpoint, given its whole body. */
export type PeerRouteHandler = (body: Uint8Array) => Promise<PeerRouteAnswer> | PeerRouteAnswer;

/** Largest body accepted on a member endpoint (they carry small requests). */
const MAX_ROUTE_BODY = 4 * 1024 * 1024;

/** What the server needs to know and whom it tells. */
export interface PeerServerOptions {
  selfId: bigint;
  clusterId: bigint;
  listenUrls: URL[];
  log: Logger;
  /** One received batch from member `from`, in sender order. Exceptions are logged, not fatal. */
  onMessages(msgs: Message[], from: bigint): void;
  /** A Snap message whose `snapshot.data` holds the complete, verified data. */
  onSnapshot(msg: Message): void;
  /** Largest accepted batch frame. Default 256 MiB. */
  maxFrameBytes?: number;
  /**
   * Other endpoints the member serves on its peer port (etcd's GET
   * /members for joining members): asked first for every request.
   */
  routes?: (path: string, method: string) => PeerRouteHandler | undefined;
  /** Largest accepted snapshot. Default 16 GiB. */
  maxSnapshotBytes?: number;
}

const { NGHTTP2_PROTOCOL_ERROR, NGHTTP2_CANCEL } = http2.constants;

/** HTTP/2 servers on the peer listen URLs. */
export class PeerServer {
  readonly #opts: PeerServerOptions;
  readonly #log: Logger;
  readonly #servers: http2.Http2Server[] = [];
  readonly #listeners: net.Server[] = [];
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /** The bound addresses, one per listen URL (ports resolved when 0 was asked for). */
  readonly addresses: AddressInfo[] = [];

  private constructor(opts: PeerServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
  }

  /** Listens on every URL; rejects (closing what was opened) if one cannot be bound. */
  static async start(opts: PeerServerOptions): Promise<PeerServer> {
    const s = new PeerServer(opts);
    try {
      for (const url of opts.listenUrls) await s.#listen(url);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  async #listen(url: URL): Promise<void> {
    if (url.protocol !== "http:") {
      throw new Error(`peer listen URL ${url.href}: only http:// (cleartext HTTP/2) is supported`);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const port = url.port === "" ? 80 : Number(url.port);
    const server = http2.createServer({ settings: { maxConcurrentStreams: 1024 } });
    server.on("error", (err) => this.#log.warn("peer listener error", { error: String(err) }));
    server.on(
      "sessionError",
      (err) => this.#log.debug("peer session error", { error: String(err) }),
    );
    server.on("session", (session: http2.ServerHttp2Session) => {
      this.#sessions.add(session);
      session.on("error", (err) => this.#log.debug("peer session error", { error: String(err) }));
      session.on("close", () => this.#sessions.delete(session));
    });
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
      stream.on("error", (err) => this.#log.debug("peer stream error", { error: String(err) }));
      this.#route(stream, headers);
    });
    // Connections reach the HTTP/2 server through the GOAWAY guard: a peer
    // closing its session must not abort this process (see goaway_filter.ts).
    const listener = net.createServer((socket) => {
      socket.on("error", (err) => this.#log.debug("peer socket error", { error: String(err) }));
      socket.setNoDelay(true);
      server.emit("connection", guardAgainstGoaway(socket));
    });
    listener.on("error", (err) => this.#log.warn("peer listener error", { error: String(err) }));
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(port, host, () => {
        listener.off("error", reject);
        resolve();
      });
    });
    this.#servers.push(server);
    this.#listeners.push(listener);
    this.addresses.push(listener.address() as AddressInfo);
  }

  /** Collects the body, runs the member's handler, and answers (never throws). */
  #serveRoute(stream: http2.ServerHttp2Stream, handler: PeerRouteHandler): void {
    const chunks: Uint8Array[] = [];
    let size = 0;
    stream.on("data", (c: Uint8Array) => {
      size += c.length;
      if (size > MAX_ROUTE_BODY) return refuse(stream, 413, "request too large");
      chunks.push(c);
    });
    stream.on("end", async () => {
      if (size > MAX_ROUTE_BODY) return;
      let answer: PeerRouteAnswer;
      try {
        answer = await handler(Buffer.concat(chunks));
      } catch (err) {
        // Connect errors keep etcd's bare message in rawMessage.
        const raw = (err as { rawMessage?: unknown })?.rawMessage;
        const why = typeof raw === "string"
          ? raw
          : err instanceof Error
          ? err.message
          : String(err);
        return refuse(stream, 500, why);
      }
      if (stream.closed || stream.destroyed) return;
      try {
        stream.respond({ ":status": answer.status, "content-type": answer.contentType });
        stream.end(answer.body);
      } catch {
        // The caller went away meanwhile.
      }
    });
  }

  /** Checks who is calling, then dispatches by path. */
  #route(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const path = headers[":path"];
    const handler = this.#opts.routes?.(String(path ?? ""), String(headers[":method"] ?? ""));
    if (handler) return this.#serveRoute(stream, handler);
    if (headers[":method"] !== "POST" || (path !== PATH_STREAM && path !== PATH_SNAPSHOT)) {
      return refuse(stream, 404, "not found");
    }
    const from = parseId(headers[H_FROM]);
    const cluster = parseId(headers[H_CLUSTER_ID]);
    const to = parseId(headers[H_TO]);
    if (from === undefined || cluster === undefined || to === undefined) {
      return refuse(stream, 400, "missing or malformed member/cluster id headers");
    }
    const selfId = this.#opts.selfId;
    const clusterId = this.#opts.clusterId;
    if (cluster !== clusterId) {
      this.#log.warn("request cluster ID mismatch", {
        "local-member-id": formatId(selfId),
        "local-member-cluster-id": formatId(clusterId),
        "remote-peer-id": formatId(from),
        "remote-peer-cluster-id": formatId(cluster),
      });
      return refuse(stream, 412, ERR_CLUSTER_MISMATCH);
    }
    if (to !== selfId) {
      this.#log.warn("request member ID mismatch", {
        "local-member-id": formatId(selfId),
        "remote-peer-id": formatId(from),
        "requested-member-id": formatId(to),
      });
      return refuse(stream, 412, ERR_MEMBER_MISMATCH);
    }
    if (path === PATH_STREAM) this.#serveStream(stream, from);
    else this.#serveSnapshot(stream, from, headers);
  }

  /** A message stream: answer 200 at once, then deliver every frame as it completes. */
  #serveStream(stream: http2.ServerHttp2Stream, from: bigint): void {
    const log = this.#log;
    const onMessages = this.#opts.onMessages;
    stream.respond({ ":status": 200 });
    log.debug("peer stream opened", { "remote-peer-id": formatId(from) });
    const splitter = new FrameSplitter((body) => {
      const msgs = decodeBatch(body);
      try {
        onMessages(msgs, from);
      } catch (e) {
        log.error("handling received raft messages failed", { error: String(e) });
      }
    }, this.#opts.maxFrameBytes ?? 256 * 1024 * 1024);
    stream.on("data", (chunk: Uint8Array) => {
      try {
        splitter.push(chunk);
      } catch (e) {
        log.warn("bad frame on peer stream; closing it", {
          "remote-peer-id": formatId(from),
          error: String(e),
        });
        stream.close(NGHTTP2_PROTOCOL_ERROR);
      }
    });
    stream.on("end", () => {
      if (!stream.closed) stream.end();
    });
  }

  /** One snapshot: message frame then data, verified before `onSnapshot` sees it. */
  #serveSnapshot(
    stream: http2.ServerHttp2Stream,
    from: bigint,
    headers: http2.IncomingHttpHeaders,
  ): void {
    const log = this.#log.with({ "remote-peer-id": formatId(from) });
    const size = Number(headers[H_SNAPSHOT_SIZE]);
    const crc = Number(headers[H_SNAPSHOT_CRC]);
    const max = this.#opts.maxSnapshotBytes ?? 16 * 1024 ** 3;
    if (!Number.isSafeInteger(size) || size < 0 || size > max || !Number.isSafeInteger(crc)) {
      log.warn("refused snapshot: bad size or checksum header", { size: headers[H_SNAPSHOT_SIZE] });
      return refuse(stream, 400, "bad snapshot size or checksum header");
    }
    let msg: Message | undefined;
    let data: Uint8Array;
    try {
      data = new Uint8Array(size);
    } catch (e) {
      log.warn("refused snapshot: cannot allocate it", { size, error: String(e) });
      return refuse(stream, 413, "snapshot too large");
    }
    let fill = 0;
    let running = 0;
    let failed = false;
    const fail = (why: string) => {
      failed = true;
      log.warn("receiving snapshot failed", { error: why });
      refuse(stream, 400, why);
    };
    const head = new FrameSplitter((body) => {
      msg = decodeMessage(body);
    }, 1024 * 1024);
    stream.on("data", (chunk: Uint8Array) => {
      if (failed) return;
      let rest = chunk;
      if (msg === undefined) {
        // Feed the message frame byte-exactly: the splitter must not swallow data bytes.
        let used = 0;
        try {
          while (msg === undefined && used < rest.length) head.push(rest.subarray(used, ++used));
        } catch (e) {
          return fail(String(e));
        }
        rest = rest.subarray(used);
      }
      if (fill + rest.length > size) return fail("snapshot data longer than announced");
      data.set(rest, fill);
      fill += rest.length;
      running = CRC32C.buf(rest, running);
    });
    stream.on("end", () => {
      if (failed) return;
      if (msg === undefined) return fail("snapshot message missing");
      if (fill !== size) return fail(`snapshot data truncated: ${fill} of ${size} bytes`);
      if (running >>> 0 !== crc) return fail("snapshot checksum mismatch");
      if (msg.type !== MessageType.Snap || msg.snapshot === undefined) {
        return fail("snapshot endpoint got a message that is not a snapshot");
      }
      msg.snapshot.data = data;
      log.info("received database snapshot", {
        "snapshot-index": msg.snapshot.meta.index,
        "snapshot-size": size,
      });
      try {
        this.#opts.onSnapshot(msg);
      } catch (e) {
        log.error("handling received snapshot failed", { error: String(e) });
        return refuse(stream, 500, "member could not take the snapshot");
      }
      if (!stream.closed) stream.respond({ ":status": 204 }, { endStream: true });
    });
  }

  /** Stops listening and drops every open peer connection. */
  async close(): Promise<void> {
    for (const s of this.#sessions) s.destroy();
    this.#sessions.clear();
    await Promise.all(this.#servers.map((server) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
      })
    ));
    this.#servers.length = 0;
    await Promise.all(this.#listeners.map((listener) =>
      new Promise<void>((resolve) => {
        listener.close(() => resolve());
      })
    ));
    this.#listeners.length = 0;
  }
}

/** Answers with an error status and reason, then ends the stream (never throws). */
function refuse(stream: http2.ServerHttp2Stream, status: number, why: string): void {
  try {
    if (!stream.headersSent && !stream.closed) {
      stream.respond({ ":status": status, [H_ERROR]: why }, { endStream: true });
    } else if (!stream.closed) {
      stream.close(NGHTTP2_CANCEL);
    }
  } catch {
    // The stream went away meanwhile: nothing left to tell.
  }
}
