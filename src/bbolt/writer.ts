/**
 * Writes a compact bbolt database from sorted buckets of sorted key/values,
 * bottom-up: leaves are filled to a page in key order, then branch levels
 * are built over them until one root remains, per bucket and then for the
 * root bucket that names them. The result has no free pages, an empty
 * freelist on page 2, and two identical meta pages, which is what bbolt's
 * own compaction (and `etcdctl snapshot save` of a defragmented member)
 * produces in spirit. Buckets are one level deep, as etcd's are.
 *
 * The writer is a generator that yields every few thousand elements, so a
 * caller on a busy event loop ({@link buildBoltAsync}) can let other work
 * run in between.
 *
 * @module
 */
import {
  BRANCH_PAGE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  ELEMENT_SIZE,
  encodeMetaPage,
  FREELIST_PAGE,
  INLINE_PAGE_RATIO,
  LEAF_PAGE,
  PAGE_HEADER_SIZE,
  PAGE_SIZE,
  writePageHeader,
} from "./format.ts";

/** One key/value pair of a bucket. */
export type BoltEntry = readonly [key: Uint8Array, value: Uint8Array];

/** A top-level bucket and its entries, in strictly ascending key order. */
export interface BoltBucketInput {
  name: Uint8Array;
  entries: Iterable<BoltEntry>;
}

/** A key, value and leaf flags waiting to be placed in a leaf node. */
interface LeafItem {
  key: Uint8Array;
  value: Uint8Array;
  flags: number;
}

/** A written node: its first key and page id, for the branch above it. */
interface ChildRef {
  key: Uint8Array;
  pgid: number;
}

/** How many elements the writer places between two yields. */
const YIELD_EVERY = 4096;

/** Byte-wise comparison of two keys (bbolt orders keys with bytes.Compare). */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

/** Assembles pages in page-id order; ids 0-2 (meta, meta, freelist) come last. */
class PageSink {
  readonly chunks: Uint8Array[] = [];
  next = 3;

  /** Lays out one node of `size` bytes, returning its page id and buffer. */
  alloc(size: number): { pgid: number; buf: Uint8Array } {
    const pages = Math.ceil(size / PAGE_SIZE);
    const buf = new Uint8Array(pages * PAGE_SIZE);
    const pgid = this.next;
    this.next += pages;
    this.chunks.push(buf);
    return { pgid, buf };
  }
}

function leafSize(items: readonly LeafItem[]): number {
  let s = PAGE_HEADER_SIZE;
  for (const it of items) s += ELEMENT_SIZE + it.key.length + it.value.length;
  return s;
}

/** Encodes a leaf node into `buf` at offset 0 (page id `id`, `overflow` extra pages). */
function encodeLeaf(buf: Uint8Array, id: number, overflow: number, items: readonly LeafItem[]) {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  writePageHeader(v, 0, BigInt(id), LEAF_PAGE, items.length, overflow);
  let data = PAGE_HEADER_SIZE + ELEMENT_SIZE * items.length;
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const e = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
    v.setUint32(e, it.flags, true);
    v.setUint32(e + 4, data - e, true);
    v.setUint32(e + 8, it.key.length, true);
    v.setUint32(e + 12, it.value.length, true);
    buf.set(it.key, data);
    data += it.key.length;
    buf.set(it.value, data);
    data += it.value.length;
  }
}

function encodeBranch(buf: Uint8Array, id: number, overflow: number, children: ChildRef[]) {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  writePageHeader(v, 0, BigInt(id), BRANCH_PAGE, children.length, overflow);
  let data = PAGE_HEADER_SIZE + ELEMENT_SIZE * children.length;
  for (let i = 0; i < children.length; i++) {
    const c = children[i];
    const e = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
    v.setUint32(e, data - e, true);
    v.setUint32(e + 4, c.key.length, true);
    v.setBigUint64(e + 8, BigInt(c.pgid), true);
    buf.set(c.key, data);
    data += c.key.length;
  }
}

/** Writes `items` as a leaf node; returns its reference. */
function flushLeaf(sink: PageSink, items: LeafItem[]): ChildRef {
  const size = leafSize(items);
  const { pgid, buf } = sink.alloc(size);
  encodeLeaf(buf, pgid, buf.length / PAGE_SIZE - 1, items);
  return { key: items[0].key, pgid };
}

/** Builds the branch levels over `level` until one root is left; returns its page id. */
function* buildBranches(sink: PageSink, level: ChildRef[]): Generator<void, number> {
  while (level.length > 1) {
    const up: ChildRef[] = [];
    let group: ChildRef[] = [];
    let size = PAGE_HEADER_SIZE;
    const flush = () => {
      const { pgid, buf } = sink.alloc(size);
      encodeBranch(buf, pgid, buf.length / PAGE_SIZE - 1, group);
      up.push({ key: group[0].key, pgid });
      group = [];
      size = PAGE_HEADER_SIZE;
    };
    for (let i = 0; i < level.length; i++) {
      const c = level[i];
      const add = ELEMENT_SIZE + c.key.length;
      // A branch keeps at least two children so the tree always narrows.
      if (group.length >= 2 && size + add > PAGE_SIZE) flush();
      group.push(c);
      size += add;
      if (i % YIELD_EVERY === YIELD_EVERY - 1) yield;
    }
    if (group.length > 0) flush();
    level = up;
  }
  return level[0].pgid;
}

