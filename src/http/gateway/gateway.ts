/**
 * etcd's JSON gateway (`/v3/...`, and `/v3beta/...` as etcd 3.4 and 3.5
 * still rewrite it) served from the very service implementation objects
 * the gRPC paths use: each route decodes the JSON body into the request
 * message, calls the implementation with a Connect `HandlerContext` that
 * carries what grpc-gateway would forward as gRPC metadata (the
 * `Authorization` header and `Grpc-Metadata-*` headers), and encodes the
 * answer as etcd 3.5's gateway does (`json.ts`, `errors.ts`):
 *
 * - unary methods answer one JSON object;
 * - streaming methods (Watch, LeaseKeepAlive, Snapshot, Observe) answer
 *   newline-delimited `{"result":...}` objects; a bidi method takes every
 *   JSON value of the body as one request (curl's single object makes a
 *   keep-alive one-shot, and a watch stays open after its body ends, as
 *   etcd keeps watchers of a half-closed stream);
 * - `Grpc-Timeout` bounds the call, `Grpc-Metadata-hasleader: true`
 *   refuses it when the member has no leader, as etcd's interceptors do.
 *
 * No RPC is implemented here: this is a codec and a dispatcher.
 *
 * @module
 */
import {
  create,
  type DescMessage,
  type DescMethod,
  type MessageShape,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Hono } from "hono";
import { EtcdErrors } from "../../errors.ts";
import { parseGrpcTimeout } from "../grpc_unary.ts";
import { BodyValues } from "./body.ts";
import { GatewayContext } from "./context.ts";
import { streamErrorBody, unaryErrorBody } from "./errors.ts";
import { decodeGatewayJson, encodeGatewayJson, goJsonString } from "./json.ts";
import { ValueTooLargeError } from "./json_values.ts";
import { GATEWAY_PATHS } from "./paths.ts";
import { bytesResponse, type FetchEnv, fetchEnv } from "../fetch_env.ts";
import { GatewayServices } from "./services.ts";
import { gatewayOf, isGatewayPath, setGatewayCore } from "./mount.ts";

/** gRPC metadata key and value of "require a leader" (etcd's rpctypes). */
const REQUIRE_LEADER_KEY = "hasleader";
const HAS_LEADER = "true";

/** grpc-gateway's prefix for request headers forwarded as metadata. */
const METADATA_PREFIX = "grpc-metadata-";

/**
 * How much JSON a request may carry, as a multiple of the largest request
 * message: base64 and field names make JSON larger than the binary form.
 */
const JSON_BYTES_PER_MESSAGE_BYTE = 4;

/**
 * The reason a finished call's context is aborted with: one shared value,
 * since `abort()` without a reason builds a DOMException every call.
 */
const CALL_ENDED = new ConnectError("call ended", Code.Canceled);

export { gatewayOf, GatewayServices, isGatewayPath };

/** Options of {@link createGatewayHandler}. */
export interface GatewayOptions {
  /** Largest request message in bytes (etcd: --max-request-bytes plus gRPC's overhead). */
  readMaxBytes: number;
}

/**
 * A fetch-style handler for every `/v3/` and `/v3beta/` request; `env`
 * may carry the abort signal and the whole body (see `../fetch_env.ts`).
 */
export type GatewayHandler = (req: Request, env?: FetchEnv) => Promise<Response>;

/** A gateway request as any server presents it. */
export interface GatewayRequest {
  method: string;
  /** The request URL's path (no query). */
  path: string;
  /** A header's value (name in lower case), undefined when absent. */
  header(name: string): string | undefined;
  /** Every header field, names in lower case. */
  forEachHeader(fn: (name: string, value: string) => void): void;
  /** The whole body when it is in memory, else its source: a stream and a way to read all of it. */
  body: Uint8Array | { stream: AsyncIterable<Uint8Array> | null; whole(): Promise<Uint8Array> };
  /**
   * Runs `fn` once when the client goes away (at once if it has); the
   * returned function unregisters it.
   */
  whenGone(fn: () => void): () => void;
}

/** A gateway answer: bytes, or newline-delimited results as they come. */
export interface GatewayAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | ReadableStream<Uint8Array>;
}

/** Serves one gateway request. */
export type GatewayCore = (req: GatewayRequest) => Promise<GatewayAnswer>;

