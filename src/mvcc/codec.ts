/**
 * Snapshot encoding of the whole MVCC state: current and compact revision,
 * then every retained version in revision order. All varints unsigned.
 *
 * Version 3 (written), a single pass over a point-in-time view, so it can
 * be produced in steps with the event loop running in between (into one
 * buffer sized by a first pass, see {@link storeSize}):
 *
 *   "CAIRNMV3" | currentRev | compactRev+1 | nVersions
 *   | nVersions x (klen, main, sub, ver,
 *                  [ver>0: create, vlen, lease i64le],
 *                  key bytes, [ver>0: value bytes])
 *   | crc32c of everything before (u32 little-endian)
 *
 * Each version's key and value bytes sit next to each other, as in the
 * store's arena: decoding leaves them where they are and the restored
 * store reads them from the snapshot's own buffer (see
 * {@link decodeStoreSteps}), instead of copying ~290 MB at 1,000,000 keys
 * piece by piece into a second buffer as large.
 *
 * Version 2 (still read): as version 3 but with the value's length and
 * bytes before the lease, so key and value are apart:
 *
 *   "CAIRNMV2" | currentRev | compactRev+1 | nVersions
 *   | nVersions x (len, key bytes, main, sub, ver,
 *                  [ver>0: create, len, value, lease i64le])
 *   | crc32c of everything before (u32 little-endian)
 *
 * Version 1 (still read, from data dirs written before): keys once in a
 * table, versions naming them by position:
 *
 *   "CAIRNMV1" | currentRev | compactRev+1 | nKeys | nKeys x (len, key bytes)
 *   | nVersions | nVersions x (keyIdx, main, sub, ver,
 *                             [ver>0: create, len, value, lease i64le])
 *   | crc32c of everything before (u32 little-endian)
 */
import { ByteReader } from "./bytes.ts";
import { crc32cAppend } from "../wire/crc32c.ts";
import { varintSize, writeVarint } from "../wire/varint.ts";
import type { Slab } from "./arena.ts";
import { KeyIndex } from "./history.ts";
import { EMPTY_BYTES, toBinary } from "./keys.ts";
import { runSteps, type Steps } from "./steps.ts";
import type { StoreView } from "./view.ts";

const MAGIC_V1 = new TextEncoder().encode("CAIRNMV1");
const MAGIC_V2 = new TextEncoder().encode("CAIRNMV2");
const MAGIC_V3 = new TextEncoder().encode("CAIRNMV3");
const MAGIC_LEN = 8;

/**
 * Default bytes encoded between two yields (and the chunk size of
 * {@link storeChunks}). A step of 1 MiB held the event loop ~15 ms (p99,
 * 1,000,000 keys); with three members on two cores encoding at once, the
 * puts that waited for steps on the leader and a follower took up to
 * 0.3-0.4 s. 256 KiB steps hold it 5-7 ms (p99): slowest put 105 ms.
 */
export const STORE_CHUNK_BYTES = 256 << 10;
/**
 * Versions sized or decoded between two yields. Decoding one builds its
 * index entry (a string, an object, a tree insert): about a microsecond
 * on an idle core, so a step stays within a few milliseconds.
 */
const VERSIONS_PER_STEP = 2048;
/** Bytes checksummed between two yields (CRC-32C runs at about 1 GB/s here). */
const CRC_STEP_BYTES = 4 << 20;
/** Values at most this long are copied byte by byte (no subarray object made). */
const SHORT_COPY = 32;

/** What a snapshot holds. */
export interface DecodedStore {
  index: KeyIndex;
  currentRev: number;
  compactRev: number;
}

/**
 * Length of the encoding of `view` (checksum included), computed in
 * steps: the encoder writes into one buffer of exactly this size, so a
 * large store is neither copied from chunks nor grown by doubling.
 */
export function* storeSize(view: StoreView): Steps<number> {
  let n = MAGIC_LEN + varintSize(view.currentRevision) + varintSize(view.compactRevision + 1) +
    varintSize(view.length) + 4;
  const len = view.length;
  for (let i = 0; i < len; i++) {
    const v = view.version(i);
    const klen = v.bkey.length;
    n += varintSize(klen) + klen + varintSize(v.main) + varintSize(v.sub) + varintSize(v.ver);
    if (v.ver !== 0) n += varintSize(v.create) + varintSize(v.vlen) + v.vlen + 8;
    if (i % VERSIONS_PER_STEP === VERSIONS_PER_STEP - 1) yield;
  }
  return n;
}

/**
 * Encodes `view` into `out` from `at`, where exactly `storeSize(view)`
 * bytes are free, yielding the position reached after about every
 * `stepBytes` written (the checksum is computed as it goes); returns the
 * position after the encoding. The caller may do anything between steps,
 * including writing to and compacting the store the view was taken from:
 * the view does not change. Throws if the encoding does not fill exactly
 * the room `storeSize` said (typed-array writes past the end are lost
 * silently, so only the final position tells).
 */
