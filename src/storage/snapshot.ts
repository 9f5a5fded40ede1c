/**
 * Snapshot files: `<snapDir>/<term 16 hex>-<index 16 hex>.snap`.
 *
 * Layout (little-endian):
 * `magic "CAIRNSNP"` | `version u32` | `meta length u32` | `crc32c(meta) u32` |
 * `crc32c(body) u32` | `body length u64` | `meta` | `body`,
 * where meta is `term u64, index u64, voter count u32, voters u64…,
 * learner count u32, learners u64…`.
 *
 * A file is written under a temporary name, fsynced, renamed and the
 * directory fsynced, so a visible `.snap` is always complete; a damaged one
 * (bit rot, a copy gone wrong) is renamed to `.broken` and the next older
 * snapshot is used instead.
 *
 * @module
 */
import { join } from "node:path";
import type { NodeId, Snapshot, SnapshotMeta } from "../raft/types.ts";
import { crc32c, crc32cAppend, crc32cRange } from "../wire/crc32c.ts";
import { type Disk, type DiskFile, REAL_DISK } from "./disk.ts";
import { removeIfExists, syncDir, writeAll, writeAllSync } from "./fs_util.ts";
import { adviseHugePages } from "../process/huge_pages.ts";
import { checkSnapshotOffThread } from "./off_thread_check.ts";

const MAGIC = new TextEncoder().encode("CAIRNSNP");
/** The snapshot file format this code writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;
const FIXED = 32;
/**
 * Snapshot bodies at least this large may be checksummed on another
 * thread while a restart decodes them ({@link SnapshotStore.peekNewest}):
 * below it a worker's start costs more than the checksum.
 */
export const OFF_THREAD_SNAPSHOT_BYTES = 32 << 20;
const TWO32 = 4294967296;
const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
/** Bytes checksummed or written between two pauses of {@link SnapshotStore.saveChunks}. */
const PAUSE_BYTES = 4 << 20;
/**
 * Bytes written between two flushes of a large snapshot file. The member's
 * WAL fsyncs share the disk, and a disk flush (a cache flush, and on a
 * virtual disk the host's fsync of the whole image) takes with it every
 * snapshot byte written before it: a WAL fsync waits for whatever snapshot
 * data is not yet flushed. Measured at 1,000,000 keys with peers (~290 MB
 * files, three members on one disk): with 16 MiB between flushes, the WAL
 * fsyncs that met one took 30-50 ms on a quiet disk (they end within 1-3
 * ms of the snapshot's flush), so on a slow disk they take as long as the
 * flush; with 2-4 MiB, written off the loop, none took over 30 ms.
 */
export const SNAPSHOT_FLUSH_BYTES = 2 << 20;

/** A snapshot file found in the directory (not yet verified). */
export interface SnapshotFile {
  term: number;
  index: number;
  path: string;
}

/** Options of a {@link SnapshotStore}. */
export interface SnapshotStoreOptions {
  /** Told about each damaged snapshot that was set aside; defaults to console.warn. */
  onWarning?: (message: string) => void;
  /** The file system (default: the real one; the member simulation passes its own). */
  disk?: Disk;
}

/** A snapshot file format newer than this code: refused, never set aside. */
export class SnapshotVersionError extends Error {
  /** Names the file and the version found in it. */
  constructor(readonly path: string, readonly version: number) {
    super(
      `snapshot ${path} has format version ${version}; this cairn reads version ${SNAPSHOT_FORMAT_VERSION}`,
    );
    this.name = "SnapshotVersionError";
  }
}

/** The file name of the snapshot at `term`/`index`. */
export function snapshotName(term: number, index: number): string {
  return `${hex16(term)}-${hex16(index)}.snap`;
}

/** How long the parts of one snapshot file save took, in seconds. */
export interface SaveTimes {
  /** Checksumming the body and encoding the header. */
  marshalSeconds: number;
  /** The file's fsync. */
  syncSeconds: number;
}

/** Reads and writes snapshot files in one directory. */
export class SnapshotStore {
  private readonly warn: (message: string) => void;
  private readonly disk: Disk;
  /**
   * Where the last save's time went, in seconds (etcd's snap metrics):
   * checksumming and framing the body, and the file's fsync.
   */
  lastSave: SaveTimes = { marshalSeconds: 0, syncSeconds: 0 };

