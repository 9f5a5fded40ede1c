/**
 * bbolt's on-disk page format (go.etcd.io/bbolt, file format version 2),
 * the shape of etcd's backend database and of the files `etcdctl snapshot
 * save` writes. Every integer in page and meta headers is little-endian
 * (bbolt writes native structs on amd64/arm64); keys and values are opaque
 * bytes the application chooses.
 *
 * A page starts with a 16-byte header: id u64, flags u16, count u16,
 * overflow u32 (how many further pages the same node spills over). Branch
 * elements are pos u32, ksize u32, pgid u64; leaf elements flags u32,
 * pos u32, ksize u32, vsize u32. `pos` counts from the element itself.
 *
 * @module
 */

/** The page size cairn writes (bbolt's default on 4 KiB-page systems). */
export const PAGE_SIZE = 4096;
/** Identifies a bbolt file in both meta pages. */
export const MAGIC = 0xed0cdaed;
/** The data file format version bbolt writes and reads. */
export const VERSION = 2;

/** Bytes of the header every page starts with. */
export const PAGE_HEADER_SIZE = 16;
/** Bytes of one branch or leaf element. */
export const ELEMENT_SIZE = 16;
/** Bytes of a bucket header (root pgid u64, sequence u64). */
export const BUCKET_HEADER_SIZE = 16;
/** Offset of the checksum inside the meta structure: it covers the 56 bytes before it. */
export const META_CHECKSUM_OFFSET = 56;

/** Page type flags. */
export const BRANCH_PAGE = 0x01;
/** A leaf page: key/value (or bucket) elements. */
export const LEAF_PAGE = 0x02;
/** One of the two meta pages (pages 0 and 1). */
export const META_PAGE = 0x04;
/** The page listing free page ids. */
export const FREELIST_PAGE = 0x10;

/** Leaf element flag: the value is a bucket header (and maybe an inline page). */
export const BUCKET_LEAF_FLAG = 0x01;

/** Freelist pgid when the database does not persist its freelist (NoFreelistSync). */
export const NO_FREELIST = 0xffffffffffffffffn;

/**
 * A bucket is stored inline in its parent's leaf when its only leaf node
 * is at most this fraction of a page (bbolt's inlinePageRatio).
 */
export const INLINE_PAGE_RATIO = 0.25;

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** FNV-1a 64-bit hash, the meta page checksum. */
export function fnv64a(bytes: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) {
    h ^= BigInt(bytes[i]);
    h = (h * FNV_PRIME) & MASK64;
  }
  return h;
}

/** The fields of a meta page. */
export interface Meta {
  pageSize: number;
  flags: number;
  /** Page id of the root bucket's root node. */
  root: bigint;
  /** Root bucket sequence (unused by etcd). */
  sequence: bigint;
  /** Page id of the freelist, or {@link NO_FREELIST}. */
  freelist: bigint;
  /** High-water mark: the number of pages in use (file size / page size). */
  pgid: bigint;
  txid: bigint;
}

/** A whole meta page (page `id`) for `meta`, checksum included. */
export function encodeMetaPage(id: number, meta: Meta): Uint8Array {
  const page = new Uint8Array(meta.pageSize);
  const v = new DataView(page.buffer);
  writePageHeader(v, 0, BigInt(id), META_PAGE, 0, 0);
  const m = PAGE_HEADER_SIZE;
  v.setUint32(m, MAGIC, true);
  v.setUint32(m + 4, VERSION, true);
  v.setUint32(m + 8, meta.pageSize, true);
  v.setUint32(m + 12, meta.flags, true);
  v.setBigUint64(m + 16, meta.root, true);
  v.setBigUint64(m + 24, meta.sequence, true);
  v.setBigUint64(m + 32, meta.freelist, true);
  v.setBigUint64(m + 40, meta.pgid, true);
  v.setBigUint64(m + 48, meta.txid, true);
  const sum = fnv64a(page.subarray(m, m + META_CHECKSUM_OFFSET));
  v.setBigUint64(m + META_CHECKSUM_OFFSET, sum, true);
  return page;
}

/** Writes a page header at `off`. */
export function writePageHeader(
  v: DataView,
  off: number,
  id: bigint,
  flags: number,
  count: number,
  overflow: number,
): void {
  v.setBigUint64(off, id, true);
  v.setUint16(off + 8, flags, true);
  v.setUint16(off + 10, count, true);
  v.setUint32(off + 12, overflow, true);
}
