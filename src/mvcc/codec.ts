/**
 * Snapshot encoding of the whole MVCC state: current and compact revision,
 * then every retained version in revision order. All varints unsigned.
 *
 * Version 2 (written), a single pass over a point-in-time view, so it can
 * be produced in chunks with the event loop running in between:
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
import { ByteReader, ByteWriter } from "./bytes.ts";
import { crc32c, crc32cAppend } from "../wire/crc32c.ts";
import { KeyIndex } from "./history.ts";
import { EMPTY_BYTES, toBinary } from "./keys.ts";
import type { StoreView } from "./view.ts";

const MAGIC_V1 = new TextEncoder().encode("CAIRNMV1");
const MAGIC_V2 = new TextEncoder().encode("CAIRNMV2");
const MAGIC_LEN = 8;

/** Default chunk size of {@link storeChunks}: big enough to amortize, small enough to yield often. */
export const STORE_CHUNK_BYTES = 1 << 20;

/** What a snapshot holds. */
export interface DecodedStore {
  index: KeyIndex;
  currentRev: number;
  compactRev: number;
}

/**
 * Encodes a point-in-time view as a sequence of chunks of about
 * `chunkBytes` each (a value larger than that makes a larger chunk);
 * their concatenation is the snapshot. The caller may do anything between
 * chunks, including writing to and compacting the store the view was
 * taken from: the view does not change.
 */
export function* storeChunks(
  view: StoreView,
  chunkBytes = STORE_CHUNK_BYTES,
): Generator<Uint8Array, void, undefined> {
  // A fresh writer per chunk, handed out as a view: no copy of each chunk.
  let w = new ByteWriter(chunkBytes + 1024);
  let crc = 0;
  const flush = (): Uint8Array => {
    const out = w.view();
    crc = crc32cAppend(crc, out);
    w = new ByteWriter(chunkBytes + 1024);
    return out;
  };
  w.bytes(MAGIC_V2);
  w.uvarint(view.currentRevision);
  w.uvarint(view.compactRevision + 1);
  w.uvarint(view.length);
  for (let i = 0; i < view.length; i++) {
    const v = view.version(i);
    const bytes = v.storedBytes();
    const klen = v.bkey.length;
    w.lenBytes(bytes.subarray(0, klen));
    w.uvarint(v.main);
    w.uvarint(v.sub);
    w.uvarint(v.ver);
    if (v.ver !== 0) {
      w.uvarint(v.create);
      w.lenBytes(bytes.subarray(klen));
      w.i64le(v.lease);
    }
    if (w.length >= chunkBytes) yield flush();
  }
  const last = flush();
  const sum = crc >>> 0;
  const out = new Uint8Array(last.length + 4);
  out.set(last);
  for (let i = 0; i < 4; i++) out[last.length + i] = (sum >>> (8 * i)) & 0xff;
  yield out;
}

/** Encodes a point-in-time view in one go (small stores, tests). */
export function encodeStore(view: StoreView): Uint8Array {
  return concatChunks([...storeChunks(view)]);
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

/** Decodes and checks a snapshot made by {@link storeChunks} (or an older version 1 one). */
export function decodeStore(bytes: Uint8Array): DecodedStore {
  if (bytes.length < MAGIC_LEN + 4) throw corrupt("too short");
  const v2 = MAGIC_V2.every((b, i) => bytes[i] === b);
  if (!v2 && !MAGIC_V1.every((b, i) => bytes[i] === b)) {
    throw corrupt("bad magic or unknown version");
  }
  const body = bytes.subarray(0, bytes.length - 4);
  const t = bytes.length - 4;
  const stored = (bytes[t] | (bytes[t + 1] << 8) | (bytes[t + 2] << 16) | (bytes[t + 3] << 24)) >>>
    0;
  const sum = crc32c(body); // both versions use CRC-32C
  if (sum !== stored) throw corrupt("checksum mismatch");
  const r = new ByteReader(body);
  r.pos = MAGIC_LEN;
  return v2 ? decodeV2(r) : decodeV1(r);
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

function decodeV2(r: ByteReader): DecodedStore {
  const currentRev = r.uvarint();
  const compactRev = r.uvarint() - 1;
  const n = r.uvarint();
  const index = new KeyIndex();
  const order = new OrderCheck(currentRev);
  for (let i = 0; i < n; i++) {
    const key = r.lenBytes();
    let bkey = toBinary(key);
    // One string per key, shared by all its versions (as a live store has).
    const hist = index.map.get(bkey);
    if (hist !== undefined) bkey = hist[0].bkey;
    const main = r.uvarint();
    const sub = r.uvarint();
    const ver = r.uvarint();
    order.next(main, sub);
    if (ver === 0) {
      index.add(bkey, key, EMPTY_BYTES, main, sub, 0, 0, 0n);
    } else {
      const create = r.uvarint();
      const value = r.lenBytes();
      const lease = r.i64le();
      index.add(bkey, key, value, main, sub, create, ver, lease);
    }
  }
  if (!r.done()) throw corrupt("trailing bytes");
  return { index, currentRev, compactRev };
}

function decodeV1(r: ByteReader): DecodedStore {
  const currentRev = r.uvarint();
  const compactRev = r.uvarint() - 1;
  const nKeys = r.uvarint();
  const keys: { bkey: string; key: Uint8Array }[] = [];
  for (let i = 0; i < nKeys; i++) {
    const key = r.lenBytes();
    keys.push({ bkey: toBinary(key), key });
  }
  const index = new KeyIndex();
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
      const lease = r.i64le();
      index.add(k.bkey, k.key, value, main, sub, create, ver, lease);
    }
  }
  if (!r.done()) throw corrupt("trailing bytes");
  return { index, currentRev, compactRev };
}
