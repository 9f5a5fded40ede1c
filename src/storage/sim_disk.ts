/**
 * An in-memory file system for the whole-member simulation, with a crash
 * model: it tracks what a real disk would still hold after power loss.
 *
 * - File contents: each file keeps its current bytes and its durable bytes
 *   (as of its last fsync/fdatasync). Writes since then are volatile. In a
 *   crash, a file that only grew since its last sync keeps a random prefix
 *   of the new bytes, possibly with a zeroed tail (the size reached the
 *   disk, the data did not): a torn write. A file rewritten or truncated
 *   below its durable length keeps either its old or its new content.
 * - Names: creations, renames, removals and mkdirs go to an ordered
 *   journal; only an fsync of a directory commits it (as POSIX requires;
 *   a file's own fsync does not make its name durable). In a crash a random
 *   prefix of the uncommitted journal survives, in order, as with ext4's
 *   ordered metadata journal.
 * - Faults: an fsync may fail (EIO) at a chosen rate; the data it covered
 *   stays volatile, as Linux marks the pages clean after a failed
 *   writeback. Storage must then stop using the file (fail-stop).
 *
 * Each process incarnation uses its own {@link SimDisk.view}: after a
 * crash the old view refuses synchronous calls and never completes
 * asynchronous ones, so a dead member cannot touch the disk of its
 * successor. Asynchronous calls complete after a latency the caller's
 * scheduler decides (`delay`), so a crash can fall between any two awaits.
 *
 * @module
 */
import { dirname } from "node:path";
import type { Disk, DiskEntry, DiskFile, DiskStat } from "./disk.ts";

/** File contents with a record of what is durable. */
class Inode {
  buf = new Uint8Array(256);
  len = 0;
  /** Bytes of the durable content. */
  durableLen = 0;
  /**
   * The durable content, kept only once the current bytes stopped
   * extending it (an overwrite or a cut below `durableLen`).
   */
  durableCopy: Uint8Array | undefined;

  /** The current bytes (a copy). */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  write(pos: number, data: Uint8Array): void {
    if (pos < this.durableLen) this.#keepDurable();
    const end = pos + data.length;
    this.#reserve(end);
    if (pos > this.len) this.buf.fill(0, this.len, pos);
    this.buf.set(data, pos);
    if (end > this.len) this.len = end;
  }

  truncate(len: number): void {
    if (len < this.durableLen) this.#keepDurable();
    this.#reserve(len);
    if (len > this.len) this.buf.fill(0, this.len, len);
    this.len = len;
  }

  sync(): void {
    this.durableLen = this.len;
    this.durableCopy = undefined;
  }

  /** True when writes since the last sync could be lost. */
  get dirty(): boolean {
    return this.durableCopy !== undefined || this.durableLen !== this.len;
  }

  /** What survives a crash, drawn with `rng`; the inode becomes that, all durable. */
  crash(rng: () => number): void {
    if (!this.dirty) return;
    let keep: Uint8Array;
    if (this.durableCopy !== undefined) {
      keep = rng() < 0.5 ? this.durableCopy : this.bytes();
    } else {
      // Grew since the last sync: a random prefix of the growth survives.
      const r = rng();
      const extra = this.len - this.durableLen;
      const n = r < 0.3 ? 0 : r < 0.5 ? extra : Math.floor(rng() * (extra + 1));
      keep = this.buf.slice(0, this.durableLen + n);
      if (n > 0 && rng() < 0.3) {
        // The size made it to the disk but the last blocks did not.
        const zeroFrom = this.durableLen + Math.floor(rng() * n);
        keep.fill(0, zeroFrom);
      }
    }
    this.buf = new Uint8Array(Math.max(256, keep.length));
    this.buf.set(keep);
    this.len = keep.length;
    this.sync();
  }

  #keepDurable(): void {
    if (this.durableCopy === undefined) this.durableCopy = this.buf.slice(0, this.durableLen);
  }

  #reserve(n: number): void {
    if (n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(n, this.buf.length * 2));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