/**
 * Writes the tree of one bucket (leaf items in order) and returns the
 * value its parent stores: a bucket header naming the root page, or, for a
 * bucket small enough, the header followed by its inline leaf page.
 */
function* writeTree(
  sink: PageSink,
  items: Iterable<LeafItem>,
  what: string,
): Generator<void, Uint8Array> {
  const leaves: ChildRef[] = [];
  let node: LeafItem[] = [];
  let size = PAGE_HEADER_SIZE;
  let prev: Uint8Array | undefined;
  let n = 0;
  for (const it of items) {
    if (prev !== undefined && compareKeys(prev, it.key) >= 0) {
      throw new Error(`bbolt writer: keys of ${what} are not in strictly ascending order`);
    }
    prev = it.key;
    const add = ELEMENT_SIZE + it.key.length + it.value.length;
    if (node.length > 0 && size + add > PAGE_SIZE) {
      leaves.push(flushLeaf(sink, node));
      node = [];
      size = PAGE_HEADER_SIZE;
    }
    node.push(it);
    size += add;
    if (++n % YIELD_EVERY === 0) yield;
  }
  const header = new Uint8Array(BUCKET_HEADER_SIZE);
  if (leaves.length === 0 && size <= PAGE_SIZE * INLINE_PAGE_RATIO) {
    // Inline: the header (root 0) then the leaf as a page of its own.
    const inline = new Uint8Array(BUCKET_HEADER_SIZE + size);
    encodeLeaf(inline.subarray(BUCKET_HEADER_SIZE), 0, 0, node);
    return inline;
  }
  if (node.length > 0 || leaves.length === 0) leaves.push(flushLeaf(sink, node));
  const root = leaves.length === 1 ? leaves[0].pgid : yield* buildBranches(sink, leaves);
  new DataView(header.buffer).setBigUint64(0, BigInt(root), true);
  return header;
}

/**
 * Generates the database for `buckets` (names strictly ascending, each
 * bucket's keys strictly ascending); yields now and then, returns the
 * file's pages in order. Throws on unordered input.
 */
export function* boltDatabase(
  buckets: Iterable<BoltBucketInput>,
): Generator<void, Uint8Array[]> {
  const sink = new PageSink();
  const rootItems: LeafItem[] = [];
  let prev: Uint8Array | undefined;
  for (const b of buckets) {
    if (prev !== undefined && compareKeys(prev, b.name) >= 0) {
      throw new Error("bbolt writer: bucket names are not in strictly ascending order");
    }
    prev = b.name;
    const name = new TextDecoder().decode(b.name);
    const items = mapEntries(b.entries);
    const value = yield* writeTree(sink, items, `bucket ${JSON.stringify(name)}`);
    rootItems.push({ key: b.name, value, flags: BUCKET_LEAF_FLAG });
  }
  // The root bucket is never inline: meta pages name its root page.
  const rootLeaves: ChildRef[] = [];
  let node: LeafItem[] = [];
  let size = PAGE_HEADER_SIZE;
  for (const it of rootItems) {
    const add = ELEMENT_SIZE + it.key.length + it.value.length;
    if (node.length > 0 && size + add > PAGE_SIZE) {
      rootLeaves.push(flushLeaf(sink, node));
      node = [];
      size = PAGE_HEADER_SIZE;
    }
    node.push(it);
    size += add;
  }
  if (node.length > 0 || rootLeaves.length === 0) {
    const { pgid, buf } = sink.alloc(leafSize(node));
    encodeLeaf(buf, pgid, buf.length / PAGE_SIZE - 1, node);
    rootLeaves.push({ key: node[0]?.key ?? new Uint8Array(0), pgid });
  }
  const root = rootLeaves.length === 1
    ? rootLeaves[0].pgid
    : yield* buildBranches(sink, rootLeaves);

  const meta = {
    pageSize: PAGE_SIZE,
    flags: 0,
    root: BigInt(root),
    sequence: 0n,
    freelist: 2n,
    pgid: BigInt(sink.next),
    txid: 1n,
  };
  const freelist = new Uint8Array(PAGE_SIZE);
  writePageHeader(new DataView(freelist.buffer), 0, 2n, FREELIST_PAGE, 0, 0);
  return [encodeMetaPage(0, meta), encodeMetaPage(1, meta), freelist, ...sink.chunks];
}

function* mapEntries(entries: Iterable<BoltEntry>): Generator<LeafItem> {
  for (const [key, value] of entries) yield { key, value, flags: 0 };
}

/** Builds the whole database at once (tests, small databases). */
export function buildBolt(buckets: Iterable<BoltBucketInput>): Uint8Array {
  const gen = boltDatabase(buckets);
  for (;;) {
    const r = gen.next();
    if (r.done) return concatPages(r.value);
  }
}

/**
 * Builds the database, giving the event loop a turn roughly every
 * `sliceMs` of work so a large store does not stall other tasks.
 */
export async function buildBoltAsync(
  buckets: Iterable<BoltBucketInput>,
  sliceMs = 5,
): Promise<Uint8Array[]> {
  const gen = boltDatabase(buckets);
  let start = performance.now();
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
    if (performance.now() - start >= sliceMs) {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
      start = performance.now();
    }
  }
}

/** Joins page chunks into one file image. */
export function concatPages(chunks: readonly Uint8Array[]): Uint8Array {
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
