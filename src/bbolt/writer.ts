/**
 * Writes a compact bbolt database from sorted buckets of sorted key/values,
 * bottom-up: leaves are filled to a page in key order, then branch levels
 * are built over them until one root remains, per bucket and then for the
 * root bucket that names them. The result has no free pages, an empty
 * freelist on page 2, and two identical meta pages. Buckets are one level
 * deep, as etcd's are.
 *
 * Two passes, so a database of any size can be streamed without ever being
 * held whole: {@link planBolt} walks the entries once to lay out every
 * node (sizes, page ids, the first key of each node for the branches) and
 * learns the total size; {@link emitBolt} walks them again and produces the
 * pages in file order, one node at a time. Bucket entries must therefore be
 * iterable twice with the same result (an array, or an object whose
 * iterator starts afresh over a snapshot view). Planning yields every few
 * thousand entries so a caller on a busy event loop ({@link planBoltAsync})
 * lets other work run in between.
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

/**
 * A top-level bucket and its entries, in strictly ascending key order.
 * `entries` is iterated twice (plan, then emit) and must give the same
 * entries both times.
 */
export interface BoltBucketInput {
  name: Uint8Array;
  entries: Iterable<BoltEntry>;
}

/** A key, value and leaf flags placed in a leaf node. */
interface LeafItem {
  key: Uint8Array;
  value: Uint8Array;
  flags: number;
}

/** A node's place in the file and the first key its parent branch names it by. */
interface NodeRef {
  key: Uint8Array;
  pgid: number;
}

/** A planned leaf: how many items it takes and where it goes. */
interface LeafPlan extends NodeRef {
  count: number;
  size: number;
}

/** A planned branch: its children and where it goes. */
interface BranchPlan extends NodeRef {
  children: NodeRef[];
  size: number;
}

/** The layout of one tree (a bucket's, or the root bucket's). */
interface TreePlan {
  leaves: LeafPlan[];
  /** Branch levels, bottom up; empty when one leaf is the root. */
  branches: BranchPlan[][];
  root: number;
}

/** One bucket's layout: a tree of its own pages, or its single leaf inline in the root. */
interface BucketPlan {
  input: BoltBucketInput;
  /** Undefined for an inline bucket. */
  tree?: TreePlan;
  /** What the root bucket's leaf stores for it: header (and inline page). */
  value: Uint8Array;
}

/** The whole file's layout, from {@link planBolt}. */
export interface BoltPlan {
  buckets: BucketPlan[];
  rootItems: LeafItem[];
  root: TreePlan;
  /** Pages in the file (the meta pages' high-water mark). */
  pageCount: number;
  /** Bytes of the file: `pageCount` pages. */
  size: number;
}

/** How many elements the planner handles between two yields. */
const YIELD_EVERY = 4096;

/** Byte-wise comparison of two keys (bbolt orders keys with bytes.Compare). */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

function pagesFor(size: number): number {
  return Math.ceil(size / PAGE_SIZE);
}

/** Hands out page ids in file order. */
class PageCounter {
  next = 3; // 0 and 1 are the meta pages, 2 the freelist
  take(size: number): number {
    const pgid = this.next;
    this.next += pagesFor(size);
    return pgid;
  }
}

/**
 * Splits items into leaves as both passes do: a leaf takes items while
 * they fit in a page, and at least one (a larger item spills into overflow
 * pages). Calls `flush` with each leaf's items; yields now and then.
 */
function* splitLeaves(
  items: Iterable<LeafItem>,
  what: string,
  flush: (node: LeafItem[], size: number) => void,
): Generator<void> {
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
      flush(node, size);
      node = [];
      size = PAGE_HEADER_SIZE;
    }
    node.push(it);
    size += add;
    if (++n % YIELD_EVERY === 0) yield;
  }
  flush(node, size);
}