type Node = { kind: "dir" } | { kind: "file"; inode: Inode };

type NsOp =
  | { op: "set"; path: string; node: Node }
  | { op: "unlink"; path: string }
  | { op: "rename"; from: string; to: string };

/** Knobs of a simulated disk. */
export interface SimDiskOptions {
  /** Chance that one fsync/fdatasync fails with EIO. */
  syncFailRate?: number;
  /** Random source for faults and crashes (seeded by the simulation). */
  rng: () => number;
}

/** What one process incarnation needs to reach the disk. */
export interface SimDiskViewOptions {
  /** Whether the incarnation is still alive. */
  alive(): boolean;
  /**
   * Resolves when an asynchronous call should complete (the scheduler's
   * latency); told which call on which path, so a test can stop a process
   * at one exact await.
   */
  delay(op: string, path: string): Promise<void>;
}

/** Counters for tests: what the disk saw. */
export interface SimDiskStats {
  syncs: number;
  failedSyncs: number;
  crashes: number;
  tornFiles: number;
}

/** A simulated disk shared by the incarnations of one member; see the module doc. */
export class SimDisk {
  /** Current names (what the running process sees). */
  #ns = new Map<string, Node>([["/", { kind: "dir" }]]);
  /** Names as of the last committed journal. */
  #durableNs = new Map<string, Node>([["/", { kind: "dir" }]]);
  #journal: NsOp[] = [];
  readonly #rng: () => number;
  /** Chance that one fsync fails; may be changed between steps. */
  syncFailRate: number;
  readonly stats: SimDiskStats = { syncs: 0, failedSyncs: 0, crashes: 0, tornFiles: 0 };

  /** An empty disk holding only `/`. */
  constructor(opts: SimDiskOptions) {
    this.#rng = opts.rng;
    this.syncFailRate = opts.syncFailRate ?? 0;
  }

  /** The {@link Disk} one incarnation uses. */
  view(opts: SimDiskViewOptions): Disk {
    return new SimDiskView(this, opts);
  }

