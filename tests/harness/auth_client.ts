/**
 * A small typed gRPC client for auth tests (node:http2, independent of
 * cairn's code): unary calls of any etcd method with an optional `token`
 * metadata, Authenticate, and watch creation read up to the first answer.
 */
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import {
  create,
  type DescMessage,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  AuthenticateRequestSchema,
  AuthenticateResponseSchema,
  WatchCreateRequestSchema,
  WatchRequestSchema,
  type WatchResponse,
  WatchResponseSchema,
} from "../../src/gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { frame, GrpcError, grpcHeaders, unaryCall } from "./grpc.ts";

export { GrpcError };

/** One HTTP/2 connection to a member, calling as whoever `token` names. */
export class AuthClient {
  readonly session: http2.ClientHttp2Session;
  /** The token sent with every call (none when undefined). */
  token: string | undefined;

  constructor(url: string, token?: string) {
    this.session = http2.connect(url);
    this.session.on("error", () => {});
    this.token = token;
  }

  #headers(path: string): http2.OutgoingHttpHeaders {
    const h = grpcHeaders(path);
    if (this.token !== undefined) h["token"] = this.token;
    return h;
  }

  /** Calls `path` with `req`; resolves with the response or rejects with a GrpcError. */
  async call<I extends DescMessage, O extends DescMessage>(
    path: string,
    inSchema: I,
    req: MessageInitShape<I>,
    outSchema: O,
    timeoutMs = 10_000,
  ): Promise<MessageShape<O>> {
    const message = toBinary(inSchema, create(inSchema, req));
    const res = await unaryCall(this.session, this.#headers(path), message, timeoutMs);
    if (res.status !== 0) throw new GrpcError(res.status, res.message);
    return fromBinary(outSchema, res.body ?? new Uint8Array());
  }

  /** Authenticates and uses the token from now on; returns it. */
  async login(name: string, password: string): Promise<string> {
    const resp = await this.call(
      "/etcdserverpb.Auth/Authenticate",
      AuthenticateRequestSchema,
      { name, password },
      AuthenticateResponseSchema,
    );
    this.token = resp.token;
    return resp.token;
  }

  /**
   * Opens a watch stream with one create request and resolves with the
   * first response (the created or canceled answer); the stream is then
   * closed unless `keep` is given, which receives later responses.
   */
  watchCreate(
    req: MessageInitShape<typeof WatchCreateRequestSchema>,
    keep?: (resp: WatchResponse) => void,
    timeoutMs = 10_000,
  ): Promise<{ first: WatchResponse; close(): void }> {
    const stream = this.session.request(this.#headers("/etcdserverpb.Watch/Watch"));
    stream.on("error", () => {});
    const msg = create(WatchRequestSchema, {
      requestUnion: { case: "createRequest", value: create(WatchCreateRequestSchema, req) },
    });
    stream.write(frame(toBinary(WatchRequestSchema, msg)));
    return new Promise((resolve, reject) => {
      let pending = Buffer.alloc(0);
      let first: WatchResponse | undefined;
      const close = () => stream.close(http2.constants.NGHTTP2_CANCEL);
      const timer = setTimeout(() => {
        close();
        reject(new Error("watch: no answer"));
      }, timeoutMs);
      stream.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const len = pending.readUInt32BE(1);
          const resp = fromBinary(WatchResponseSchema, pending.subarray(5, 5 + len));
          pending = pending.subarray(5 + len);
          if (first === undefined) {
            first = resp;
            clearTimeout(timer);
            if (!keep) close();
            resolve({ first, close });
          } else {
            keep?.(resp);
          }
        }
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (first === undefined) reject(new Error("watch stream closed without an answer"));
      });
    });
  }

  /** Closes the connection. */
  close(): void {
    this.session.destroy();
  }
}

/** UTF-8 bytes of `s`. */
export function b(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