export function* encodeStoreInto(
  view: StoreView,
  out: Uint8Array,
  at: number,
  size: number,
  stepBytes = STORE_CHUNK_BYTES,
): Steps<number> {
  const end = at + size;
  if (end > out.length) throw corrupt("encoding buffer too small");
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let crc = 0;
  let summed = at;
  out.set(MAGIC_V3, at);
  let pos = at + MAGIC_LEN;
  pos = writeVarint(out, pos, view.currentRevision);
  pos = writeVarint(out, pos, view.compactRevision + 1);
  pos = writeVarint(out, pos, view.length);
  const len = view.length;
  for (let i = 0; i < len; i++) {
    const v = view.version(i);
    // Key then value, next to each other (a view of the arena, dropped or not).
    const bytes = v.storedBytes();
    const klen = v.bkey.length;
    pos = writeVarint(out, pos, klen);
    pos = writeVarint(out, pos, v.main);
    pos = writeVarint(out, pos, v.sub);
    pos = writeVarint(out, pos, v.ver);
    if (v.ver !== 0) {
      pos = writeVarint(out, pos, v.create);
      pos = writeVarint(out, pos, v.vlen);
      dv.setBigInt64(pos, v.lease, true);
      pos += 8;
    }
    // Key then value in one piece (a tombstone's vlen is 0).
    pos = copyInto(out, pos, bytes, 0, klen + v.vlen);
    if (pos - summed >= stepBytes) {
      crc = crc32cAppend(crc, out.subarray(summed, pos));
      summed = pos;
      yield pos;
    }
  }
  crc = crc32cAppend(crc, out.subarray(summed, pos));
  if (pos + 4 !== end) throw corrupt(`encoding took ${pos + 4 - at} bytes, sized ${size}`);
  dv.setUint32(pos, crc >>> 0, true);
  return end;
}

/** Copies `n` bytes of `src` from `from` to `out` at `pos`; returns the position after them. */
function copyInto(out: Uint8Array, pos: number, src: Uint8Array, from: number, n: number): number {
  if (n > SHORT_COPY) {
    out.set(src.subarray(from, from + n), pos);
  } else {
    for (let j = 0; j < n; j++) out[pos + j] = src[from + j];
  }
  return pos + n;
}

/**
 * Encodes a point-in-time view as a sequence of chunks of about
 * `chunkBytes` each (views of one buffer, handed out as they are
 * written); their concatenation is the snapshot. The caller may do
 * anything between chunks (see {@link encodeStoreInto}).
 */
export function* storeChunks(
  view: StoreView,
  chunkBytes = STORE_CHUNK_BYTES,
): Generator<Uint8Array, void, undefined> {
  const size = runSteps(storeSize(view));
  const out = new Uint8Array(size);
  const steps = encodeStoreInto(view, out, 0, size, chunkBytes);
  let from = 0;
  for (;;) {
    const r = steps.next();
    const to = r.done ? r.value : r.value as number;
    if (to > from) yield out.subarray(from, to);
    from = to;
    if (r.done) return;
  }
}

/** Most bytes a version's header (varints and lease) takes. */
const MAX_VERSION_HEADER = 6 * 10 + 8;

/**
 * Encodes a point-in-time view as a stream of chunks written into one
 * reused buffer of `chunkBytes` (a version's key and value bytes larger
 * than that come as a view of the store's own bytes): the snapshot is
 * never whole in memory, so a member that only writes it to a file holds
 * one chunk instead of a buffer as large as the data (~290 MB at
 * 1,000,000 keys, left for V8 to collect after each snapshot). Each chunk
 * is valid only until the next one is asked for: consume (write,
 * checksum) it first. The concatenation equals {@link encodeStore}'s
 * output; its length is `storeSize(view)`.
 */
