/**
 * Unary gRPC answered straight off the client port's HTTP/2 streams. connect-node's
 * adapter costs a chain of async iterables per call (about 3k calls/s here
 * against about 10k for a bare stream handler), so the hot unary methods
 * take this path; streaming calls, gRPC-Web and the Connect protocol stay
 * on connect-node. Both paths call the very same service implementation,
 * and errors are reported with the same codes and messages.
 *
 * @module
 */
import type { DescMessage, DescMethodUnary, DescService, MessageShape } from "@bufbuild/protobuf";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { ContextKey } from "@connectrpc/connect";
import { type CallContext, PEER_CERTIFICATE } from "./call_context.ts";
import { type Armable, callDeadlines } from "./deadlines.ts";
import {
  isGrpcPost,
  RESPONSE_HEADERS,
  statusFields,
  TRAILERS_OK,
  trailersOnly,
} from "./grpc_common.ts";
import type { H2Stream, StreamListener } from "./h2/stream.ts";
import type { GrpcMethodStats, GrpcServerMetrics } from "../metrics/grpc.ts";
import { allocWithRoom, ROOM_MIN } from "../wire/headroom.ts";
import { gunzipSync } from "node:zlib";

/** A unary method implementation, as the Connect services implement it. */
export type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  req: MessageShape<I>,
  ctx: CallContext,
) => Promise<MessageShape<O>> | MessageShape<O>;

/** The unary methods of a generated service, implemented with one argument each. */
export type UnaryService<S extends DescService> = {
  [K in keyof S["method"] as S["method"][K] extends DescMethodUnary ? K : never]?:
    S["method"][K] extends DescMethodUnary<infer I, infer O> ? UnaryImpl<I, O> : never;
};

interface Route {
  input: DescMessage;
  output: DescMessage;
  impl: (req: unknown, ctx: CallContext) => Promise<unknown> | unknown;
  /** Encodes a response; `toBinary` unless a faster encoder was set. */
  encode: (resp: unknown) => Uint8Array;
  /**
   * Writes a response with its gRPC prefix into {@link ENVELOPE_OUT} and
   * returns its length, or 0 to leave it to `encode`.
   */
  writeEnvelope?: (resp: unknown, out: Uint8Array) => number;
  /** Decodes a request in `buf[start, end)`, or returns undefined to leave it to `fromBinary`. */
  decode?: (buf: Uint8Array, start: number, end: number) => unknown;
  /** The method's metric series, bound once by {@link UnaryRoutes.instrument}. */
  stats?: GrpcMethodStats;
  /** Answers through the call itself instead of `impl`'s promise, when set. */
  answer?: (req: unknown, call: UnaryAnswerCall<unknown>) => void;
}

/**
 * The unary call as its own response sink, for a method implemented
 * without a promise (see {@link UnaryRoutes.setAnswer}): `reply` or `fail`
 * once; a later one is ignored, as is one after the call ended otherwise.
 */
export interface UnaryAnswerCall<O> extends CallContext {
  /** Answers with the response. */
  reply(resp: O): void;
  /** Ends the call with the status of `err`. */
  fail(err: unknown): void;
}

/** Maps `/package.Service/Method` paths to unary implementations. */
export class UnaryRoutes {
  readonly #routes = new Map<string, Route>();

