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
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type PutRequest,
  type PutResponse,
  PutResponseSchema,
  type ResponseHeader,
} from "./gen/etcd/api/etcdserverpb/rpc_pb.ts";
import {
  type AuthHeader,
  type InternalRequest,
  InternalRequestSchema,
} from "./gen/cairn/internal_pb.ts";
import { ProtoWriter } from "./wire/proto_writer.ts";
import { VarintReader } from "./wire/varint.ts";

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

/** Field number of `InternalRequest.auth`; its tag takes two bytes (0xf2 0x01). */
const AUTH_FIELD = 30;

/**
 * The Raft entry payload `InternalRequest{id, origin, request, auth}`; puts
 * are written by hand (no message object is built for them), the rest by
 * `toBinary`. `auth` is present on every client request (see the proto).
 */
export function encodeInternalRequest(
  id: bigint,
  origin: bigint,
  request: InternalRequest["request"],
  auth?: AuthHeader,
): Uint8Array {
  if (request.case !== "put" || request.value.$unknown?.length || auth?.$unknown?.length) {
    return toBinary(
      InternalRequestSchema,
      create(InternalRequestSchema, { id, origin, request, auth }),
    );
  }
  const put = request.value;
  const w = new ProtoWriter(48 + put.key.length + put.value.length);
  w.uint64Field(1, id);
  w.uint64Field(2, origin);
  w.message(3, (b) => writePutRequest(b, put));
  if (auth) {
    w.message(AUTH_FIELD, (b) => {
      if (auth.username !== "") b.bytesField(1, utf8.encode(auth.username));
      b.uint64Field(2, auth.revision);
    });
  }
  return w.finish();
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a Raft entry payload written by {@link encodeInternalRequest}.
 * A put with only the fields this version writes is read by hand (every
 * member applies every put: protobuf-es's reflective `fromBinary` was a
 * large part of apply); anything else goes to `fromBinary`. Byte fields
 * are views of `data`.
 */
export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  return decodePutEntry(data) ?? fromBinary(InternalRequestSchema, data);
}

/** Position-tracking varint reads for {@link decodePutEntry}; `pos` -1 means malformed. */
class Cursor extends VarintReader {
  constructor(buf: Uint8Array, end: number) {
    super(buf, 0, end);
  }

  /** A varint below 2^53 as a number. */
  num(): number {
    const v = this.varint();
    if (v >= 0) return v;
    this.pos = -1;
    return 0;
  }

  /** A uint64 varint as a bigint. */
  u64(): bigint {
    const v = this.uint64();
    if (v >= 0n) return v;
    this.pos = -1;
    return 0n;
  }

  /** A length-delimited field's bytes (a view). */
  bytes(): Uint8Array | undefined {
    const n = this.num();
    if (this.pos < 0 || this.pos + n > this.end) return undefined;
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function decodePutEntry(data: Uint8Array): InternalRequest | undefined {
  const c = new Cursor(data, data.length);
  let id = 0n;
  let origin = 0n;
  let put: PutRequest | undefined;
  let auth: AuthHeader | undefined;
  while (c.pos < c.end) {
    const tag = c.buf[c.pos++];
    if (tag === 0x08) id = c.u64();
    else if (tag === 0x10) origin = c.u64();
    else if (tag === 0xf2 && c.buf[c.pos] === 0x01 && auth === undefined) {
      c.pos++;
      const len = c.num();
      if (c.pos < 0 || c.pos + len > c.end) return undefined;
      auth = decodeAuthHeader(data, c.pos, c.pos + len);
      if (auth === undefined) return undefined;
      c.pos += len;
    } else if (tag === 0x1a && put === undefined) {
      const len = c.num();
      if (c.pos < 0 || c.pos + len > c.end) return undefined;
      put = decodePut(new Cursor(data, c.pos + len), c.pos);
      if (put === undefined) return undefined;
      c.pos += len;
    } else return undefined; // another request, a repeated field or unknown ones
    if (c.pos < 0) return undefined;
  }
  if (put === undefined) return undefined;
  const req: InternalRequest = {
    $typeName: "cairn.v1.InternalRequest",
    id,
    origin,
    request: { case: "put", value: put },
  };
  // Absent stays absent, as fromBinary leaves it.
  if (auth) req.auth = auth;
  return req;
}

/** An AuthHeader with only the fields this version writes, or undefined. */
function decodeAuthHeader(data: Uint8Array, start: number, end: number): AuthHeader | undefined {
  const c = new Cursor(data, end);
  c.pos = start;
  const auth: AuthHeader = { $typeName: "cairn.v1.AuthHeader", username: "", revision: 0n };
  let seen = 0;
  while (c.pos < c.end) {
    const tag = c.buf[c.pos++];
    if (tag === 0x0a && !(seen & 1)) {
      const b = c.bytes();
      if (b === undefined) return undefined;
      try {
        auth.username = fromUtf8.decode(b);
      } catch {
        return undefined;
      }
      seen |= 1;
    } else if (tag === 0x10 && !(seen & 2)) {
      auth.revision = c.u64();
      seen |= 2;
    } else return undefined;
    if (c.pos < 0) return undefined;
  }
  return auth;
}

function decodePut(c: Cursor, start: number): PutRequest | undefined {
  c.pos = start;
  const put: PutRequest = {
    $typeName: "etcdserverpb.PutRequest",
    key: EMPTY,
    value: EMPTY,
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  };
  let seen = 0;
  while (c.pos < c.end) {
    const tag = c.buf[c.pos++];
    const field = tag >> 3;
    // Each known field once, with its wire type; anything else is left to fromBinary.
    if (field < 1 || field > 6 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    if (field <= 2) {
      if ((tag & 7) !== 2) return undefined;
      const b = c.bytes();
      if (b === undefined) return undefined;
      if (field === 1) put.key = b;
      else put.value = b;
      continue;
    }
    if ((tag & 7) !== 0) return undefined;
    if (field === 3) put.lease = BigInt.asIntN(64, c.u64());
    else {
      const v = c.num() !== 0;
      if (field === 4) put.prevKv = v;
      else if (field === 5) put.ignoreValue = v;
      else put.ignoreLease = v;
    }
    if (c.pos < 0) return undefined;
  }
  return put;
}

const EMPTY = new Uint8Array(0);
