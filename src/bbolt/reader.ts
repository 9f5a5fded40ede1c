/**
 * Reads a bbolt database image (etcd's `db` file or a saved snapshot with
 * its trailer removed): picks the newest valid meta page, then walks the
 * root bucket and each top-level bucket's B+tree in key order, following
 * branch pages, overflow pages and inline buckets. Nested buckets, which
 * etcd never creates, are refused with a clear error rather than skipped.
 *
 * @module
 */
import {
  BRANCH_PAGE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  ELEMENT_SIZE,
  fnv64a,
  LEAF_PAGE,
  MAGIC,
  type Meta,
  META_CHECKSUM_OFFSET,
  PAGE_HEADER_SIZE,
  VERSION,
} from "./format.ts";
import type { BoltEntry } from "./writer.ts";

/**
 * Which of bbolt's own open errors a refusal corresponds to: `invalid`
 * (ErrInvalid, "invalid database"), `version` (ErrVersionMismatch),
 * `checksum` (ErrChecksum), or `damaged` for damage found while walking.
 */
export type BoltErrorKind = "invalid" | "version" | "checksum" | "damaged";

/** The file is not a bbolt database this reader can use, or is damaged. */
export class BoltFormatError extends Error {
  /**
   * @param message what is wrong, naming the page where one is involved
   * @param kind the bbolt error it corresponds to
   */
  constructor(message: string, readonly kind: BoltErrorKind = "damaged") {
    super(message);
    this.name = "BoltFormatError";
  }

  /** bbolt's own message for this kind of failure, as etcd's tools print it. */
  get boltMessage(): string {
    switch (this.kind) {
      case "invalid":
        return "invalid database";
      case "version":
        return "version mismatch";
      case "checksum":
        return "checksum error";
      default:
        return this.message;
    }
  }
}

/** Deepest tree the reader follows (a real one is a handful of levels). */
const MAX_DEPTH = 64;
/** Smallest meta page size bbolt accepts. */
const MIN_PAGE_SIZE = 512;

/** Where a tree's nodes live: pages of the file, or one inline leaf page. */
interface TreeRoot {
  pgid: bigint;
  /** The inline page bytes when the bucket is stored inside its parent. */
  inline?: Uint8Array;
}

/** An opened, read-only bbolt image. */
export class BoltReader {
  /** The meta page in use (the valid one with the highest txid). */
  readonly meta: Meta;
  readonly #data: Uint8Array;
  readonly #view: DataView;

  /** Opens `data`, checking the meta pages; throws {@link BoltFormatError}. */
  constructor(data: Uint8Array) {
    this.#data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const first = this.#readMeta(0);
    const pageSize = first.meta?.pageSize ?? 4096;
    const second = data.length >= pageSize * 2
      ? this.#readMeta(pageSize)
      : { err: "is missing", kind: "invalid" as const };
    const metas = [first.meta, second.meta].filter((m): m is Meta => m !== undefined);
    if (metas.length === 0) {
      throw new BoltFormatError(`not a bbolt database: meta page 0 ${first.err}`, first.kind);
    }
    metas.sort((a, b) => (a.txid > b.txid ? -1 : a.txid < b.txid ? 1 : 0));
    this.meta = metas[0];
    if (BigInt(data.length) < this.meta.pgid * BigInt(this.meta.pageSize)) {
      throw new BoltFormatError(
        `file size too small: ${data.length} bytes, the meta page counts ` +
          `${this.meta.pgid} pages of ${this.meta.pageSize}`,
        "invalid",
      );
    }
  }

  /** Total size as bbolt's Tx.Size reports it: high-water page id times page size. */
  get size(): number {
    return Number(this.meta.pgid) * this.meta.pageSize;
  }

  #readMeta(off: number): { meta?: Meta; err?: string; kind?: BoltErrorKind } {
    const v = this.#view;
    const m = off + PAGE_HEADER_SIZE;
    if (this.#data.length < m + META_CHECKSUM_OFFSET + 8) {
      return { err: "is truncated", kind: "invalid" };
    }
    if (v.getUint32(m, true) !== MAGIC) {
      return { err: "has an invalid magic number", kind: "invalid" };
    }
    if (v.getUint32(m + 4, true) !== VERSION) {
      return { err: "has an unsupported version", kind: "version" };
    }
    const sum = fnv64a(this.#data.subarray(m, m + META_CHECKSUM_OFFSET));
    if (v.getBigUint64(m + META_CHECKSUM_OFFSET, true) !== sum) {
      return { err: "has a checksum mismatch", kind: "checksum" };
    }
    const pageSize = v.getUint32(m + 8, true);
    if (pageSize < MIN_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0) {
      return { err: `has an invalid page size ${pageSize}`, kind: "invalid" };
    }
    return {
      meta: {
        pageSize,
        flags: v.getUint32(m + 12, true),
        root: v.getBigUint64(m + 16, true),
        sequence: v.getBigUint64(m + 24, true),
        freelist: v.getBigUint64(m + 32, true),
        pgid: v.getBigUint64(m + 40, true),
        txid: v.getBigUint64(m + 48, true),
      },
    };
  }