export function* storeStream(
  view: StoreView,
  chunkBytes = STORE_CHUNK_BYTES,
): Generator<Uint8Array, void, undefined> {
  const buf = new Uint8Array(Math.max(chunkBytes, 2 * MAX_VERSION_HEADER));
  const dv = new DataView(buf.buffer);
  let crc = 0;
  buf.set(MAGIC_V3, 0);
  let pos = MAGIC_LEN;
  pos = writeVarint(buf, pos, view.currentRevision);
  pos = writeVarint(buf, pos, view.compactRevision + 1);
  pos = writeVarint(buf, pos, view.length);
  const len = view.length;
  for (let i = 0; i < len; i++) {
    const v = view.version(i);
    const klen = v.bkey.length;
    const n = klen + v.vlen;
    if (pos + MAX_VERSION_HEADER > buf.length) {
      crc = crc32cAppend(crc, buf.subarray(0, pos));
      yield buf.subarray(0, pos);
      pos = 0;
    }
    pos = writeVarint(buf, pos, klen);
    pos = writeVarint(buf, pos, v.main);
    pos = writeVarint(buf, pos, v.sub);
    pos = writeVarint(buf, pos, v.ver);
    if (v.ver !== 0) {
      pos = writeVarint(buf, pos, v.create);
      pos = writeVarint(buf, pos, v.vlen);
      dv.setBigInt64(pos, v.lease, true);
      pos += 8;
    }
    const bytes = v.storedBytes();
    if (pos + n <= buf.length) {
      pos = copyInto(buf, pos, bytes, 0, n);
      continue;
    }
    crc = crc32cAppend(crc, buf.subarray(0, pos));
    yield buf.subarray(0, pos);
    pos = 0;
    if (n <= buf.length) {
      pos = copyInto(buf, 0, bytes, 0, n);
    } else {
      // Larger than a chunk: the stored bytes themselves (never changed).
      crc = crc32cAppend(crc, bytes);
      yield bytes;
    }
  }
  if (pos + 4 > buf.length) {
    crc = crc32cAppend(crc, buf.subarray(0, pos));
    yield buf.subarray(0, pos);
    pos = 0;
  }
  crc = crc32cAppend(crc, buf.subarray(0, pos));
  dv.setUint32(pos, crc >>> 0, true);
  yield buf.subarray(0, pos + 4);
}

/** Encodes a point-in-time view in one go (small stores, tests). */
export function encodeStore(view: StoreView): Uint8Array {
  const size = runSteps(storeSize(view));
  const out = new Uint8Array(size);
  runSteps(encodeStoreInto(view, out, 0, size));
  return out;
}

/** One buffer holding `chunks` end to end. */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function corrupt(why: string): Error {
  return new Error(`mvcc snapshot: ${why}`);
}

/**
 * Decodes and checks a snapshot made by {@link encodeStoreInto} (or an
 * older version 1 or 2 one). The decoded store reads its keys and values
 * from `bytes`' buffer (version 3): the caller must never change them.
 */
export function decodeStore(bytes: Uint8Array, checked = false): DecodedStore {
  return runSteps(decodeStoreSteps(bytes, checked));
}

/**
 * {@link decodeStore} in steps: the checksum a few MiB at a time, then a
 * few thousand versions at a time (see src/mvcc/steps.ts to drive it).
 * Nothing outside the generator changes until it returns. As with
 * {@link decodeStore}, the store keeps `bytes`' buffer. `checked`: the
 * caller verified a checksum covering `bytes` just before (a snapshot
 * file's), so the store's own checksum is not computed again; the layout
 * is still checked.
 */
export function* decodeStoreSteps(bytes: Uint8Array, checked = false): Steps<DecodedStore> {
  if (bytes.length < MAGIC_LEN + 4) throw corrupt("too short");
  const magic = (m: Uint8Array) => m.every((b, i) => bytes[i] === b);
  const version = magic(MAGIC_V3) ? 3 : magic(MAGIC_V2) ? 2 : magic(MAGIC_V1) ? 1 : 0;
  if (version === 0) throw corrupt("bad magic or unknown version");
  const body = bytes.subarray(0, bytes.length - 4);
  const t = bytes.length - 4;
  const stored = (bytes[t] | (bytes[t + 1] << 8) | (bytes[t + 2] << 16) | (bytes[t + 3] << 24)) >>>
    0;
  // Every version uses CRC-32C.
  if (!checked) {
    let sum = 0;
    for (let off = 0; off < body.length; off += CRC_STEP_BYTES) {
      sum = crc32cAppend(sum, body.subarray(off, Math.min(body.length, off + CRC_STEP_BYTES)));
      yield;
    }
    if ((sum >>> 0) !== stored) throw corrupt("checksum mismatch");
  }
  const r = new ByteReader(body);
  r.pos = MAGIC_LEN;
  if (version === 3) return yield* decodeV3(r, body);
  return version === 2 ? yield* decodeV2(r, body) : yield* decodeV1(r);
}

/** Checks that versions come in strictly increasing `(main, sub)` order, none past `currentRev`. */
class OrderCheck {
  #main = 0;
  #sub = -1;
  constructor(readonly currentRev: number) {}
  next(main: number, sub: number): void {
    if (
      main < this.#main || (main === this.#main && sub <= this.#sub) || main > this.currentRev
    ) {
      throw corrupt("revisions out of order");
    }
    this.#main = main;
    this.#sub = sub;
  }
}