/** Lays out the branch levels over `leaves`, giving each node a page id. */
function planBranches(
  pages: PageCounter,
  leaves: NodeRef[],
): { levels: BranchPlan[][]; root: number } {
  const levels: BranchPlan[][] = [];
  let level: NodeRef[] = leaves;
  while (level.length > 1) {
    const up: BranchPlan[] = [];
    let group: NodeRef[] = [];
    let size = PAGE_HEADER_SIZE;
    const flush = () => {
      up.push({ key: group[0].key, pgid: pages.take(size), children: group, size });
      group = [];
      size = PAGE_HEADER_SIZE;
    };
    for (const c of level) {
      const add = ELEMENT_SIZE + c.key.length;
      // A branch keeps at least two children so the tree always narrows.
      if (group.length >= 2 && size + add > PAGE_SIZE) flush();
      group.push(c);
      size += add;
    }
    if (group.length > 0) flush();
    levels.push(up);
    level = up;
  }
  return { levels, root: level[0].pgid };
}

/** Plans a tree whose leaves are `leaves` (already given page ids). */
function planTree(pages: PageCounter, leaves: LeafPlan[]): TreePlan {
  if (leaves.length === 1) return { leaves, branches: [], root: leaves[0].pgid };
  const { levels, root } = planBranches(pages, leaves);
  return { leaves, branches: levels, root };
}