/** Serves the gateway under `/v3/` and `/v3beta/` of `app`. */
export function registerGateway(
  app: Hono,
  services: GatewayServices,
  opts: GatewayOptions,
): void {
  const core = createGatewayCore(services, opts);
  const handler = fetchGateway(core);
  setGatewayCore(app, core);
  app.all("/v3/*", (c) => handler(c.req.raw, fetchEnv(c.env)));
  app.all("/v3beta/*", (c) => handler(c.req.raw, fetchEnv(c.env)));
}

/** Builds the fetch-style handler that routes gateway requests to `services`. */
export function createGatewayHandler(
  services: GatewayServices,
  opts: GatewayOptions,
): GatewayHandler {
  return fetchGateway(createGatewayCore(services, opts));
}

/** The fetch-style handler over a gateway core. */
export function fetchGateway(core: GatewayCore): GatewayHandler {
  return async (req, env) => {
    const answer = await core({
      method: req.method,
      path: pathOf(req.url),
      header: (name) => req.headers.get(name) ?? undefined,
      forEachHeader: (fn) => req.headers.forEach((value, name) => fn(name, value)),
      body: env?.body ?? { stream: req.body, whole: () => req.bytes() },
      whenGone: signalGone(env?.signal ?? req.signal),
    });
    if (answer.body instanceof Uint8Array) {
      return bytesResponse(answer.body as Uint8Array<ArrayBuffer>, answer.status, answer.headers);
    }
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  };
}

/** Builds the gateway's core over `services`. */
export function createGatewayCore(
  services: GatewayServices,
  opts: GatewayOptions,
): GatewayCore {
  const byPath = new Map<string, { service: string; method: string }>();
  for (const p of GATEWAY_PATHS) byPath.set(`/v3/${p.path}`, p);
  const jsonLimit = opts.readMaxBytes * JSON_BYTES_PER_MESSAGE_BYTE;

  return async (req) => {
    let path = decodePath(req.path);
    // etcd's access controller rewrites the 3.4 prefix before routing.
    if (path.startsWith("/v3beta/")) path = "/v3/" + path.slice("/v3beta/".length);
    const route = byPath.get(path);
    if (!route) return plainError(404, "Not Found");
    if (req.method !== "POST") return plainError(405, "Method Not Allowed");
    const registered = services.get(route.service);
    const method = registered?.service.methods.find((m) => m.name === route.method);
    const fn = method && registered!.impl[method.localName];
    if (!registered || !method || typeof fn !== "function") {
      // What the gRPC server answers the gateway for a service or method it lacks.
      const err = registered
        ? new ConnectError(
          `unknown method ${route.method} for service ${route.service}`,
          Code.Unimplemented,
        )
        : new ConnectError(`unknown service ${route.service}`, Code.Unimplemented);
      return unaryError(err);
    }
    // A unary call's body of a stated, allowed length is read whole: one
    // read instead of a stream reader per request (the hot JSON path).
    let body: AsyncIterable<Uint8Array> | Uint8Array | null;
    if (req.body instanceof Uint8Array) body = req.body;
    else {
      const length = Number(req.header("content-length") ?? NaN);
      const whole = method.methodKind !== "bidi_streaming" &&
        method.methodKind !== "client_streaming" && length >= 0 && length <= jsonLimit;
      body = req.body.stream;
      if (whole && body !== null) {
        try {
          body = await req.body.whole();
        } catch {
          return plainError(400, "Bad Request");
        }
      }
    }
    const call: Call = {
      method,
      impl: (input, ctx) => fn.call(registered.impl, input, ctx),
      body: new BodyValues(body, jsonLimit),
      readMaxBytes: opts.readMaxBytes,
      requireLeader: req.header(METADATA_PREFIX + REQUIRE_LEADER_KEY) === HAS_LEADER,
      hasLeader: services.hasLeader,
    };
    const ctx = new GatewayContext(registered.service, method, req.path, metadataOf(req));
    const deadline = armDeadline(ctx, req.header("grpc-timeout"));
    const forget = req.whenGone(() =>
      ctx.abort(new ConnectError("context canceled", Code.Canceled))
    );
    const done = () => {
      clearTimeout(deadline);
      forget();
      call.body.cancel();
      // Like connect's handlers: the context ends with the call.
      ctx.abort(CALL_ENDED);
    };
    if (method.methodKind === "unary") {
      try {
        return await serveUnary(call, ctx);
      } finally {
        done();
      }
    }
    return await serveStream(call, ctx, done);
  };
}

/** One gateway call in progress. */
interface Call {
  method: DescMethod;
  impl: (input: unknown, ctx: Ctx) => unknown;
  body: BodyValues;
  readMaxBytes: number;
  requireLeader: boolean;
  hasLeader: () => boolean;
}