function* decodeV3(r: ByteReader, body: Uint8Array): Steps<DecodedStore> {
  const currentRev = r.uvarint();
  const compactRev = r.uvarint() - 1;
  const n = r.uvarint();
  const index = new KeyIndex();
  index.beginBulk();
  const order = new OrderCheck(currentRev);
  // The keys and values stay where they are: the store reads them in
  // `body`'s buffer, which its arena adopts as one slab.
  const slab = index.arena.adopt(body.buffer as ArrayBuffer);
  for (let i = 0; i < n; i += VERSIONS_PER_STEP) {
    placeV3(r, body, index, slab, order, Math.min(VERSIONS_PER_STEP, n - i));
    if (i + VERSIONS_PER_STEP < n) yield;
  }
  if (!r.done()) throw corrupt("trailing bytes");
  // No version placed: nothing holds the buffer.
  if (slab.live === 0) index.arena.free(slab, 0);
  yield* index.endBulkSteps();
  return { index, currentRev, compactRev };
}

/**
 * Decodes the next `count` versions of a version 3 body into `index`.
 * A plain function, not the generator's own loop: V8 optimizes a
 * function called a few hundred times, while a generator's loop run
 * once (a member's restart) stayed in slower tiers (measured: the same
 * decode at 1.6x the time as its first run in a process).
 */
function placeV3(
  r: ByteReader,
  body: Uint8Array,
  index: KeyIndex,
  slab: Slab,
  order: OrderCheck,
  count: number,
): void {
  const base = body.byteOffset;
  for (let i = 0; i < count; i++) {
    const klen = r.uvarint();
    const main = r.uvarint();
    const sub = r.uvarint();
    const ver = r.uvarint();
    order.next(main, sub);
    let create = 0;
    let vlen = 0;
    let lease = 0n;
    if (ver !== 0) {
      create = r.uvarint();
      vlen = r.uvarint();
      lease = r.i64leOrZero();
    }
    const at = r.pos;
    if (at + klen + vlen > body.length) throw corrupt("truncated data");
    r.pos = at + klen + vlen;
    const bkey = toBinary(body.subarray(at, at + klen));
    index.place(bkey, slab, base + at, vlen, main, sub, create, ver, lease);
  }
}

function* decodeV2(r: ByteReader, body: Uint8Array): Steps<DecodedStore> {
  const currentRev = r.uvarint();
  const compactRev = r.uvarint() - 1;
  const n = r.uvarint();
  const index = new KeyIndex();
  index.beginBulk();
  const order = new OrderCheck(currentRev);
  // Views of `body`, not copies: the index copies key and value into its arena.
  const view = (): Uint8Array => {
    const len = r.uvarint();
    if (r.pos + len > body.length) throw corrupt("truncated data");
    const out = body.subarray(r.pos, r.pos + len);
    r.pos += len;
    return out;
  };
  for (let i = 0; i < n; i++) {
    const key = view();
    const bkey = toBinary(key);
    const main = r.uvarint();
    const sub = r.uvarint();
    const ver = r.uvarint();
    order.next(main, sub);
    if (ver === 0) {
      index.add(bkey, key, EMPTY_BYTES, main, sub, 0, 0, 0n);
    } else {
      const create = r.uvarint();
      const value = view();
      const lease = r.i64leOrZero();
      index.add(bkey, key, value, main, sub, create, ver, lease);
    }
    if (i % VERSIONS_PER_STEP === VERSIONS_PER_STEP - 1) yield;
  }
  if (!r.done()) throw corrupt("trailing bytes");
  yield* index.endBulkSteps();
  return { index, currentRev, compactRev };
}

function* decodeV1(r: ByteReader): Steps<DecodedStore> {
  const currentRev = r.uvarint();
  const compactRev = r.uvarint() - 1;
  const nKeys = r.uvarint();
  const keys: { bkey: string; key: Uint8Array }[] = [];
  for (let i = 0; i < nKeys; i++) {
    const key = r.lenBytes();
    keys.push({ bkey: toBinary(key), key });
  }
  const index = new KeyIndex();
  index.beginBulk();
  const n = r.uvarint();
  const order = new OrderCheck(currentRev);
  for (let i = 0; i < n; i++) {
    const k = keys[r.uvarint()];
    if (k === undefined) throw corrupt("bad key index");
    const main = r.uvarint();
    const sub = r.uvarint();
    const ver = r.uvarint();
    order.next(main, sub);
    if (ver === 0) {
      index.add(k.bkey, k.key, EMPTY_BYTES, main, sub, 0, 0, 0n);
    } else {
      const create = r.uvarint();
      const value = r.lenBytes();
      const lease = r.i64leOrZero();
      index.add(k.bkey, k.key, value, main, sub, create, ver, lease);
    }
    if (i % VERSIONS_PER_STEP === VERSIONS_PER_STEP - 1) yield;
  }
  if (!r.done()) throw corrupt("trailing bytes");
  yield* index.endBulkSteps();
  return { index, currentRev, compactRev };
}
