/**
 * A minimal gRPC-over-h2c client on `node:http2`, independent of cairn's own
 * code: it frames protobuf messages by hand, so tests can also send broken or
 * truncated requests and reset streams at will.
 */

import http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  PutRequestSchema,
  type PutResponse,
  PutResponseSchema,
  RangeRequestSchema,
  type RangeResponse,
  RangeResponseSchema,
} from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";

/** gRPC method paths used by the tests. */
export const PATHS = {
  put: "/etcdserverpb.KV/Put",
  range: "/etcdserverpb.KV/Range",
} as const;

/** The outcome of one unary call. */
export interface UnaryResult {
  /** grpc-status (0 = OK); -1 when the stream ended without one. */
  status: number;
  /** grpc-message, percent-decoded. */
  message: string;
  /** The response message bytes (without the 5-byte frame prefix), if any. */
  body?: Uint8Array;
}

/** Error thrown by typed helpers when the server answers with a non-OK status. */
export class GrpcError extends Error {
  /** grpc-status code. */
  readonly code: number;
  constructor(code: number, message: string) {
    super(`grpc status ${code}: ${message}`);
    this.code = code;
  }
}

/** Prefixes a message with gRPC's length-prefixed frame header (uncompressed). */
export function frame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** Request headers for a gRPC call to `path`. */
export function grpcHeaders(path: string): http2.OutgoingHttpHeaders {
  return {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    "te": "trailers",
  };
}

/**
 * Sends one request message on a new stream of `session` with `headers`
 * and collects the response and trailers; rejects when no answer comes
 * within `timeoutMs` or the stream fails.
 */
export function unaryCall(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  message: Uint8Array,
  timeoutMs = 10_000,
): Promise<UnaryResult> {
  const path = headers[":path"];
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    const chunks: Uint8Array[] = [];
    let status = -1;
    let text = "";
    const take = (headers: http2.IncomingHttpHeaders) => {
      if (headers["grpc-status"] !== undefined) status = Number(headers["grpc-status"]);
      if (headers["grpc-message"] !== undefined) {
        text = decodeURIComponent(String(headers["grpc-message"]));
      }
    };
    const timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      reject(new Error(`${path}: no answer within ${timeoutMs}ms`));
    }, timeoutMs);
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    stream.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.on("close", () => {
      clearTimeout(timer);
      const data = concat(chunks);
      const body = data.length >= 5 ? data.subarray(5, 5 + readLength(data)) : undefined;
      resolve({ status, message: text, body });
    });
    stream.end(frame(message));
  });
}

/** One HTTP/2 connection to a member's client URL. */
export class GrpcClient {
  /** The underlying session, exposed so tests can reset or destroy it. */
  readonly session: http2.ClientHttp2Session;

  constructor(url: string) {
    this.session = http2.connect(url);
    // A refused or reset connection must surface through calls, not crash the test.
    this.session.on("error", () => {});
  }

  /** Sends one request message and collects the response and trailers. */
  unary(path: string, message: Uint8Array, timeoutMs = 10_000): Promise<UnaryResult> {
    return unaryCall(this.session, grpcHeaders(path), message, timeoutMs);
  }

  /** KV.Put; throws GrpcError on a non-OK status. */
  async put(key: string, value: string): Promise<PutResponse> {
    const req = create(PutRequestSchema, { key: utf8(key), value: utf8(value) });
    const res = await this.unary(PATHS.put, toBinary(PutRequestSchema, req));
    if (res.status !== 0) throw new GrpcError(res.status, res.message);
    return fromBinary(PutResponseSchema, res.body ?? new Uint8Array());
  }

  /** KV.Range over [key, rangeEnd) (or the single key when rangeEnd is omitted). */
  async range(key: string, rangeEnd?: string, serializable = false): Promise<RangeResponse> {
    const req = create(RangeRequestSchema, {
      key: utf8(key),
      rangeEnd: rangeEnd === undefined ? undefined : utf8(rangeEnd),
      serializable,
    });
    const res = await this.unary(PATHS.range, toBinary(RangeRequestSchema, req));
    if (res.status !== 0) throw new GrpcError(res.status, res.message);
    return fromBinary(RangeResponseSchema, res.body ?? new Uint8Array());
  }

  /** Graceful close: waits for in-flight streams. */
  close(): Promise<void> {
    return new Promise((resolve) => this.session.close(() => resolve()));
  }

  /** Abrupt close: tears the TCP connection down with streams in flight. */
  destroy(): void {
    this.session.destroy();
  }
}

/** The prefix range end etcd uses: the key with its last byte incremented. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/** UTF-8 bytes of a string. */
export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** String from UTF-8 bytes. */
export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

function readLength(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