  /** Registers `impl` for `method` (a unary method of a generated service). */
  add<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    impl: UnaryImpl<I, O>,
  ): void {
    const path = `/${method.parent.typeName}/${method.name}`;
    this.#routes.set(path, {
      input: method.input,
      output: method.output,
      impl: impl as (req: unknown, ctx: CallContext) => Promise<unknown> | unknown,
      encode: (resp) => toBinary(method.output, resp as MessageShape<O>),
    });
  }

  /** Replaces `toBinary` for `method`'s responses with an equivalent, faster encoder. */
  setEncoder<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    encode: (resp: MessageShape<O>) => Uint8Array,
  ): void {
    const route = this.#routes.get(`/${method.parent.typeName}/${method.name}`);
    if (!route) throw new Error(`${method.name} is not registered`);
    route.encode = encode as (resp: unknown) => Uint8Array;
  }

  /**
   * Adds a writer of whole gRPC messages for `method`'s responses into a
   * buffer of at least {@link ENVELOPE_ROOM} bytes that the call copies
   * into its frame at once: no array per response. It returns the
   * message's length, or 0 for responses it does not cover (then `encode`).
   */
  setEnvelopeWriter<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    write: (resp: MessageShape<O>, out: Uint8Array) => number,
  ): void {
    const route = this.#routes.get(`/${method.parent.typeName}/${method.name}`);
    if (!route) throw new Error(`${method.name} is not registered`);
    route.writeEnvelope = write as (resp: unknown, out: Uint8Array) => number;
  }

  /**
   * Adds a faster decoder for `method`'s requests: it returns the message
   * `fromBinary` would, or undefined for anything it does not cover (then
   * `fromBinary` decodes, and reports malformed input).
   */
  setDecoder<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    decode: (buf: Uint8Array, start: number, end: number) => MessageShape<I> | undefined,
  ): void {
    const route = this.#routes.get(`/${method.parent.typeName}/${method.name}`);
    if (!route) throw new Error(`${method.name} is not registered`);
    route.decode = decode;
  }

  /**
   * Serves `method` over gRPC with `answer`, which replies through the
   * call (no promise per call: a put waits for its fsync with nothing but
   * the call itself); `impl` still serves it over Connect, gRPC-Web and
   * the gateway. `answer` must behave as `impl` does.
   */
  setAnswer<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    answer: (req: MessageShape<I>, call: UnaryAnswerCall<MessageShape<O>>) => void,
  ): void {
    const route = this.#routes.get(`/${method.parent.typeName}/${method.name}`);
    if (!route) throw new Error(`${method.name} is not registered`);
    route.answer = answer as (req: unknown, call: UnaryAnswerCall<unknown>) => void;
  }

  /** Registers every unary method of `service` that `impl` implements. */
  addService<S extends DescService>(service: S, impl: UnaryService<S>): void {
    const table = impl as Record<string, UnaryImpl<DescMessage, DescMessage> | undefined>;
    for (const method of service.methods) {
      const fn = table[method.localName];
      if (method.methodKind === "unary" && fn) {
        this.add(method as DescMethodUnary<DescMessage, DescMessage>, fn.bind(impl));
      }
    }
  }

  /** The route for a request path, if it is a registered unary method. */
  get(path: string): Route | undefined {
    return this.#routes.get(path);
  }

  /** Binds every route to its series of `metrics` (grpc_server_* and the byte counters). */
  instrument(metrics: GrpcServerMetrics): void {
    for (const [path, route] of this.#routes) {
      const [, service, method] = path.split("/");
      route.stats = metrics.method("unary", service, method);
    }
  }
}

/** Options for {@link serveUnaryGrpc}. */
export interface UnaryGrpcOptions {
  /** Largest accepted request message (bytes, after decompression). */
  readMaxBytes: number;
}

/**
 * Serves `stream` when it is a gRPC (not gRPC-Web) call of a registered
 * unary method and returns true; returns false to let the caller hand the
 * stream to the general handler. `peerCertificate` is the connection's
 * verified client certificate, for the implementation's context.
 */
export function serveUnaryGrpc(
  routes: UnaryRoutes,
  opts: UnaryGrpcOptions,
  stream: H2Stream,
  peerCertificate?: Uint8Array,
): boolean {
  const route = routes.get(stream.path);
  if (!route || !isGrpcPost(stream)) return false;
  const call = new UnaryCall(route, opts.readMaxBytes, stream, peerCertificate);
  stream.listener = call;
  const timeoutMs = parseGrpcTimeout(stream.header("grpc-timeout"));
  if (timeoutMs !== undefined) callDeadlines.arm(timeoutMs, call);
  return true;
}

/** The certificate-less call values, shared by every call without one. */
const NO_CERTIFICATE = certificateValues(undefined);

function certificateValues(cert: Uint8Array | undefined): CallContext["values"] {
  return {
    get: <T>(key: ContextKey<T>): T =>
      (key.id === PEER_CERTIFICATE.id ? cert : key.defaultValue) as T,
  };
}

/**
 * Bytes of request bodies allocated before they arrived, over all calls
 * (see {@link PLEDGE_MAX_BYTES}).
 */
let pledgedBytes = 0;