function* asItems(entries: Iterable<BoltEntry>, flags = 0): Generator<LeafItem> {
  for (const [key, value] of entries) yield { key, value, flags };
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

function leafPage(pgid: number, size: number, items: readonly LeafItem[]): Uint8Array {
  const pages = pagesFor(size);
  const buf = new Uint8Array(pages * PAGE_SIZE);
  encodeLeaf(buf, pgid, pages - 1, items);
  return buf;
}

function branchPage(b: BranchPlan): Uint8Array {
  const pages = pagesFor(b.size);
  const buf = new Uint8Array(pages * PAGE_SIZE);
  const v = new DataView(buf.buffer);
  writePageHeader(v, 0, BigInt(b.pgid), BRANCH_PAGE, b.children.length, pages - 1);
  let data = PAGE_HEADER_SIZE + ELEMENT_SIZE * b.children.length;
  for (let i = 0; i < b.children.length; i++) {
    const c = b.children[i];
    const e = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
    v.setUint32(e, data - e, true);
    v.setUint32(e + 4, c.key.length, true);
    v.setBigUint64(e + 8, BigInt(c.pgid), true);
    buf.set(c.key, data);
    data += c.key.length;
  }
  return buf;
}

/**
 * First pass: lays out the database for `buckets` (names strictly
 * ascending, each bucket's keys strictly ascending). Yields now and then;
 * throws on unordered input.
 */
export function* planBolt(buckets: Iterable<BoltBucketInput>): Generator<void, BoltPlan> {
  const pages = new PageCounter();
  const plans: BucketPlan[] = [];
  const rootItems: LeafItem[] = [];
  let prev: Uint8Array | undefined;
  for (const input of buckets) {
    if (prev !== undefined && compareKeys(prev, input.name) >= 0) {
      throw new Error("bbolt writer: bucket names are not in strictly ascending order");
    }
    prev = input.name;
    const what = `bucket ${JSON.stringify(new TextDecoder().decode(input.name))}`;
    const nodes: { items?: LeafItem[]; plan: LeafPlan }[] = [];
    yield* splitLeaves(asItems(input.entries), what, (items, size) => {
      // Only a lone first leaf may become inline: keep its items until we know.
      const keep = nodes.length === 0 ? items : undefined;
      nodes.push({
        items: keep,
        plan: { key: items[0]?.key ?? new Uint8Array(0), pgid: 0, count: items.length, size },
      });
    });
    let plan: BucketPlan;
    if (nodes.length === 1 && nodes[0].plan.size <= PAGE_SIZE * INLINE_PAGE_RATIO) {
      // Inline: the header (root 0), then the leaf as a page of its own.
      const value = new Uint8Array(BUCKET_HEADER_SIZE + nodes[0].plan.size);
      encodeLeaf(value.subarray(BUCKET_HEADER_SIZE), 0, 0, nodes[0].items!);
      plan = { input, value };
    } else {
      const leaves = nodes.map((n) => {
        n.plan.pgid = pages.take(n.plan.size);
        return n.plan;
      });
      const tree = planTree(pages, leaves);
      const value = new Uint8Array(BUCKET_HEADER_SIZE);
      new DataView(value.buffer).setBigUint64(0, BigInt(tree.root), true);
      plan = { input, tree, value };
    }
    plans.push(plan);
    rootItems.push({ key: input.name, value: plan.value, flags: BUCKET_LEAF_FLAG });
  }
  // The root bucket is never inline: the meta pages name its root page.
  const rootLeaves: LeafPlan[] = [];
  for (
    const _ of splitLeaves(rootItems, "the root bucket", (items, size) => {
      rootLeaves.push({
        key: items[0]?.key ?? new Uint8Array(0),
        pgid: pages.take(size),
        count: items.length,
        size,
      });
    })
  ) {
    // the root bucket is small: nothing to yield for
  }
  const root = planTree(pages, rootLeaves);
  return { buckets: plans, rootItems, root, pageCount: pages.next, size: pages.next * PAGE_SIZE };
}

/** Plans the database, giving the event loop a turn roughly every `sliceMs` of work. */
export async function planBoltAsync(
  buckets: Iterable<BoltBucketInput>,
  sliceMs = 5,
): Promise<BoltPlan> {
  const gen = planBolt(buckets);
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

/** Emits a planned tree's pages: its leaves (from `items`), then its branch levels. */
function* emitTree(
  tree: TreePlan,
  items: Iterable<LeafItem>,
  what: string,
): Generator<Uint8Array> {
  const it = items[Symbol.iterator]();
  for (const leaf of tree.leaves) {
    const node: LeafItem[] = new Array(leaf.count);
    for (let i = 0; i < leaf.count; i++) {
      const r = it.next();
      if (r.done) throw new Error(`bbolt writer: ${what} changed between planning and writing`);
      node[i] = r.value;
    }
    const page = leafPage(leaf.pgid, leaf.size, node);
    if (
      page.length !== pagesFor(leaf.size) * PAGE_SIZE ||
      compareKeys(node[0]?.key ?? new Uint8Array(0), leaf.key) !== 0
    ) {
      throw new Error(`bbolt writer: ${what} changed between planning and writing`);
    }
    yield page;
  }
  if (!it.next().done) {
    throw new Error(`bbolt writer: ${what} changed between planning and writing`);
  }
  for (const level of tree.branches) {
    for (const b of level) yield branchPage(b);
  }
}

/**
 * Second pass: the file's pages in order (meta, meta, freelist, then every
 * node), each node as one buffer of whole pages. Reads the buckets'
 * entries again; throws if they no longer match the plan.
 */
export function* emitBolt(plan: BoltPlan): Generator<Uint8Array> {
  const meta = {
    pageSize: PAGE_SIZE,
    flags: 0,
    root: BigInt(plan.root.root),
    sequence: 0n,
    freelist: 2n,
    pgid: BigInt(plan.pageCount),
    txid: 1n,
  };
  yield encodeMetaPage(0, meta);
  yield encodeMetaPage(1, meta);
  const freelist = new Uint8Array(PAGE_SIZE);
  writePageHeader(new DataView(freelist.buffer), 0, 2n, FREELIST_PAGE, 0, 0);
  yield freelist;
  for (const b of plan.buckets) {
    if (b.tree === undefined) continue;
    yield* emitTree(
      b.tree,
      asItems(b.input.entries),
      `bucket ${JSON.stringify(new TextDecoder().decode(b.input.name))}`,
    );
  }
  yield* emitTree(plan.root, plan.rootItems, "the root bucket");
}

/** Builds the whole database at once (tests, small databases). */
export function buildBolt(buckets: Iterable<BoltBucketInput>): Uint8Array {
  const gen = planBolt(buckets);
  let r = gen.next();
  while (!r.done) r = gen.next();
  return concatPages([...emitBolt(r.value)], r.value.size);
}

/** Joins page buffers into one file image (`size` bytes when known). */
export function concatPages(chunks: readonly Uint8Array[], size?: number): Uint8Array {
  let n = size ?? 0;
  if (size === undefined) { for (const c of chunks) n += c.length; }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