type Ctx = GatewayContext;

async function serveUnary(call: Call, ctx: Ctx): Promise<GatewayAnswer> {
  try {
    const input = await readSingle(call);
    checkLeader(call);
    const out = await raceAbort(Promise.resolve(call.impl(input, ctx)), ctx.signal);
    return jsonResponse(
      200,
      encodeGatewayJson(call.method.output, asMessage(call.method.output, out)),
    );
  } catch (err) {
    return unaryError(err);
  }
}

async function serveStream(call: Call, ctx: Ctx, done: () => void): Promise<GatewayAnswer> {
  let input: unknown;
  let sentRequest = true;
  try {
    if (call.method.methodKind === "server_streaming") input = await readSingle(call);
    else {
      // The first request is read before the call starts: a bad one fails
      // the whole request as grpc-gateway fails it (a plain decode error).
      const first = await readStreamed(call, true);
      sentRequest = first !== undefined;
      input = requestsAfter(call, first);
    }
  } catch (err) {
    done();
    return unaryError(err);
  }
  // From here on the call has started: failures are reported in the
  // stream format (etcd's interceptors and handlers fail the stream).
  let it: AsyncIterator<unknown> | undefined;
  let first: IteratorResult<unknown>;
  try {
    checkLeader(call);
    it = (call.impl(input, ctx) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
    first = await raceAbort(it.next(), ctx.signal);
  } catch (err) {
    done();
    it?.return?.().catch(() => {});
    return streamError(err);
  }
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (sentRequest) headers["grpc-metadata-content-type"] = "application/grpc";
  if (first.done) {
    done();
    return { status: 200, headers, body: new Uint8Array(0) };
  }
  const encoder = new TextEncoder();
  const result = (msg: unknown) =>
    encoder.encode(
      goJsonString({
        result: toJson(call.method.output, asMessage(call.method.output, msg), {
          useProtoFieldName: true,
        }),
      }) + "\n",
    );
  let pending: Uint8Array | undefined = result(first.value);
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
    it.return?.().catch(() => {});
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      try {
        const next = await raceAbort(it.next(), ctx.signal);
        if (next.done) {
          finish();
          controller.close();
          return;
        }
        controller.enqueue(result(next.value));
      } catch (err) {
        if (!ctx.signal.aborted || isDeadline(ctx.signal.reason)) {
          controller.enqueue(encoder.encode(streamErrorBody(err).body));
        }
        finish();
        controller.close();
      }
    },
    cancel() {
      finish();
    },
  });
  return { status: 200, headers, body };
}

function checkLeader(call: Call): void {
  if (call.requireLeader && !call.hasLeader()) throw EtcdErrors.noLeader();
}

/** The request message of a unary or server-streaming call: the body's first JSON value. */
async function readSingle(call: Call): Promise<unknown> {
  let text: string | undefined;
  try {
    text = await call.body.next();
  } catch (err) {
    throw tooLarge(err) ?? err;
  }
  // An empty body is an empty request (grpc-gateway ignores io.EOF).
  const input = text === undefined
    ? create(call.method.input)
    : decodeGatewayJson(call.method.input, text);
  checkSize(call, input, text);
  return input;
}

/**
 * The next request of a client stream, or undefined at the end of the
 * body. For the first request a failure is thrown (as grpc-gateway, a
 * plain error: Unknown); later ones end the requests quietly, as
 * grpc-gateway's sending goroutine stops and half-closes the stream.
 */
async function readStreamed(call: Call, first: boolean): Promise<unknown | undefined> {
  try {
    const text = await call.body.next();
    if (text === undefined) return undefined;
    const input = decodeGatewayJson(call.method.input, text);
    checkSize(call, input, text);
    return input;
  } catch (err) {
    if (!first) return undefined;
    const large = tooLarge(err);
    if (large) throw large;
    throw new Error(err instanceof ConnectError ? err.rawMessage : String(err));
  }
}

async function* requestsAfter(call: Call, first: unknown | undefined): AsyncGenerator<unknown> {
  if (first === undefined) return;
  yield first;
  for (;;) {
    const next = await readStreamed(call, false);
    if (next === undefined) return;
    yield next;
  }
}

