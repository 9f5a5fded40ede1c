/**
 * Bidirectional-streaming gRPC answered straight off the client port's
 * HTTP/2 streams, for the streams that carry the most messages (Watch).
 * Through connect's handlers every message costs a round of async
 * iterators and one stream write; here request messages are decoded as
 * their DATA arrives and a whole batch of responses leaves in one write.
 * gRPC-Web and Connect clients, and gRPC clients of other streaming
 * methods, still go through connect; both paths drive the same session
 * implementation.
 *
 * @module
 */
import type { DescMessage, DescMethodBiDiStreaming, MessageShape } from "@bufbuild/protobuf";
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  isGrpcPost,
  RESPONSE_HEADERS,
  statusFields,
  TRAILERS_OK,
  trailersOnly,
} from "./grpc_common.ts";
import { decodeEnvelope, parseGrpcTimeout } from "./grpc_unary.ts";
import { encodeHeaders } from "./h2/hpack.ts";
import type { H2Stream } from "./h2/stream.ts";
import type { GrpcMethodStats, GrpcServerMetrics } from "../metrics/grpc.ts";

/** Where a session sends its responses. */
export interface BidiSender<O extends DescMessage> {
  /** Sends `messages` in one write; resolves once the peer's window took them. */
  send(messages: MessageShape<O>[]): Promise<void>;
  /** Sends messages already encoded and length-prefixed as gRPC frames them. */
  sendFramed(framed: Uint8Array): Promise<void>;
  /**
   * Resolves once everything sent so far was handed to the socket (or
   * dropped with the call): a buffer given to {@link sendFramed}, whose
   * promise has settled, may then be written again.
   */
  written(): Promise<void>;
  /** Ends the call: OK without `error`, else its gRPC status. */
  finish(error?: unknown): void;
}

/** One call's request side, as the implementation sees it. */
export interface BidiSession<I extends DescMessage> {
  /** A request message arrived. */
  message(req: MessageShape<I>): void;
  /** The client half-closed its side. */
  end(): void;
  /** The call is gone (reset, connection lost, deadline): stop and release everything. */
  abort(): void;
}

/**
 * Opens a session for one call; `header` reads request metadata (lowercase
 * names), `peerCertificate` is the connection's verified client certificate.
 */
export type BidiOpen<I extends DescMessage, O extends DescMessage> = (
  header: (name: string) => string | undefined,
  sender: BidiSender<O>,
  peerCertificate?: Uint8Array,
) => BidiSession<I>;

interface Route {
  input: DescMessage;
  output: DescMessage;
  open: BidiOpen<DescMessage, DescMessage>;
  /** The method's metric series, bound once by {@link BidiRoutes.instrument}. */
  stats?: GrpcMethodStats;
}

/** Maps `/package.Service/Method` paths to bidi-streaming implementations. */
export class BidiRoutes {
  readonly #routes = new Map<string, Route>();
  /** Calls in progress: how each one is ended when the member stops. */
  readonly #open = new Set<(error: unknown) => void>();

  /** Registers `open` for `method`. */
  add<I extends DescMessage, O extends DescMessage>(
    method: DescMethodBiDiStreaming<I, O>,
    open: BidiOpen<I, O>,
  ): void {
    this.#routes.set(`/${method.parent.typeName}/${method.name}`, {
      input: method.input,
      output: method.output,
      open: open as unknown as BidiOpen<DescMessage, DescMessage>,
    });
  }

  /** The route for a request path, if registered. */
  get(path: string): Route | undefined {
    return this.#routes.get(path);
  }

  /** Keeps `end` until the returned function is called (the call finished). */
  track(end: (error: unknown) => void): () => void {
    this.#open.add(end);
    return () => this.#open.delete(end);
  }

  /** Ends every call in progress with `error`'s status (the member is stopping). */
  finishAll(error: unknown): number {
    const ends = [...this.#open];
    this.#open.clear();
    for (const end of ends) end(error);
    return ends.length;
  }

  /** Binds every route to its series of `metrics`. */
  instrument(metrics: GrpcServerMetrics): void {
    for (const [path, route] of this.#routes) {
      const [, service, method] = path.split("/");
      route.stats = metrics.method("bidi_stream", service, method);
    }
  }
}

/**
 * Serves `stream` when it is a gRPC call of a registered bidi method and
 * returns true; false lets the caller hand it to the general handler.
 */