/**
 * Most bytes of bodies that may be allocated ahead of their arrival, over
 * all calls. A body normally grows with what has arrived (a prefix alone
 * cannot make the server allocate), which copied a 1 MiB put's body four
 * times on its way (80, 160, 320, 640 KiB, then the whole): 110 / 100 →
 * 117 / 123 puts/s of 1 MiB at 10 clients without those copies. Within
 * this budget the announced size is allocated at the first frame; past
 * it, bodies grow as before, so prefixes announcing messages that never
 * come hold at most this much.
 */
export const PLEDGE_MAX_BYTES = 32 * 1024 * 1024;

/** Bytes allocated for request bodies that have not arrived yet (for tests). */
export function bodyBytesPledged(): number {
  return pledgedBytes;
}

/**
 * One unary call: the stream's listener, its deadline's target and the
 * service's call context in one object. Every request that waits for an
 * fsync keeps its call alive across young-generation collections, so each
 * object per call is copied by them; closures and context objects made per
 * call (eight or so) were a measurable share of a put's allocations.
 */
class UnaryCall implements StreamListener, UnaryAnswerCall<unknown>, Armable {
  readonly #route: Route;
  readonly #readMaxBytes: number;
  readonly #stream: H2Stream;
  readonly #startMs: number;
  readonly values: CallContext["values"];
  /** The request body so far: `#body[0, #size)`. */
  #body: Uint8Array = EMPTY;
  #size = 0;
  /** The envelope's whole size as its prefix announced it (0: not known or over the limit). */
  #announced = 0;
  /** Bytes of `#body` allocated ahead of their arrival and still awaited (see {@link PLEDGE_MAX_BYTES}). */
  #pledged = 0;
  #finished = false;
  /** When the call's `grpc-timeout` passes (see {@link callDeadlines}). */
  deadlineAt = 0;
  /** Kept by {@link callDeadlines}: -1 while the call has no pending deadline. */
  deadlineSlot = -1;

  constructor(
    route: Route,
    readMaxBytes: number,
    stream: H2Stream,
    peerCertificate: Uint8Array | undefined,
  ) {
    this.#route = route;
    this.#readMaxBytes = readMaxBytes;
    this.#stream = stream;
    this.values = peerCertificate === undefined
      ? NO_CERTIFICATE
      : certificateValues(peerCertificate);
    const stats = route.stats;
    this.#startMs = stats?.handling ? performance.now() : 0;
    stats?.start(stream.header("client-api-version"));
  }

  /** Request metadata, for the service (this object answers `get`). */
  get requestHeader(): CallContext["requestHeader"] {
    return this;
  }

  /** A request header by lowercase name (CallContext.requestHeader). */
  get(name: string): string | null {
    return this.#stream.header(name) ?? null;
  }

  /** The deadline passed (see {@link callDeadlines}). */
  fire(): void {
    this.fail(new ConnectError("context deadline exceeded", Code.DeadlineExceeded));
  }

  /** @inheritdoc */
  data(chunk: Uint8Array): void {
    this.dataAt(chunk, 0, chunk.length);
  }

