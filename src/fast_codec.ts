/**
 * Hand-written encoders for the messages of the hottest path (a put): its
 * Raft entry (`InternalRequest` carrying the `PutRequest`), its response,
 * and the `ResponseHeader` every response and watch response carries.
 * Each writes exactly what protobuf-es's `toBinary` writes (fields in
 * number order, proto3 defaults omitted; tests compare the bytes) and
 * falls back to `toBinary` for anything it does not cover.
 *
 * @module
 */
import { create, toBinary } from "@bufbuild/protobuf";
import {
  type PutRequest,
  type PutResponse,
  PutResponseSchema,
  type ResponseHeader,
} from "./gen/etcd/api/etcdserverpb/rpc_pb.ts";
import { type InternalRequest, InternalRequestSchema } from "./gen/cairn/internal_pb.ts";
import { ProtoWriter } from "./pbwriter.ts";

/** Encoded ResponseHeader bodies: one header object often serves many messages. */
const headerCache = new WeakMap<ResponseHeader, Uint8Array>();

function writeHeaderFields(w: ProtoWriter, h: ResponseHeader): void {
  w.uint64Field(1, h.clusterId);
  w.uint64Field(2, h.memberId);
  w.uint64Field(3, h.revision);
  w.uint64Field(4, h.raftTerm);
  for (const u of h.$unknown ?? []) {
    w.varint((u.no << 3) | u.wireType);
    w.bytes(u.data);
  }
}

/** The body of a ResponseHeader (without tag and length), cached per object. */
export function responseHeaderBody(h: ResponseHeader): Uint8Array {
  let bytes = headerCache.get(h);
  if (bytes) return bytes;
  const w = new ProtoWriter(48);
  writeHeaderFields(w, h);
  bytes = w.buf.slice(0, w.pos);
  headerCache.set(h, bytes);
  return bytes;
}

/**
 * Writes `h` as field `field` (a length-delimited sub-message), reusing its
 * cached encoding: for headers shared by many messages (watch responses).
 */
export function writeResponseHeader(w: ProtoWriter, field: number, h: ResponseHeader): void {
  const body = responseHeaderBody(h);
  w.varint((field << 3) | 2);
  w.varint(body.length);
  w.bytes(body);
}

/** A PutResponse; one with prev_kv or unknown fields goes through `toBinary`. */
export function encodePutResponse(resp: PutResponse): Uint8Array {
  if (resp.prevKv !== undefined || resp.$unknown?.length) {
    return toBinary(PutResponseSchema, resp);
  }
  // Each put has a header of its own: written in place, not cached.
  const w = new ProtoWriter(48);
  const header = resp.header;
  if (header) w.message(1, (b) => writeHeaderFields(b, header));
  return w.finish();
}

function writePutRequest(w: ProtoWriter, req: PutRequest): void {
  w.bytesField(1, req.key);
  w.bytesField(2, req.value);
  w.uint64Field(3, req.lease);
  w.boolField(4, req.prevKv);
  w.boolField(5, req.ignoreValue);
  w.boolField(6, req.ignoreLease);
}

/**
 * The Raft entry payload `InternalRequest{id, origin, request}`; puts are
 * written by hand (no message object is built for them), the rest by
 * `toBinary`.
 */
export function encodeInternalRequest(
  id: bigint,
  origin: bigint,
  request: InternalRequest["request"],
): Uint8Array {
  if (request.case !== "put" || request.value.$unknown?.length) {
    return toBinary(InternalRequestSchema, create(InternalRequestSchema, { id, origin, request }));
  }
  const put = request.value;
  const w = new ProtoWriter(32 + put.key.length + put.value.length);
  w.uint64Field(1, id);
  w.uint64Field(2, origin);
  w.message(3, (b) => writePutRequest(b, put));
  return w.finish();
}