export function serveBidiGrpc(
  routes: BidiRoutes,
  opts: { readMaxBytes: number },
  stream: H2Stream,
  peerCertificate?: Uint8Array,
): boolean {
  const route = routes.get(stream.path);
  if (!route || !isGrpcPost(stream)) return false;

  const encoding = stream.header("grpc-encoding");
  const stats = route.stats;
  const startMs = stats?.handling ? performance.now() : 0;
  stats?.start(stream.header("client-api-version"));
  let finished = false;
  let untrack = () => {};
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sender: BidiSender<DescMessage> = {
    sendFramed(framed) {
      if (finished || stream.aborted || framed.length === 0) return Promise.resolve();
      if (stats) countFramed(stats, framed);
      if (!stream.headersSent) stream.respond(RESPONSE_HEADERS);
      return stream.write(framed);
    },
    // Asked of the connection even once finished: frames queued before
    // the end may still wait for the socket.
    written: () => stream.written(),
    send(messages) {
      if (finished || stream.aborted || messages.length === 0) return Promise.resolve();
      const parts = messages.map((m) => toBinary(route.output, m));
      let size = 0;
      for (const p of parts) size += 5 + p.length;
      const out = new Uint8Array(size);
      const view = new DataView(out.buffer);
      let off = 0;
      for (const p of parts) {
        view.setUint32(off + 1, p.length);
        out.set(p, off + 5);
        off += 5 + p.length;
      }
      return sender.sendFramed(out);
    },
    finish(error) {
      if (finished) return;
      finished = true;
      untrack();
      stats?.finished(error === undefined ? 0 : ConnectError.from(error).code, startMs);
      if (timer !== undefined) clearTimeout(timer);
      if (stream.aborted) return;
      if (error === undefined) {
        if (!stream.headersSent) stream.respond(RESPONSE_HEADERS);
        stream.sendTrailers(TRAILERS_OK);
        return;
      }
      const fields = statusFields(error);
      if (stream.headersSent) stream.sendTrailers(encodeHeaders(fields));
      else stream.respond(trailersOnly(fields), true);
    },
  };
  let session: BidiSession<DescMessage>;
  try {
    session = route.open((name) => stream.header(name), sender, peerCertificate);
  } catch (err) {
    sender.finish(err);
    return true;
  }
  untrack = routes.track((error) => {
    session.abort();
    sender.finish(error);
  });
  const timeoutMs = parseGrpcTimeout(stream.header("grpc-timeout"));
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => {
      session.abort();
      sender.finish(new ConnectError("context deadline exceeded", Code.DeadlineExceeded));
    }, timeoutMs);
  }

  // Request messages: 5-byte envelopes that may span DATA frames.
  let pending: Uint8Array | undefined;
  stream.listener = {
    data(chunk) {
      stream.consumed(chunk.length);
      if (finished) return;
      let buf = chunk;
      if (pending) {
        buf = new Uint8Array(pending.length + chunk.length);
        buf.set(pending);
        buf.set(chunk, pending.length);
        pending = undefined;
      }
      let off = 0;
      while (buf.length - off >= 5 && !finished) {
        const len = new DataView(buf.buffer, buf.byteOffset + off + 1, 4).getUint32(0);
        if (len > opts.readMaxBytes) {
          session.abort();
          sender.finish(
            new ConnectError(
              `grpc: received message larger than max (${len} vs. ${opts.readMaxBytes})`,
              Code.ResourceExhausted,
            ),
          );
          return;
        }
        if (buf.length - off < 5 + len) break;
        let msg: MessageShape<DescMessage>;
        try {
          msg = decodeEnvelope(
            route.input,
            buf.subarray(off, off + 5 + len),
            encoding,
            opts.readMaxBytes,
          ) as MessageShape<DescMessage>;
        } catch (err) {
          session.abort();
          sender.finish(err);
          return;
        }
        off += 5 + len;
        stats?.receivedMessage(len);
        session.message(msg);
      }
      if (off < buf.length) pending = buf.slice(off);
    },
    end() {
      if (finished) return;
      if (pending) {
        session.abort();
        sender.finish(new ConnectError("protocol error: incomplete envelope", Code.Internal));
        return;
      }
      session.end();
    },
    abort() {
      if (!finished) stats?.finished(Code.Canceled, startMs);
      finished = true;
      untrack();
      if (timer !== undefined) clearTimeout(timer);
      session.abort();
    },
  };
  return true;
}

/** Counts the messages of a batch of length-prefixed frames and their bytes. */
function countFramed(stats: GrpcMethodStats, framed: Uint8Array): void {
  let count = 0;
  let off = 0;
  while (off + 5 <= framed.length) {
    const len = ((framed[off + 1] << 24) >>> 0) + (framed[off + 2] << 16) +
      (framed[off + 3] << 8) + framed[off + 4];
    count++;
    off += 5 + len;
  }
  stats.sentMessages(count, framed.length - 5 * count);
}