  /**
   * Power loss: uncommitted names survive as a random prefix of the
   * journal, and every file keeps its durable bytes plus a random part of
   * the rest. Afterwards everything is durable (what a reboot finds).
   */
  crash(): void {
    this.stats.crashes++;
    const keep = Math.floor(this.#rng() * (this.#journal.length + 1));
    const ns = new Map(this.#durableNs);
    for (const op of this.#journal.slice(0, keep)) applyOp(ns, op);
    const seen = new Set<Inode>();
    for (const node of ns.values()) {
      if (node.kind !== "file" || seen.has(node.inode)) continue;
      seen.add(node.inode);
      if (node.inode.dirty) this.stats.tornFiles++;
      node.inode.crash(this.#rng);
    }
    this.#ns = ns;
    this.#durableNs = new Map(ns);
    this.#journal = [];
  }

  /** Paths and sizes of every file (for traces and tests). */
  listing(): { path: string; size: number; durable: number }[] {
    const out = [];
    for (const [path, node] of this.#ns) {
      if (node.kind === "file") {
        out.push({ path, size: node.inode.len, durable: node.inode.durableLen });
      }
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  // ---- used by views ----

  /** @internal */
  lookup(path: string): Node | undefined {
    return this.#ns.get(norm(path));
  }

  /** @internal */
  change(op: NsOp): void {
    applyOp(this.#ns, op);
    this.#journal.push(op);
  }

  /** @internal Commits the name journal (a directory fsync). */
  commitNames(): void {
    this.#durableNs = new Map(this.#ns);
    this.#journal = [];
  }

  /** @internal Throws EIO at the configured rate. */
  maybeFailSync(what: string): void {
    this.stats.syncs++;
    if (this.syncFailRate > 0 && this.#rng() < this.syncFailRate) {
      this.stats.failedSyncs++;
      throw new Error(`EIO: input/output error, ${what} (simulated)`);
    }
  }

  /** @internal */
  children(dir: string): DiskEntry[] {
    const d = norm(dir);
    const prefix = d === "/" ? "/" : `${d}/`;
    const out: DiskEntry[] = [];
    for (const [path, node] of this.#ns) {
      if (path === d || !path.startsWith(prefix)) continue;
      const name = path.slice(prefix.length);
      if (name.includes("/")) continue;
      out.push({ name, isFile: node.kind === "file", isDirectory: node.kind === "dir" });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}

function applyOp(ns: Map<string, Node>, op: NsOp): void {
  switch (op.op) {
    case "set":
      ns.set(op.path, op.node);
      break;
    case "unlink":
      ns.delete(op.path);
      break;
    case "rename": {
      const node = ns.get(op.from);
      if (node === undefined) return;
      ns.delete(op.from);
      ns.set(op.to, node);
      break;
    }
  }
}

function norm(path: string): string {
  if (!path.startsWith("/")) throw new Error(`simulated disk needs absolute paths: ${path}`);
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return `/${parts.join("/")}`;
}

function notFound(what: string, path: string): Error {
  return new Deno.errors.NotFound(`No such file or directory (os error 2): ${what} '${path}'`);
}

/** The disk as one incarnation sees it. */
class SimDiskView implements Disk {
  constructor(readonly disk: SimDisk, readonly o: SimDiskViewOptions) {}

  /** Refuses a synchronous call from a dead incarnation. */
  live(): void {
    if (!this.o.alive()) throw new Error("simulated process is dead");
  }

  /** Waits the scheduler's latency; never completes for a dead incarnation. */
  async settle(op: string, path: string): Promise<void> {
    this.live();
    await this.o.delay(op, path);
    if (!this.o.alive()) await new Promise<never>(() => {});
  }

  async open(path: string, opts: Deno.OpenOptions): Promise<DiskFile> {
    await this.settle("open", path);
    const p = norm(path);
    let node = this.disk.lookup(p);
    if (node === undefined) {
      if (!opts.create && !opts.createNew) throw notFound("open", p);
      this.#parentDir(p, "open");
      node = { kind: "file", inode: new Inode() };
      this.disk.change({ op: "set", path: p, node });
    } else if (opts.createNew) {
      throw new Deno.errors.AlreadyExists(`File exists (os error 17): open '${p}'`);
    }
    if (node.kind === "file" && opts.truncate) node.inode.truncate(0);
    return new SimFile(this, node.kind === "file" ? node.inode : undefined, p);
  }

  async readFile(path: string): Promise<Uint8Array> {
    await this.settle("readFile", path);
    const node = this.disk.lookup(path);
    if (node === undefined) throw notFound("readfile", path);
    if (node.kind !== "file") throw new Error(`Is a directory (os error 21): '${path}'`);
    return node.inode.bytes();
  }

  async rename(from: string, to: string): Promise<void> {
    await this.settle("rename", to);
    const f = norm(from);
    if (this.disk.lookup(f) === undefined) throw notFound("rename", f);
    const t = norm(to);
    this.#parentDir(t, "rename");
    this.disk.change({ op: "rename", from: f, to: t });
  }

  async remove(path: string): Promise<void> {
    await this.settle("remove", path);
    const p = norm(path);
    const node = this.disk.lookup(p);
    if (node === undefined) throw notFound("remove", p);
    if (node.kind === "dir" && this.disk.children(p).length > 0) {
      throw new Error(`Directory not empty (os error 39): remove '${p}'`);
    }
    this.disk.change({ op: "unlink", path: p });
  }

  async *readDir(path: string): AsyncIterable<DiskEntry> {
    await this.settle("readDir", path);
    const node = this.disk.lookup(path);
    if (node === undefined) throw notFound("readdir", path);
    if (node.kind !== "dir") throw new Error(`Not a directory (os error 20): '${path}'`);
    for (const ent of this.disk.children(path)) yield ent;
  }

  async stat(path: string): Promise<DiskStat> {
    await this.settle("stat", path);
    const node = this.disk.lookup(path);
    if (node === undefined) throw notFound("stat", path);
    return { isFile: node.kind === "file", isDirectory: node.kind === "dir" };
  }

  async mkdir(path: string, opts: { recursive?: boolean } = {}): Promise<void> {
    await this.settle("mkdir", path);
    const p = norm(path);
    const node = this.disk.lookup(p);
    if (node !== undefined) {
      if (opts.recursive && node.kind === "dir") return;
      throw new Deno.errors.AlreadyExists(`File exists (os error 17): mkdir '${p}'`);
    }
    if (!opts.recursive) this.#parentDir(p, "mkdir");
    const missing: string[] = [];
    for (let d = p; this.disk.lookup(d) === undefined; d = dirname(d)) missing.unshift(d);
    for (const d of missing) this.disk.change({ op: "set", path: d, node: { kind: "dir" } });
  }

  async chmod(path: string): Promise<void> {
    await this.settle("chmod", path);
    if (this.disk.lookup(path) === undefined) throw notFound("chmod", path);
  }

  #parentDir(path: string, what: string): void {
    const parent = this.disk.lookup(dirname(path));
    if (parent === undefined || parent.kind !== "dir") throw notFound(what, path);
  }
}

/** An open file (or a directory opened to fsync it). */
class SimFile implements DiskFile {
  #pos = 0;
  #closed = false;

  constructor(
    readonly view: SimDiskView,
    readonly inode: Inode | undefined,
    readonly path: string,
  ) {}

  writeSync(p: Uint8Array): number {
    this.#usable();
    this.#file().write(this.#pos, p);
    this.#pos += p.length;
    return p.length;
  }

  async write(p: Uint8Array): Promise<number> {
    this.#usable();
    await this.view.settle("write", this.path);
    return this.writeSync(p);
  }

  async read(p: Uint8Array): Promise<number | null> {
    this.#usable();
    await this.view.settle("read", this.path);
    const inode = this.#file();
    if (this.#pos >= inode.len) return null;
    const n = Math.min(p.length, inode.len - this.#pos);
    p.set(inode.buf.subarray(this.#pos, this.#pos + n));
    this.#pos += n;
    return n;
  }

  syncDataSync(): void {
    this.#usable();
    this.#sync("fdatasync");
  }

  async syncData(): Promise<void> {
    this.#usable();
    await this.view.settle("fdatasync", this.path);
    this.#sync("fdatasync");
  }

  async sync(): Promise<void> {
    this.#usable();
    await this.view.settle("fsync", this.path);
    this.#sync("fsync");
  }

  async truncate(len = 0): Promise<void> {
    this.#usable();
    await this.view.settle("truncate", this.path);
    this.#file().truncate(len);
  }

  seekSync(offset: number, whence: Deno.SeekMode): number {
    this.#usable();
    const base = whence === 0 ? 0 : whence === 1 ? this.#pos : this.#file().len;
    this.#pos = base + Number(offset);
    return this.#pos;
  }

  async seek(offset: number, whence: Deno.SeekMode): Promise<number> {
    await this.view.settle("seek", this.path);
    return this.seekSync(offset, whence);
  }

  close(): void {
    this.#closed = true;
  }

  #sync(what: string): void {
    this.view.disk.maybeFailSync(`${what} '${this.path}'`);
    if (this.inode) this.inode.sync();
    else this.view.disk.commitNames(); // fsync of a directory
  }

  #file(): Inode {
    if (this.inode === undefined) throw new Error(`Is a directory (os error 21): '${this.path}'`);
    return this.inode;
  }

  #usable(): void {
    this.view.live();
    if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
  }
}