  /** A store over `dir`, which must exist. */
  constructor(readonly dir: string, opts: SnapshotStoreOptions = {}) {
    this.warn = opts.onWarning ?? ((m) => console.warn(m));
    this.disk = opts.disk ?? REAL_DISK;
  }

  /** Durably writes a snapshot; returns its path (`pause`: see {@link saveChunks}). */
  save(meta: SnapshotMeta, data: Uint8Array, pause?: () => Promise<void>): Promise<string> {
    return this.saveChunks(meta, [data], pause);
  }

  /**
   * Durably writes a snapshot whose body is `chunks` end to end; returns
   * its path. With `pause`, awaits it every few MiB checksummed or written
   * (a large chunk is taken a few MiB at a time), so a large snapshot does
   * not hold the event loop (a rejecting `pause` abandons the save: the
   * temp file is left for {@link removeTemps}).
   */
  async saveChunks(
    meta: SnapshotMeta,
    chunks: readonly Uint8Array[],
    pause?: () => Promise<void>,
  ): Promise<string> {
    let done = 0;
    const progress = async (n: number): Promise<void> => {
      done += n;
      if (pause !== undefined && done >= PAUSE_BYTES) {
        done = 0;
        await pause();
      }
    };
    let sum = 0;
    let len = 0;
    // Timed apart from the pauses between chunks.
    let marshalMs = 0;
    for (const c of pieces(chunks, PAUSE_BYTES)) {
      const t = performance.now();
      sum = crc32cAppend(sum, c);
      marshalMs += performance.now() - t;
      len += c.length;
      await progress(c.length);
    }
    const framing = performance.now();
    const header = encodeHeader(meta, sum, len);
    marshalMs += performance.now() - framing;
    const path = join(this.dir, snapshotName(meta.term, meta.index));
    const tmp = `${path}.tmp`;
    const f = await this.disk.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      writeAllSync(f, header);
      if (pause === undefined) {
        for (const c of pieces(chunks, PAUSE_BYTES)) writeAllSync(f, c);
      } else {
        // Off the event loop, a flush at a time (see SNAPSHOT_FLUSH_BYTES):
        // copying a few MiB into the page cache took 20-30 ms of the loop.
        let unflushed = 0;
        for (const c of pieces(chunks, SNAPSHOT_FLUSH_BYTES)) {
          await writeAll(f, c);
          unflushed += c.length;
          if (unflushed >= SNAPSHOT_FLUSH_BYTES) {
            unflushed = 0;
            await f.syncData();
          }
          await progress(c.length);
        }
      }
      await this.#syncTimed(f, marshalMs);
    } finally {
      f.close();
    }
    return await this.#publish(tmp, path);
  }

  /**
   * Durably writes a snapshot whose body, `length` bytes, comes from
   * `chunks` as it is produced (each chunk is written and checksummed
   * before the next is asked for, so the producer may reuse its buffer):
   * the body is never whole in memory. The header, which holds the body's
   * checksum, is written last, in place, before the fsync and rename.
   * `pause` as for {@link saveChunks}. Throws if `chunks` does not add up
   * to `length`.
   */
  async saveStream(
    meta: SnapshotMeta,
    length: number,
    chunks: Iterable<Uint8Array>,
    pause?: () => Promise<void>,
  ): Promise<string> {
    const path = join(this.dir, snapshotName(meta.term, meta.index));
    const tmp = `${path}.tmp`;
    const f = await this.disk.open(tmp, { write: true, create: true, truncate: true, mode: 0o600 });
    try {
      let marshalMs = 0;
      // Same size as the real header: the body lands where it belongs.
      writeAllSync(f, encodeHeader(meta, 0, length));
      let sum = 0;
      let written = 0;
      let unflushed = 0;
      for (const chunk of chunks) {
        for (const c of pieces([chunk], PAUSE_BYTES)) {
          const t = performance.now();
          sum = crc32cAppend(sum, c);
          marshalMs += performance.now() - t;
          written += c.length;
          if (pause === undefined) {
            writeAllSync(f, c);
            continue;
          }
          // Off the event loop (the producer reuses its buffer only once
          // this resolves), flushed as it goes: see SNAPSHOT_FLUSH_BYTES.
          await writeAll(f, c);
          unflushed += c.length;
          if (unflushed >= SNAPSHOT_FLUSH_BYTES) {
            unflushed = 0;
            await f.syncData();
          }
        }
        // A pause per chunk: asking for the next one runs the producer's
        // encoding of it on the loop, so a chunk is the unit of work the
        // producer chose (the snapshotter's chunkBytes), not a byte count.
        if (pause !== undefined) await pause();
      }
      if (written !== length) {
        throw new Error(`snapshot body was ${written} bytes, announced ${length}`);
      }
      await f.seek(0, Deno.SeekMode.Start);
      writeAllSync(f, encodeHeader(meta, sum, length));
      await this.#syncTimed(f, marshalMs);
    } finally {
      f.close();
    }
    return await this.#publish(tmp, path);
  }

  /** fsyncs a written snapshot file and records how long marshalling and the sync took. */
  async #syncTimed(f: DiskFile, marshalMs: number): Promise<void> {
    const syncing = performance.now();
    await f.sync();
    this.lastSave = {
      marshalSeconds: marshalMs / 1000,
      syncSeconds: (performance.now() - syncing) / 1000,
    };
  }

  /** Renames a synced temporary file to its final name and makes the rename durable. */
  async #publish(tmp: string, path: string): Promise<string> {
    await this.disk.rename(tmp, path);
    await syncDir(this.dir, this.disk);
    return path;
  }

  /**
   * Opens the body of the snapshot file for `meta`'s term and index, to be
   * read a piece at a time (sending it to a follower keeps one piece in
   * memory, not ~290 MB at 1,000,000 keys). Its header and meta are checked
   * now, the body's checksum as the last piece is read. Rejects if the
   * file is gone (a newer snapshot's purge took it) or its header is
   * damaged; a damaged file is left where it is: recovery sets such files
   * aside, and it may not be the one recovery needs. The caller closes it.
   */
  async openBody(meta: { term: number; index: number }): Promise<SnapshotBodyReader> {
    const path = join(this.dir, snapshotName(meta.term, meta.index));
    const f = await this.disk.open(path, { read: true });
    try {
      const opened = await openSnapshot(f, path);
      const held = decodeMeta(opened.meta);
      if (held.term !== meta.term || held.index !== meta.index) {
        throw new Error(
          `snapshot ${path} holds term ${held.term} index ${held.index}, not its name's`,
        );
      }
      return new SnapshotBodyReader(f, opened.bodyLen, opened.bodyCrc);
    } catch (err) {
      f.close();
      throw err;
    }
  }

  /** Snapshot files by name, newest (highest index, then term) first. */
  async list(): Promise<SnapshotFile[]> {
    const out: SnapshotFile[] = [];
    for await (const ent of this.disk.readDir(this.dir)) {
      const m = ent.isFile ? NAME_RE.exec(ent.name) : null;
      if (m) {
        out.push({
          term: parseInt(m[1], 16),
          index: parseInt(m[2], 16),
          path: join(this.dir, ent.name),
        });
      }
    }
    return out.sort((a, b) => b.index - a.index || b.term - a.term);
  }

  /**
   * The newest snapshot whose checksums hold (and that `accept` takes, e.g.
   * one the WAL has a marker for). Damaged files are renamed to `.broken`
   * with a warning; a file of a newer format version throws. `early`, from
   * {@link peekNewest}, is used instead of reading its file again.
   */
  async loadNewest(
    accept?: (meta: SnapshotMeta) => boolean,
    early?: Snapshot,
  ): Promise<Snapshot | undefined> {
    for (const file of await this.list()) {
      let snap: Snapshot;
      try {
        // Read and verified already by peekNewest, and nothing writes
        // snapshot files while a member starts.
        const same = early?.meta.term === file.term && early?.meta.index === file.index;
        snap = same ? early! : await readSnapshotFile(this.disk, file.path);
        if (snap.meta.term !== file.term || snap.meta.index !== file.index) {
          throw new Error(`holds term ${snap.meta.term} index ${snap.meta.index}, not its name's`);
        }
      } catch (err) {
        if (err instanceof SnapshotVersionError) throw err;
        const broken = `${file.path}.broken`;
        await this.disk.rename(file.path, broken);
        await syncDir(this.dir, this.disk);
        this.warn(
          `snapshot ${file.path} is damaged (${(err as Error).message}); moved to ${broken}`,
        );
        continue;
      }
      if (accept === undefined || accept(snap.meta)) return snap;
    }
    return undefined;
  }

  /**
   * The newest snapshot file, read and verified, or undefined if there is
   * none or it is damaged; acts on nothing (a damaged file is left for
   * {@link loadNewest} to set aside). For a caller that learns only later
   * which snapshot it needs: a restart reads the newest file while the WAL
   * is replayed, and the WAL's newest marker almost always names it.
   *
   * With `offThreadBytes` (a restart passes {@link OFF_THREAD_SNAPSHOT_BYTES}),
   * a body at least that large on the real disk is checksummed on another
   * thread: the snapshot comes
   * back before that check ends, and `verified` settles with it (rejecting
   * on damage). The caller may decode the body meanwhile but must not act
   * on it before `verified` resolves.
   */
  async peekNewest(
    offThreadBytes?: number,
  ): Promise<{ snap: Snapshot; verified: Promise<void> } | undefined> {
    let verified = Promise.resolve();
    try {
      const [file] = await this.list();
      if (file === undefined) return undefined;
      const deferred = offThreadBytes !== undefined && this.disk === REAL_DISK &&
        (await Deno.stat(file.path)).size >= offThreadBytes;
      if (deferred) {
        verified = checkSnapshotOffThread(file.path, () => checkSnapshotFile(this.disk, file.path));
        verified.catch(() => {}); // seen by the caller's await, not by the runtime
      }
      const snap = await readSnapshotFile(this.disk, file.path, !deferred);
      if (snap.meta.term === file.term && snap.meta.index === file.index) return { snap, verified };
    } catch {
      // loadNewest reads it again and reports what is wrong
    }
    await verified.catch(() => {}); // no check left running for a file not returned
    return undefined;
  }

  /**
   * Keeps the `keep` newest snapshot files and deletes the older ones;
   * returns the deleted paths, oldest first. `keep` below 1 deletes
   * nothing: etcd's 0 means "keep every file". Temp files are left alone,
   * since a save may be writing one right now (see {@link removeTemps}).
   * The snapshot `needed` names (the one the WAL's newest marker names,
   * which recovery uses) is never deleted: newer files whose markers a
   * crash kept from the WAL would otherwise push it out, and the member
   * could not start again.
   */
  async purge(keep: number, needed?: { term: number; index: number }): Promise<string[]> {
    if (keep < 1) return [];
    const gone = (await this.list()).slice(keep)
      .filter((f) => !(needed && f.index === needed.index && f.term === needed.term))
      .reverse().map((f) => f.path);
    for (const path of gone) await removeIfExists(path, this.disk);
    if (gone.length > 0) await syncDir(this.dir, this.disk);
    return gone;
  }

  /** Deletes temp files a crash left behind mid-save; call before any save starts. */
  async removeTemps(): Promise<void> {
    let removed = 0;
    for await (const ent of this.disk.readDir(this.dir)) {
      if (ent.isFile && ent.name.endsWith(".snap.tmp")) {
        await removeIfExists(join(this.dir, ent.name), this.disk);
        removed++;
      }
    }
    if (removed > 0) await syncDir(this.dir, this.disk);
  }
}