/** The gRPC server's receive limit, applied to the message the JSON decodes to. */
function checkSize(call: Call, input: unknown, text: string | undefined): void {
  // The binary form is never larger than its JSON text: only long texts need measuring.
  if (text === undefined || text.length <= call.readMaxBytes) return;
  const size = toBinary(call.method.input, input as MessageShape<DescMessage>).length;
  if (size > call.readMaxBytes) {
    throw new ConnectError(
      `grpc: received message larger than max (${size} vs. ${call.readMaxBytes})`,
      Code.ResourceExhausted,
    );
  }
}

function tooLarge(err: unknown): ConnectError | undefined {
  if (!(err instanceof ValueTooLargeError)) return undefined;
  return new ConnectError(
    `grpc: received message larger than max (${err.size} vs. ${err.limit})`,
    Code.ResourceExhausted,
  );
}

/** What grpc-gateway forwards as gRPC metadata: `Authorization` and `Grpc-Metadata-*` headers. */
function metadataOf(req: GatewayRequest): Headers {
  // The implementations see a JSON call (the Watch service keeps events as messages for it).
  const md = new Headers({ "content-type": "application/json" });
  req.forEachHeader((name, value) => {
    if (name === "authorization") md.append(name, value);
    else if (name.startsWith(METADATA_PREFIX) && name.length > METADATA_PREFIX.length) {
      const key = name.slice(METADATA_PREFIX.length);
      if (key !== "content-type") md.append(key, value);
    }
  });
  return md;
}

/** grpc-gateway turns a `Grpc-Timeout` header into the call's deadline. */
function armDeadline(
  ctx: Ctx,
  header: string | undefined,
): ReturnType<typeof setTimeout> | undefined {
  const ms = parseGrpcTimeout(header);
  if (ms === undefined) return undefined;
  ctx.setDeadline(ms);
  return setTimeout(
    () => ctx.abort(new ConnectError("context deadline exceeded", Code.DeadlineExceeded)),
    ms,
  );
}

function isDeadline(reason: unknown): boolean {
  return reason instanceof ConnectError && reason.code === Code.DeadlineExceeded;
}

/** Settles with `p`, or rejects with the reason the call was aborted (deadline, client gone). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then((v) => {
      signal.removeEventListener("abort", onAbort);
      resolve(v);
    }, (e) => {
      signal.removeEventListener("abort", onAbort);
      reject(e);
    });
  });
}

function abortError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  return reason instanceof ConnectError
    ? reason
    : new ConnectError("context canceled", Code.Canceled);
}

/** Implementations may answer with init shapes; the JSON writer needs messages. */
function asMessage(schema: DescMessage, value: unknown): MessageShape<DescMessage> {
  const v = value as { $typeName?: string } | undefined;
  if (v?.$typeName === schema.typeName) return v as MessageShape<DescMessage>;
  return create(schema, (v ?? {}) as never);
}

/** {@link GatewayRequest.whenGone} over an abort signal. */
function signalGone(signal: AbortSignal): GatewayRequest["whenGone"] {
  return (fn) => {
    if (signal.aborted) {
      fn();
      return () => {};
    }
    signal.addEventListener("abort", fn, { once: true });
    return () => signal.removeEventListener("abort", fn);
  };
}

/** The path of an absolute URL string, without parsing all of it. */
function pathOf(url: string): string {
  const slash = url.indexOf("/", url.indexOf("//") + 2);
  if (slash < 0) return "/";
  const q = url.indexOf("?", slash);
  const h = url.indexOf("#", slash);
  const end = Math.min(q < 0 ? url.length : q, h < 0 ? url.length : h);
  return url.slice(slash, end);
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

const encoder = new TextEncoder();

/** A JSON answer, as bytes (HTTP/1.1 sends it with a Content-Length in one write). */
function jsonResponse(status: number, body: string, grpcHeader = true): GatewayAnswer {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (grpcHeader && status === 200) headers["grpc-metadata-content-type"] = "application/grpc";
  return { status, headers, body: encoder.encode(body) };
}

function unaryError(err: unknown): GatewayAnswer {
  const { status, body } = unaryErrorBody(err);
  return jsonResponse(status, body, false);
}

function streamError(err: unknown): GatewayAnswer {
  const { status, body } = streamErrorBody(err);
  return jsonResponse(status, body, false);
}

/** Go's `http.Error`: plain text and a newline. */
function plainError(status: number, text: string): GatewayAnswer {
  return {
    status,
    headers: {
      "content-type": "text/plain; charset=utf-8",
      "x-content-type-options": "nosniff",
    },
    body: encoder.encode(text + "\n"),
  };
}
