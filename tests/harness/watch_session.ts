/**
 * Watch stream clients for tests that need to see how a stream ends or to
 * stop reading one on purpose.
 *
 * - `WatchSession` drives one Watch stream through connect-node's gRPC
 *   transport, with optional request metadata (clientv3's WithRequireLeader
 *   sends `hasleader: true`), and records every response and how the
 *   stream ended (gRPC status code and message).
 * - `RawWatchStream` frames WatchRequests by hand on its own `node:http2`
 *   connection, so a test can pause reading: HTTP/2 flow control then
 *   stops the server's writes once the stream's window is used up, which
 *   is what a slow or stuck watcher looks like to the server.
 */

import http2 from "node:http2";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  Watch,
  type WatchCreateRequest,
  type WatchRequest,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { frame, grpcHeaders } from "./grpc.ts";
import { sleep } from "./member.ts";

/** A WatchRequest as a plain init object. */
export type WatchInit = MessageInitShape<typeof WatchRequestSchema>;

/** How a watch stream ended: a gRPC status (0 for a clean end) and its message. */
export interface WatchEnd {
  /** gRPC status code; 0 when the server ended the stream without error. */
  code: number;
  /** grpc-message (empty for a clean end). */
  message: string;
}

/** A create request over [key, rangeEnd) ("" range end: the single key). */
export function createReq(
  key: string,
  rangeEnd = "",
  more: Partial<Omit<WatchCreateRequest, "key" | "rangeEnd" | "$typeName" | "$unknown">> = {},
): WatchInit {
  const enc = new TextEncoder();
  return {
    requestUnion: {
      case: "createRequest",
      value: { key: enc.encode(key), rangeEnd: enc.encode(rangeEnd), ...more },
    },
  };
}

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}

/** One Watch stream over connect-node's gRPC transport; see the module doc. */
export class WatchSession {
  /** Every response, in arrival order. */
  readonly responses: WatchResponse[] = [];
  /** Set once the stream has ended. */
  end: WatchEnd | undefined;
  /** Resolves with how the stream ended. */
  readonly ended: Promise<WatchEnd>;
  readonly #queue: WatchRequest[] = [];
  readonly #abort = new AbortController();
  #wake: (() => void) | undefined;
  #done = false;

  /** Opens the stream on `url`, sending `headers` as request metadata. */
  constructor(url: string, headers: Record<string, string> = {}) {
    const client = createClient(Watch, createGrpcTransport({ baseUrl: url }));
    this.ended = (async (): Promise<WatchEnd> => {
      try {
        for await (
          const r of client.watch(this.#requests(), { signal: this.#abort.signal, headers })
        ) {
          this.responses.push(r);
        }
        return { code: 0, message: "" };
      } catch (err) {
        const ce = ConnectError.from(err);
        return { code: ce.code, message: ce.rawMessage };
      }
    })().then((end) => (this.end = end));
  }

  async *#requests(): AsyncGenerator<WatchRequest> {
    while (!this.#done) {
      const next = this.#queue.shift();
      if (next) yield next;
      else await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** Queues one request on the stream. */
  send(req: WatchInit): void {
    this.#queue.push(create(WatchRequestSchema, req));
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Every event received so far as `TYPE key=value@rev`. */
  events(): string[] {
    const dec = new TextDecoder();
    return this.responses.flatMap((r) =>
      r.events.map((e) =>
        `${e.type === 1 ? "DELETE" : "PUT"} ${dec.decode(e.kv!.key)}=${dec.decode(e.kv!.value)}` +
        `@${e.kv!.modRevision}`
      )
    );
  }

  /** Waits (bounded) until `n` created responses arrived. */
  waitCreated(n: number, timeoutMs = 10_000): Promise<boolean> {
    return until(() => this.responses.filter((r) => r.created).length >= n, timeoutMs);
  }

  /** Aborts the stream from the client side and waits for it to settle. */
  async close(): Promise<void> {
    this.#done = true;
    this.#wake?.();
    this.#abort.abort();
    await this.ended;
  }
}

/** A Watch stream framed by hand on its own HTTP/2 connection; see the module doc. */
export class RawWatchStream {
  /** Every response decoded so far (only while reading). */
  readonly responses: WatchResponse[] = [];
  readonly #session: http2.ClientHttp2Session;
  readonly #stream: http2.ClientHttp2Stream;
  #pending: Uint8Array = new Uint8Array(0);
  #reading = false;

  /** Opens the stream on `url`; it reads until {@link pause} is called. */
  constructor(url: string) {
    this.#session = http2.connect(url);
    this.#session.on("error", () => {});
    this.#stream = this.#session.request(grpcHeaders("/etcdserverpb.Watch/Watch"), {
      endStream: false,
    });
    this.#stream.on("error", () => {});
    this.#stream.on("data", (chunk: Uint8Array) => this.#take(chunk));
    this.#reading = true;
  }

  /** Writes requests (one HTTP/2 write for all of them). */
  send(reqs: WatchInit[]): void {
    const frames = reqs.map((r) =>
      frame(toBinary(WatchRequestSchema, create(WatchRequestSchema, r)))
    );
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      all.set(f, at);
      at += f.length;
    }
    this.#stream.write(all);
  }

  /** Stops reading: node stops returning flow-control credit once its small buffer is full. */
  pause(): void {
    this.#reading = false;
    this.#stream.pause();
  }

  /** Reads again (buffered data first). */
  resume(): void {
    this.#reading = true;
    this.#stream.resume();
  }

  /** Whether the stream is being read. */
  get reading(): boolean {
    return this.#reading;
  }

  #take(chunk: Uint8Array): void {
    const buf = new Uint8Array(this.#pending.length + chunk.length);
    buf.set(this.#pending);
    buf.set(chunk, this.#pending.length);
    let at = 0;
    while (buf.length - at >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset + at + 1, 4).getUint32(0);
      if (buf.length - at - 5 < len) break;
      this.responses.push(fromBinary(WatchResponseSchema, buf.subarray(at + 5, at + 5 + len)));
      at += 5 + len;
    }
    this.#pending = buf.slice(at);
  }

  /** Tears the connection down. */
  destroy(): void {
    this.#stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#session.destroy();
  }
}