/** `chunks` cut into pieces of at most `size` bytes (views, no copies). */
function* pieces(
  chunks: readonly Uint8Array[],
  size: number,
): Generator<Uint8Array, void, undefined> {
  for (const c of chunks) {
    if (c.length <= size) {
      yield c;
      continue;
    }
    for (let off = 0; off < c.length; off += size) {
      yield c.subarray(off, Math.min(c.length, off + size));
    }
  }
}

function encodeMeta(meta: SnapshotMeta): Uint8Array {
  const { voters, learners } = meta.confState;
  const out = new Uint8Array(16 + 4 + 8 * voters.length + 4 + 8 * learners.length);
  const v = new DataView(out.buffer);
  putU64(v, 0, meta.term);
  putU64(v, 8, meta.index);
  let p = 16;
  for (const ids of [voters, learners]) {
    v.setUint32(p, ids.length, true);
    p += 4;
    for (const id of ids) {
      v.setBigUint64(p, BigInt.asUintN(64, id), true);
      p += 8;
    }
  }
  return out;
}

function encodeHeader(meta: SnapshotMeta, bodyCrc: number, bodyLen: number): Uint8Array {
  const m = encodeMeta(meta);
  const out = new Uint8Array(FIXED + m.length);
  const v = new DataView(out.buffer);
  out.set(MAGIC, 0);
  v.setUint32(8, SNAPSHOT_FORMAT_VERSION, true);
  v.setUint32(12, m.length, true);
  v.setUint32(16, crc32c(m), true);
  v.setUint32(20, bodyCrc, true);
  putU64(v, 24, bodyLen);
  out.set(m, FIXED);
  return out;
}

