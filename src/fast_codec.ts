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
import { claimRoom, hasRoom } from "./wire/headroom.ts";
import { ProtoWriter } from "./wire/proto_writer.ts";
import { uint64VarintBytes, varintSize } from "./wire/varint.ts";
import { ProtoReader, WireError } from "./wire/proto_reader.ts";

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
  // Each put has a header of its own: written in place, not cached. Its
  // length is known up front (four varints), so no closure and no move.
  const w = new ProtoWriter(48);
  const header = resp.header;
  if (header) {
    w.varint((1 << 3) | 2);
    w.varint(headerFieldsSize(header));
    writeHeaderFields(w, header);
  }
  return w.finish();
}

/**
 * A writer shared by the calls below, over a scratch buffer larger than
 * anything they write (so it never grows): each call copies its bytes out
 * once, and no writer or buffer is made per call.
 */
const scratch = new ProtoWriter(256);
/** The largest message written through {@link scratch}. */
const SCRATCH_MAX = 200;

/**
 * A PutResponse as a whole gRPC length-prefixed message (flag byte,
 * big-endian length, body) in one exact allocation; undefined for one with
 * prev_kv, unknown fields or an outsized header (then
 * {@link encodePutResponse} and a copy).
 */
export function encodePutResponseEnvelope(resp: PutResponse): Uint8Array | undefined {
  const n = writePutResponseEnvelope(resp, scratch.buf);
  return n === 0 ? undefined : scratch.buf.slice(0, n);
}

/** Room {@link writePutResponseEnvelope} needs in its output buffer. */
export const PUT_ENVELOPE_ROOM = 5 + SCRATCH_MAX;

/**
 * {@link encodePutResponseEnvelope} written into `out` (at least
 * {@link PUT_ENVELOPE_ROOM} bytes) from its start, for a caller that copies
 * it out at once (no array per response); returns its length, or 0 for a
 * response it does not cover.
 */
export function writePutResponseEnvelope(resp: PutResponse, out: Uint8Array): number {
  if (resp.prevKv !== undefined || resp.$unknown?.length) return 0;
  if (out.length < PUT_ENVELOPE_ROOM) throw new RangeError("PutResponse envelope: no room");
  const header = resp.header;
  const hs = header ? headerFieldsSize(header) : 0;
  const n = header ? 1 + varintSize(hs) + hs : 0;
  if (n > SCRATCH_MAX) return 0;
  const w = scratch;
  const own = w.buf;
  // The shared writer over the caller's buffer, for this call only.
  w.buf = out;
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  out[4] = n;
  w.pos = 5;
  try {
    if (header) {
      w.varint((1 << 3) | 2);
      w.varint(hs);
      writeHeaderFields(w, header);
    }
    if (w.pos !== 5 + n || w.buf !== out) {
      throw new Error(`PutResponse: wrote ${w.pos - 5} of ${n} bytes`);
    }
  } finally {
    w.buf = own;
  }
  return 5 + n;
}

/** Bytes of a `uint64Field` (tag of a field below 16 included), 0 when skipped. */
function uint64FieldSize(v: bigint): number {
  if (v === 0n) return 0;
  if (v > 0n && v < 0x20000000000000n) return 1 + varintSize(Number(v));
  return 1 + uint64VarintBytes(v).length;
}

/** Bytes of a `bytesField` (tag of a field below 16 included), 0 when skipped. */
function bytesFieldSize(n: number): number {
  return n === 0 ? 0 : 1 + varintSize(n) + n;
}

/** Bytes {@link writeHeaderFields} writes for `h`. */
function headerFieldsSize(h: ResponseHeader): number {
  let n = uint64FieldSize(h.clusterId) + uint64FieldSize(h.memberId) +
    uint64FieldSize(h.revision) + uint64FieldSize(h.raftTerm);
  for (const u of h.$unknown ?? []) n += varintSize((u.no << 3) | u.wireType) + u.data.length;
  return n;
}

/** Bytes {@link writePutRequest} writes for `req`. */
function putRequestSize(req: PutRequest): number {
  return bytesFieldSize(req.key.length) + bytesFieldSize(req.value.length) +
    uint64FieldSize(req.lease) + (req.prevKv ? 2 : 0) + (req.ignoreValue ? 2 : 0) +
    (req.ignoreLease ? 2 : 0);
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
    const entry = toBinary(
      InternalRequestSchema,
      create(InternalRequestSchema, { id, origin, request, auth }),
    );
    // A txn, too, is applied by the leader from the request it was
    // written from: fromBinary of a txn's entry was ~3 KB and a walk of
    // the schema per txn. The store only reads it, and copies what it keeps.
    return request.case === "txn" ? remember(entry, id, origin, request, auth) : entry;
  }
  const put = request.value;
  const inPlace = putsWithRoom.get(put);
  if (inPlace !== undefined) {
    putsWithRoom.delete(put);
    const entry = entryAround(inPlace, put, id, origin, auth);
    if (entry !== undefined) return remember(entry, id, origin, request, auth);
  }
  // The put's length is computed first and written before it: with
  // `message` a put of 128 bytes or more was moved once more inside the
  // buffer (a whole 64 KiB value), and each call made a closure.
  // Sized exactly, so the buffer itself is the entry (no view of a larger one).
  const putSize = putRequestSize(put);
  const user = auth === undefined || auth.username === "" ? EMPTY : utf8.encode(auth.username);
  const authSize = auth ? bytesFieldSize(user.length) + uint64FieldSize(auth.revision) : 0;
  const size = uint64FieldSize(id) + uint64FieldSize(origin) + 1 + varintSize(putSize) + putSize +
    (auth ? 2 + varintSize(authSize) + authSize : 0);
  const w = new ProtoWriter(size);
  w.uint64Field(1, id);
  w.uint64Field(2, origin);
  w.varint((3 << 3) | 2);
  w.varint(putSize);
  writePutRequest(w, put);
  if (auth) {
    w.varint(AUTH_FIELD << 3 | 2);
    w.varint(authSize);
    w.bytesField(1, user);
    w.uint64Field(2, auth.revision);
  }
  return remember(w.pos === w.buf.length ? w.buf : w.finish(), id, origin, request, auth);
}