  /**
   * Copies body bytes straight from the connection's read buffer into one
   * buffer sized by the envelope's length prefix: each byte is copied once
   * (a 64 KiB put used to be copied per DATA frame, then joined).
   */
  dataAt(b: Uint8Array, start: number, end: number): void {
    if (this.#finished) return;
    const n = end - start;
    const size = this.#size + n;
    this.#stream.consumed(n);
    const max = this.#readMaxBytes + 5;
    if (size > max) {
      this.#size = size;
      this.fail(
        new ConnectError(
          `grpc: received message larger than max (${size - 5} vs. ${this.#readMaxBytes})`,
          Code.ResourceExhausted,
        ),
      );
      this.#body = EMPTY;
      return;
    }
    if (this.#pledged > 0) this.#unpledge(n);
    let body = this.#body;
    if (size > body.length) {
      // Room for the whole message the prefix announces, but never more
      // than a few times what arrived unless the pledge budget allows it:
      // prefixes alone can make us allocate at most PLEDGE_MAX_BYTES (the
      // message bound caps each either way).
      let want = size;
      if (this.#size === 0 && n >= 5) {
        // The usual first frame: it starts with the whole prefix.
        const len = ((b[start + 1] << 24) | (b[start + 2] << 16) | (b[start + 3] << 8) |
          b[start + 4]) >>> 0;
        if (5 + len <= max) this.#announced = 5 + len;
        want = Math.max(size, Math.min(5 + len, max, 4 * size + 16384));
        const ahead = this.#announced - size;
        if (want < this.#announced && pledgedBytes + ahead <= PLEDGE_MAX_BYTES) {
          want = this.#announced;
          this.#pledged = ahead;
          pledgedBytes += ahead;
        }
      } else if (size >= 5) {
        want = Math.min(Math.max(size, 2 * body.length), max);
        // Grown to the size the prefix announced: exactly that, with room.
        if (this.#announced >= size && want >= this.#announced) want = this.#announced;
      }
      // A large message received whole gets free bytes around it, so a
      // put's Raft entry is written around it in place (src/wire/headroom.ts).
      const bigger = want === this.#announced && want >= ROOM_MIN
        ? allocWithRoom(want)
        : new Uint8Array(want);
      if (this.#size > 0) bigger.set(body.subarray(0, this.#size));
      this.#body = body = bigger;
    }
    if (n <= SMALL_COPY) {
      // A small body (a usual put) byte by byte: a view of the read buffer
      // just to copy from was one more object per request.
      for (let i = 0, at = this.#size; i < n; i++) body[at + i] = b[start + i];
    } else body.set(n === b.length ? b : b.subarray(start, end), this.#size);
    this.#size = size;
  }

  /** Releases `n` bytes of this call's pledge (all of it by default). */
  #unpledge(n = this.#pledged): void {
    const k = Math.min(n, this.#pledged);
    this.#pledged -= k;
    pledgedBytes -= k;
  }

  /** @inheritdoc */
  end(): void {
    if (this.#finished) return;
    if (this.#pledged > 0) this.#unpledge();
    const route = this.#route;
    route.stats?.receivedMessage(this.#size - 5);
    let input: unknown;
    try {
      const body = this.#body;
      input = decodeEnvelope(
        route.input,
        body.length === this.#size ? body : body.subarray(0, this.#size),
        this.#stream.header("grpc-encoding"),
        this.#readMaxBytes,
        route.decode,
      );
    } catch (err) {
      this.fail(err);
      return;
    }
    this.#body = EMPTY;
    let out: Promise<unknown> | unknown;
    try {
      if (route.answer !== undefined) return route.answer(input, this);
      out = route.impl(input, this);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (out instanceof Promise) out.then((resp) => this.reply(resp), (err) => this.fail(err));
    else this.reply(out);
  }

  /** @inheritdoc */
  abort(): void {
    if (this.#pledged > 0) this.#unpledge();
    if (!this.#finished) this.#route.stats?.finished(Code.Canceled, this.#startMs);
    this.#finished = true;
    callDeadlines.disarm(this);
  }

  /** Answers with the service's response. */
  reply(resp: unknown): void {
    if (this.#finished) return;
    let bytes: Uint8Array = EMPTY;
    let n = 0;
    try {
      n = this.#route.writeEnvelope?.(resp, ENVELOPE_OUT) ?? 0;
      if (n === 0) bytes = this.#route.encode(resp);
    } catch (err) {
      this.fail(err);
      return;
    }
    // Copied into the response's frame before anything else can write there.
    if (n > 0) return this.#finish(ENVELOPE_OUT, undefined, n);
    const len = bytes.length;
    const body = new Uint8Array(5 + len);
    // The envelope's big-endian length, without a DataView per call.
    body[1] = len >>> 24;
    body[2] = (len >>> 16) & 0xff;
    body[3] = (len >>> 8) & 0xff;
    body[4] = len & 0xff;
    body.set(bytes, 5);
    this.#finish(body);
  }

  /** Ends the call with the status of `err` (trailers-only). */
  fail(err: unknown): void {
    this.#finish(undefined, err);
  }

  /**
   * Ends the call: with the response body (`body[0, size)`, copied before
   * this returns), or with the status of `err`.
   */
  #finish(body: Uint8Array | undefined, err?: unknown, size = body?.length ?? 0): void {
    if (this.#pledged > 0) this.#unpledge();
    if (this.#finished) return;
    this.#finished = true;
    callDeadlines.disarm(this);
    const stream = this.#stream;
    const stats = this.#route.stats;
    if (stats) {
      if (body) stats.sentMessages(1, size - 5);
      stats.finished(
        body ? 0 : stream.aborted ? Code.Canceled : ConnectError.from(err).code,
        this.#startMs,
      );
    }
    if (stream.aborted) return;
    if (body) {
      stream.respond(RESPONSE_HEADERS);
      // The shared buffer is copied; a body of its own is handed over as is.
      if (body === ENVELOPE_OUT) stream.writeNowAt(body, 0, size);
      else stream.writeNow(body);
      stream.sendTrailers(TRAILERS_OK);
    } else {
      stream.respond(trailersOnly(statusFields(err)), true);
    }
  }
}

const EMPTY = new Uint8Array(0);
/** Room an envelope writer (UnaryRoutes.setEnvelopeWriter) may count on. */
export const ENVELOPE_ROOM = 1024;
/** Where envelope writers write a response, copied out at once by the call it answers. */
const ENVELOPE_OUT = new Uint8Array(ENVELOPE_ROOM);
/** Body pieces up to this size are copied in a loop rather than through a view. */
const SMALL_COPY = 1024;

/**
 * Decodes one length-prefixed message, as gRPC frames it, with identity or
 * gzip encoding; `fast`, when given, decodes first (undefined: `fromBinary`),
 * reading the payload in place.
 */
export function decodeEnvelope(
  schema: DescMessage,
  body: Uint8Array,
  encoding: string | undefined,
  readMaxBytes: number,
  fast?: (buf: Uint8Array, start: number, end: number) => unknown,
): unknown {
  if (body.length < 5) {
    throw new ConnectError("protocol error: missing envelope", Code.Internal);
  }
  const flags = body[0];
  const len = ((body[1] << 24) | (body[2] << 16) | (body[3] << 8) | body[4]) >>> 0;
  if (body.length !== 5 + len) {
    throw new ConnectError("protocol error: incomplete or extra envelope data", Code.Internal);
  }
  if (!(flags & 1) && fast !== undefined) {
    const msg = fast(body, 5, body.length);
    if (msg !== undefined) return msg;
  }
  let payload = body.subarray(5);
  if (flags & 1) {
    if (encoding !== "gzip") {
      throw new ConnectError(
        `grpc: Decompressor is not installed for grpc-encoding "${encoding ?? ""}"`,
        Code.Unimplemented,
      );
    }
    try {
      payload = gunzipSync(payload, { maxOutputLength: readMaxBytes + 1 });
    } catch {
      payload = new Uint8Array(readMaxBytes + 1);
    }
    if (payload.length > readMaxBytes) {
      throw new ConnectError(
        `grpc: received message after decompression larger than max (${payload.length} vs. ${readMaxBytes})`,
        Code.ResourceExhausted,
      );
    }
  }
  try {
    return (flags & 1 ? fast?.(payload, 0, payload.length) : undefined) ??
      fromBinary(schema, payload);
  } catch (err) {
    throw new ConnectError(
      `grpc: failed to unmarshal the received message: ${String(err)}`,
      Code.Internal,
    );
  }
}

/** Milliseconds per `grpc-timeout` unit, by the unit's character code. */
function timeoutUnitMs(unit: number): number | undefined {
  switch (unit) {
    case 0x48: // H
      return 3_600_000;
    case 0x4d: // M
      return 60_000;
    case 0x53: // S
      return 1000;
    case 0x6d: // m
      return 1;
    case 0x75: // u
      return 0.001;
    case 0x6e: // n
      return 0.000001;
    default:
      return undefined;
  }
}

/**
 * Parses a `grpc-timeout` header ("5S", "100m", ...: 1 to 8 digits and a
 * unit) to milliseconds. Scanned by hand: the Go client sends one with
 * nearly every call, and a regular expression's match array and strings
 * were allocations on every put.
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (typeof value !== "string") return undefined;
  const digits = value.length - 1;
  if (digits < 1 || digits > 8) return undefined;
  const unit = timeoutUnitMs(value.charCodeAt(digits));
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < digits; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * unit;
}