  /** Names of the top-level buckets, in order. */
  bucketNames(): Uint8Array[] {
    const names: Uint8Array[] = [];
    for (const [name] of this.#walkRoot()) names.push(name);
    return names;
  }

  /** Whether a top-level bucket named `name` exists. */
  hasBucket(name: string): boolean {
    return this.#findBucket(name) !== undefined;
  }

  /** Every entry of top-level bucket `name` in key order (none if it does not exist). */
  *entries(name: string): Generator<BoltEntry> {
    const root = this.#findBucket(name);
    if (root === undefined) return;
    for (const [key, value, flags] of this.#walk(root, 0)) {
      if (flags & BUCKET_LEAF_FLAG) {
        throw new BoltFormatError(
          `bucket ${JSON.stringify(name)} holds a nested bucket ` +
            `${JSON.stringify(new TextDecoder().decode(key))}: etcd databases have none`,
        );
      }
      yield [key, value];
    }
  }

  /** Every bucket with its entries, in bucket-name then key order. */
  *buckets(): Generator<{ name: Uint8Array; entries: Generator<BoltEntry> }> {
    for (const name of this.bucketNames()) {
      yield { name, entries: this.entries(new TextDecoder().decode(name)) };
    }
  }

  #findBucket(name: string): TreeRoot | undefined {
    const want = new TextEncoder().encode(name);
    for (const [key, root] of this.#walkRoot()) {
      if (key.length === want.length && key.every((b, i) => b === want[i])) return root;
    }
    return undefined;
  }

  *#walkRoot(): Generator<[Uint8Array, TreeRoot]> {
    for (const [key, value, flags] of this.#walk({ pgid: this.meta.root }, 0)) {
      if (!(flags & BUCKET_LEAF_FLAG)) {
        throw new BoltFormatError(
          `the root bucket holds a plain key ${JSON.stringify(new TextDecoder().decode(key))}`,
        );
      }
      yield [key, this.#bucketRoot(value, key)];
    }
  }

  #bucketRoot(value: Uint8Array, name: Uint8Array): TreeRoot {
    if (value.length < BUCKET_HEADER_SIZE) {
      throw new BoltFormatError(
        `bucket ${JSON.stringify(new TextDecoder().decode(name))} has a short header`,
      );
    }
    const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const pgid = v.getBigUint64(0, true);
    if (pgid !== 0n) return { pgid };
    return { pgid: 0n, inline: value.subarray(BUCKET_HEADER_SIZE) };
  }

  /** Yields [key, value, flags] of every leaf element under `root`, in order. */
  *#walk(root: TreeRoot, depth: number): Generator<[Uint8Array, Uint8Array, number]> {
    if (root.inline !== undefined) {
      yield* this.#leafElements(root.inline, "an inline bucket");
      return;
    }
    // Each page may appear once in a tree: a damaged file whose branches
    // point back at pages already walked would otherwise loop or explode.
    yield* this.#walkPage(root.pgid, depth, new Set());
  }

  *#walkPage(
    pgid: bigint,
    depth: number,
    seen: Set<bigint>,
  ): Generator<[Uint8Array, Uint8Array, number]> {
    if (depth > MAX_DEPTH) throw new BoltFormatError(`page ${pgid}: tree deeper than ${MAX_DEPTH}`);
    if (pgid < 2n || pgid >= this.meta.pgid) {
      throw new BoltFormatError(`page ${pgid} is out of range (high water mark ${this.meta.pgid})`);
    }
    if (seen.has(pgid)) throw new BoltFormatError(`page ${pgid} is referenced twice in one tree`);
    seen.add(pgid);
    const ps = this.meta.pageSize;
    const start = Number(pgid) * ps;
    const v = this.#view;
    const flags = v.getUint16(start + 8, true);
    const overflow = v.getUint32(start + 12, true);
    const end = start + (overflow + 1) * ps;
    if (end > this.#data.length) throw new BoltFormatError(`page ${pgid} runs past the file end`);
    const page = this.#data.subarray(start, end);
    if (flags & LEAF_PAGE) {
      yield* this.#leafElements(page, `page ${pgid}`);
    } else if (flags & BRANCH_PAGE) {
      const count = v.getUint16(start + 10, true);
      for (let i = 0; i < count; i++) {
        const e = start + PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
        if (e + ELEMENT_SIZE > end) throw new BoltFormatError(`page ${pgid}: element out of page`);
        yield* this.#walkPage(v.getBigUint64(e + 8, true), depth + 1, seen);
      }
    } else {
      throw new BoltFormatError(
        `page ${pgid}: expected a branch or leaf page, flags 0x${flags.toString(16)}`,
      );
    }
  }

  *#leafElements(page: Uint8Array, where: string): Generator<[Uint8Array, Uint8Array, number]> {
    const v = new DataView(page.buffer, page.byteOffset, page.byteLength);
    if (page.length < PAGE_HEADER_SIZE) throw new BoltFormatError(`${where}: truncated page`);
    if (!(v.getUint16(8, true) & LEAF_PAGE)) {
      throw new BoltFormatError(`${where}: expected a leaf page`);
    }
    const count = v.getUint16(10, true);
    for (let i = 0; i < count; i++) {
      const e = PAGE_HEADER_SIZE + ELEMENT_SIZE * i;
      if (e + ELEMENT_SIZE > page.length) {
        throw new BoltFormatError(`${where}: element out of page`);
      }
      const flags = v.getUint32(e, true);
      const k = e + v.getUint32(e + 4, true);
      const ksize = v.getUint32(e + 8, true);
      const vsize = v.getUint32(e + 12, true);
      if (k + ksize + vsize > page.length) {
        throw new BoltFormatError(`${where}: element ${i} runs past its page`);
      }
      yield [page.subarray(k, k + ksize), page.subarray(k + ksize, k + ksize + vsize), flags];
    }
  }
}