/** Bytes read between two checksum steps of {@link readSnapshotFile}. */
const READ_CHUNK = 8 << 20;

/** A snapshot file's header and meta, checked; the file positioned at the body. */
interface OpenedSnapshot {
  meta: Uint8Array;
  bodyLen: number;
  bodyCrc: number;
}

/**
 * Reads and checks a snapshot file's header and meta (magic, version,
 * sizes against the file's, the meta's checksum), leaving `f` at the body.
 */
async function openSnapshot(f: DiskFile, path: string): Promise<OpenedSnapshot> {
  const size = await f.seek(0, Deno.SeekMode.End);
  await f.seek(0, Deno.SeekMode.Start);
  const fixed = new Uint8Array(FIXED);
  const got = await readFull(f, fixed);
  if (got < FIXED) throw new Error(`only ${got} bytes`);
  if (!MAGIC.every((b, i) => fixed[i] === b)) throw new Error("bad magic");
  const v = new DataView(fixed.buffer);
  const version = v.getUint32(8, true);
  if (version !== SNAPSHOT_FORMAT_VERSION) throw new SnapshotVersionError(path, version);
  const metaLen = v.getUint32(12, true);
  const bodyLen = getU64(v, 24);
  if (FIXED + metaLen + bodyLen !== size) {
    throw new Error(`size ${size} does not match header (${metaLen}+${bodyLen})`);
  }
  const meta = new Uint8Array(metaLen);
  if (await readFull(f, meta) < metaLen) throw new Error("file shrank while read");
  if (crc32c(meta) !== v.getUint32(16, true)) throw new Error("meta checksum mismatch");
  return { meta, bodyLen, bodyCrc: v.getUint32(20, true) };
}

