/**
 * Snapshot encoding of the whole MVCC state: current and compact revision,
 * then every retained version in revision order (keys written once in a
 * table). Layout, all varints unsigned:
 *
 *   "CAIRNMV1" | currentRev | compactRev+1 | nKeys | nKeys x (len, key bytes)
 *   | nVersions | nVersions x (keyIdx, main, sub, ver,
 *                             [ver>0: create, len, value, lease i64le])
 *   | crc32c of everything before (u32 little-endian)
 */
import { ByteReader, ByteWriter } from "./bytes.ts";
import { crc32c } from "./crc32c.ts";
import { KeyIndex } from "./history.ts";
import { EMPTY_BYTES, toBinary } from "./keys.ts";

const MAGIC = new TextEncoder().encode("CAIRNMV1");

/** What a snapshot holds. */
export interface DecodedStore {
  index: KeyIndex;
  currentRev: number;
  compactRev: number;
}

/** Encodes the full state. */
export function encodeStore(index: KeyIndex, currentRev: number, compactRev: number): Uint8Array {
  const w = new ByteWriter(64 + index.bytes);
  w.bytes(MAGIC);
  w.uvarint(currentRev);
  w.uvarint(compactRev + 1);
  const ids = new Map<string, number>();
  w.uvarint(index.map.size);
  for (const [bkey, hist] of index.map) {
    ids.set(bkey, ids.size);
    w.lenBytes(hist[0].key);
  }
  w.uvarint(index.log.length);
  for (const v of index.log) {
    w.uvarint(ids.get(v.bkey)!);
    w.uvarint(v.main);
    w.uvarint(v.sub);
    w.uvarint(v.ver);
    if (v.ver === 0) continue;
    w.uvarint(v.create);
    w.lenBytes(v.value);
    w.i64le(v.lease);
  }
  const sum = crc32c(w.view());
  for (let i = 0; i < 4; i++) w.byte((sum >>> (8 * i)) & 0xff);
  return w.finish();
}

function corrupt(why: string): Error {
  return new Error(`mvcc snapshot: ${why}`);
}

/** Decodes and checks a snapshot made by `encodeStore`. */
export function decodeStore(bytes: Uint8Array): DecodedStore {
  if (bytes.length < MAGIC.length + 4) throw corrupt("too short");
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw corrupt("bad magic or unknown version");
  }
  const body = bytes.subarray(0, bytes.length - 4);
  const t = bytes.length - 4;
  const stored = (bytes[t] | (bytes[t + 1] << 8) | (bytes[t + 2] << 16) | (bytes[t + 3] << 24)) >>>
    0;
  if (crc32c(body) !== stored) throw corrupt("checksum mismatch");

  const r = new ByteReader(body);
  r.pos = MAGIC.length;
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
  let lastMain = 0;
  let lastSub = -1;
  for (let i = 0; i < n; i++) {
    const k = keys[r.uvarint()];
    if (k === undefined) throw corrupt("bad key index");
    const main = r.uvarint();
    const sub = r.uvarint();
    const ver = r.uvarint();
    if (main < lastMain || (main === lastMain && sub <= lastSub) || main > currentRev) {
      throw corrupt("revisions out of order");
    }
    lastMain = main;
    lastSub = sub;
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