/**
 * Slots of the entries {@link encodeInternalRequest} wrote for puts, by
 * request id modulo their number: the leader applies its own proposals
 * from the same buffer it proposed (Raft's log holds the entry by
 * reference), so decoding them again built a second request, key and
 * value view (~650 B per put) equal to the one they were written from.
 * A slot is let go when its entry is decoded or a later id takes it, so
 * at most MEMO_SLOTS entries are held past their proposal.
 */
const MEMO_SLOTS = 1024;
const memoEntry: (Uint8Array | undefined)[] = new Array(MEMO_SLOTS).fill(undefined);
const memoRequest: (InternalRequest | undefined)[] = new Array(MEMO_SLOTS).fill(undefined);

/** Notes that `entry` is the encoding of this request; returns `entry`. */
function remember(
  entry: Uint8Array,
  id: bigint,
  origin: bigint,
  request: InternalRequest["request"],
  auth: AuthHeader | undefined,
): Uint8Array {
  if (id > MAX_SAFE) return entry; // never ours (ids are a µs clock): decoded as written
  const slot = Number(id) % MEMO_SLOTS;
  const req: InternalRequest = { $typeName: "cairn.v1.InternalRequest", id, origin, request };
  // Absent stays absent, as decoding the entry leaves it.
  if (auth) req.auth = auth;
  memoEntry[slot] = entry;
  memoRequest[slot] = req;
  return entry;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The request `data` was encoded from, when `data` is the very buffer
 * {@link encodeInternalRequest} returned for it and is still remembered;
 * the slot is let go. Entries begin with their id (field 1), which picks
 * the slot; the buffer's identity decides.
 */
function recall(data: Uint8Array): InternalRequest | undefined {
  if (data.length < 2 || data[0] !== 0x08) return undefined;
  // The id varint, as a number (ids that could be remembered are below 2^53).
  let id = 0;
  let mul = 1;
  for (let i = 1; i < 9 && i < data.length; i++) {
    const b = data[i];
    id += (b & 0x7f) * mul;
    if (b < 0x80) {
      const slot = id % MEMO_SLOTS;
      if (memoEntry[slot] !== data) return undefined;
      const req = memoRequest[slot];
      memoEntry[slot] = undefined;
      memoRequest[slot] = undefined;
      return req;
    }
    mul *= 128;
  }
  return undefined;
}

/**
 * Large puts received into a buffer with room around them (see
 * src/wire/headroom.ts), with the bytes they were decoded from.
 */
const putsWithRoom = new WeakMap<PutRequest, Uint8Array>();

/**
 * The entry written around `raw`, the put's own bytes as received, in
 * place: the id, origin and the put's tag and length before them, the
 * auth header after. Only when `raw` is exactly as long as the canonical
 * encoding of `put` (so it is the bytes `writePutRequest` would write, as
 * every protobuf client sends them) and its buffer still has the room;
 * undefined otherwise (the caller copies).
 */
function entryAround(
  raw: Uint8Array,
  put: PutRequest,
  id: bigint,
  origin: bigint,
  auth: AuthHeader | undefined,
): Uint8Array | undefined {
  const putSize = putRequestSize(put);
  if (raw.length !== putSize) return undefined;
  const user = auth === undefined || auth.username === "" ? EMPTY : utf8.encode(auth.username);
  const authSize = auth ? bytesFieldSize(user.length) + uint64FieldSize(auth.revision) : 0;
  const before = uint64FieldSize(id) + uint64FieldSize(origin) + 1 + varintSize(putSize);
  const after = auth ? 2 + varintSize(authSize) + authSize : 0;
  const room = claimRoom(raw, before, after);
  if (room === undefined) return undefined;
  const w = new ProtoWriter(0);
  w.buf = room;
  w.uint64Field(1, id);
  w.uint64Field(2, origin);
  w.varint((3 << 3) | 2);
  w.varint(putSize);
  w.pos += putSize; // the put itself is already there
  if (auth) {
    w.varint(AUTH_FIELD << 3 | 2);
    w.varint(authSize);
    w.bytesField(1, user);
    w.uint64Field(2, auth.revision);
  }
  if (w.buf !== room || w.pos !== room.length) {
    throw new Error(`InternalRequest in place: wrote ${w.pos} of ${room.length} bytes`);
  }
  return room;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes a Raft entry payload written by {@link encodeInternalRequest}.
 * A put with only the fields this version writes is read by hand (every
 * member applies every put: protobuf-es's reflective `fromBinary` was a
 * large part of apply); anything else goes to `fromBinary`. Byte fields
 * are views of `data`. The buffer {@link encodeInternalRequest} returned
 * for a put gives back (once) the request it was written from, which
 * decodes to the same fields: its bytes must not have changed since.
 */
export function decodeInternalRequest(data: Uint8Array): InternalRequest {
  let put = recall(data);
  if (put !== undefined) return put;
  try {
    put = decodePutEntry(data);
  } catch (e) {
    // Malformed for the fast path: fromBinary gives the verdict (and its error).
    if (!(e instanceof WireError)) throw e;
  }
  return put ?? fromBinary(InternalRequestSchema, data);
}

function decodePutEntry(data: Uint8Array): InternalRequest | undefined {
  const r = new ProtoReader(data, 0, data.length);
  let id = 0n;
  let origin = 0n;
  let put: PutRequest | undefined;
  let auth: AuthHeader | undefined;
  while (r.pos < r.end) {
    const tag = data[r.pos++];
    if (tag === 0x08) {
      // Request ids are below 2^53 (a clock in µs): one bigint from a
      // number instead of the four uint64() builds for a value over 32
      // bits; a larger one (not ours) is left to fromBinary.
      const n = r.num();
      if (n > Number.MAX_SAFE_INTEGER) return undefined;
      id = BigInt(n);
    } else if (tag === 0x10) origin = r.uint64();
    else if (tag === 0xf2 && data[r.pos] === 0x01 && auth === undefined) {
      r.pos++;
      const end = r.sub();
      auth = decodeAuthHeader(data, r.pos, end);
      if (auth === undefined) return undefined;
      r.pos = end;
    } else if (tag === 0x1a && put === undefined) {
      // Read with the entry's own reader, bounded by the field's end (no
      // second reader per applied put).
      put = decodePut(r, r.sub());
      if (put === undefined) return undefined;
    } else return undefined; // another request, a repeated field or unknown ones
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
  const r = new ProtoReader(data, start, end);
  const auth: AuthHeader = { $typeName: "cairn.v1.AuthHeader", username: "", revision: 0n };
  let seen = 0;
  while (r.pos < r.end) {
    const tag = data[r.pos++];
    if (tag === 0x0a && !(seen & 1)) {
      try {
        auth.username = fromUtf8.decode(r.bytes());
      } catch (e) {
        if (e instanceof WireError) throw e;
        return undefined; // not UTF-8: fromBinary decides
      }
      seen |= 1;
    } else if (tag === 0x10 && !(seen & 2)) {
      auth.revision = r.uint64();
      seen |= 2;
    } else return undefined;
  }
  return auth;
}

/**
 * A PutRequest as the client sent it (a gRPC payload, `payload[start,
 * end)`), read by hand, or
 * undefined when it carries anything but each known field at most once or
 * is malformed: `fromBinary` then decodes it (and gives the error). Byte
 * fields are views of `payload`, as `fromBinary` makes them.
 */
export function decodePutRequest(
  payload: Uint8Array,
  start = 0,
  end: number = payload.length,
): PutRequest | undefined {
  try {
    const put = decodePut(new ProtoReader(payload, start, end), end);
    if (put !== undefined && hasRoom(payload)) putsWithRoom.set(put, payload.subarray(start, end));
    return put;
  } catch (e) {
    if (e instanceof WireError) return undefined;
    throw e;
  }
}

/**
 * A PutRequest occupying `r.buf[r.pos, end)`, with each known field at
 * most once, or undefined; `r` is left at `end`. A field running past
 * `end` (but within `r`'s own range) also gives undefined.
 */
function decodePut(r: ProtoReader, end: number): PutRequest | undefined {
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
  while (r.pos < end) {
    const tag = r.buf[r.pos++];
    const field = tag >> 3;
    // Each known field once, with its wire type; anything else is left to fromBinary.
    if (field < 1 || field > 6 || seen & (1 << field)) return undefined;
    seen |= 1 << field;
    if (field <= 2) {
      if ((tag & 7) !== 2) return undefined;
      const b = r.bytes();
      if (field === 1) put.key = b;
      else put.value = b;
      continue;
    }
    if ((tag & 7) !== 0) return undefined;
    if (field === 3) put.lease = BigInt.asIntN(64, r.uint64());
    else {
      const v = r.num() !== 0;
      if (field === 4) put.prevKv = v;
      else if (field === 5) put.ignoreValue = v;
      else put.ignoreLease = v;
    }
  }
  // A field that ran past the message's end: fromBinary gives the verdict.
  if (r.pos !== end) return undefined;
  return put;
}

const EMPTY = new Uint8Array(0);