/**
 * Reads and verifies a whole snapshot file; throws on any damage. The body
 * is read straight into one buffer of its size, a chunk at a time, and
 * each chunk is checksummed while the next one is being read (the read
 * runs off the JS thread): with 1,000,000 keys the body is ~290 MB, and
 * reading it (mostly the page faults of the new buffer) and checksumming
 * it (~0.25 s) then overlap instead of adding up. `checkBody` false leaves
 * the body's checksum to the caller ({@link checkSnapshotFile}, on another
 * thread while this one decodes it): header and meta are still checked.
 */
export async function readSnapshotFile(
  disk: Disk,
  path: string,
  checkBody = true,
): Promise<Snapshot> {
  const f = await disk.open(path, { read: true });
  try {
    const { meta, bodyLen, bodyCrc } = await openSnapshot(f, path);
    const data = new Uint8Array(bodyLen);
    // Most of reading a large body into a fresh buffer is page faults (~1 s
    // of 256 MB on this VM): 2 MiB pages cut that tenfold.
    adviseHugePages(data);
    // Unchecked: one read for the whole body, so that it runs on its own
    // off this thread and never waits for this thread's other work to ask
    // for the next chunk (chunked, a restart's WAL scan delayed each one).
    if (!checkBody) {
      if (await readFull(f, data) < bodyLen) throw new Error("file shrank while read");
      return { meta: decodeMeta(meta), data };
    }
    let sum = 0;
    let next = readFull(f, data.subarray(0, Math.min(READ_CHUNK, bodyLen)));
    for (let off = 0; off < bodyLen;) {
      const n = await next;
      const end = off + n;
      if (n === 0) throw new Error("file shrank while read");
      if (end < bodyLen) {
        next = readFull(f, data.subarray(end, Math.min(end + READ_CHUNK, bodyLen)));
      }
      sum = crc32cRange(data, off, end, sum);
      off = end;
    }
    if (sum !== bodyCrc) throw new Error("body checksum mismatch");
    return { meta: decodeMeta(meta), data };
  } finally {
    f.close();
  }
}

