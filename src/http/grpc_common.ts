/**
 * What the client port's two direct gRPC paths (`grpc_unary.ts`,
 * `grpc_bidi.ts`) share: the constant header blocks, which requests they
 * take, and how an error becomes gRPC status fields.
 *
 * @module
 */
import { ConnectError } from "@connectrpc/connect";
import { encodeHeaders } from "./h2/hpack.ts";
import type { H2Stream } from "./h2/stream.ts";

/** Response header block of every call that sends messages (constant, so encoded once). */
export const RESPONSE_HEADERS: Uint8Array = encodeHeaders([
  [":status", "200"],
  ["content-type", "application/grpc"],
  ["grpc-accept-encoding", "gzip"],
]);

/** Trailer block of a successful call. */
export const TRAILERS_OK: Uint8Array = encodeHeaders([["grpc-status", "0"]]);

/** True for a gRPC (protobuf, not gRPC-Web) POST: the calls the direct paths may take. */
export function isGrpcPost(stream: H2Stream): boolean {
  if (stream.method !== "POST") return false;
  const contentType = stream.header("content-type");
  return contentType === "application/grpc" || contentType === "application/grpc+proto";
}

/** `grpc-status` and `grpc-message` for `err`, as Connect reports them. */
export function statusFields(err: unknown): Array<[string, string]> {
  const ce = ConnectError.from(err);
  const fields: Array<[string, string]> = [["grpc-status", String(ce.code)]];
  if (ce.rawMessage) fields.push(["grpc-message", encodeURIComponent(ce.rawMessage)]);
  return fields;
}

/** A trailers-only response: the status in the one and only HEADERS frame. */
export function trailersOnly(fields: Array<[string, string]>): Uint8Array {
  return encodeHeaders([[":status", "200"], ["content-type", "application/grpc"], ...fields]);
}