/**
 * Verifies a whole snapshot file as {@link readSnapshotFile} does, reading
 * the body through one reused buffer of {@link READ_CHUNK} bytes: nothing
 * is kept. Throws the same errors.
 */
export async function checkSnapshotFile(disk: Disk, path: string): Promise<void> {
  const f = await disk.open(path, { read: true });
  try {
    const { bodyLen, bodyCrc } = await openSnapshot(f, path);
    const buf = new Uint8Array(Math.min(READ_CHUNK, bodyLen));
    let sum = 0;
    for (let off = 0; off < bodyLen;) {
      const n = await readFull(f, buf.subarray(0, Math.min(buf.length, bodyLen - off)));
      if (n === 0) throw new Error("file shrank while read");
      sum = crc32cRange(buf, 0, n, sum);
      off += n;
    }
    if (sum !== bodyCrc) throw new Error("body checksum mismatch");
  } finally {
    f.close();
  }
}

/**
 * A snapshot file's body, read in order a piece at a time. Each piece is a
 * fresh buffer the caller may keep (a sender queues it on a stream). The
 * running CRC-32C is checked against the header's once the body is read:
 * the read that ends the body rejects instead if they differ, so damage is
 * never passed on as a complete snapshot.
 */
export class SnapshotBodyReader {
  #offset = 0;
  #sum = 0;
  #closed = false;

  /**
   * @param file the open file, positioned at the body (owned from now on)
   * @param size the body's length in bytes
   * @param crc the body's CRC-32C, from the file's header
   */
  constructor(private readonly file: DiskFile, readonly size: number, readonly crc: number) {}

  /**
   * The next piece, at most `max` bytes, or null once the whole body has
   * been read and its checksum holds. Rejects if the file is shorter than
   * its header says or the checksum does not hold.
   */
  async next(max: number): Promise<Uint8Array | null> {
    if (this.#closed) throw new Error("snapshot reader is closed");
    if (this.#offset === this.size) {
      if (this.#sum !== this.crc) throw new Error("body checksum mismatch");
      return null;
    }
    const piece = new Uint8Array(Math.min(Math.max(1, max), this.size - this.#offset));
    if (await readFull(this.file, piece) < piece.length) throw new Error("file shrank while read");
    this.#sum = crc32cRange(piece, 0, piece.length, this.#sum);
    this.#offset += piece.length;
    return piece;
  }

  /** Releases the file; reading after this rejects. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.file.close();
  }
}

/** Reads until `buf` is full or the file ends; returns the bytes read. */
async function readFull(f: DiskFile, buf: Uint8Array): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await f.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}

function decodeMeta(b: Uint8Array): SnapshotMeta {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 16;
  const ids = (): NodeId[] => {
    const n = v.getUint32(p, true);
    p += 4;
    if (p + 8 * n > b.length) throw new Error("membership list runs past the meta");
    const out: NodeId[] = [];
    for (let i = 0; i < n; i++, p += 8) out.push(v.getBigUint64(p, true));
    return out;
  };
  const term = getU64(v, 0);
  const index = getU64(v, 8);
  const voters = ids();
  const learners = ids();
  return { term, index, confState: { voters, learners } };
}

function putU64(v: DataView, at: number, n: number): void {
  v.setUint32(at, n >>> 0, true);
  v.setUint32(at + 4, Math.floor(n / TWO32), true);
}

function getU64(v: DataView, at: number): number {
  return v.getUint32(at + 4, true) * TWO32 + v.getUint32(at, true);
}

function hex16(n: number): string {
  return n.toString(16).padStart(16, "0");
}
