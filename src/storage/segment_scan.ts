/**
 * Reads a WAL segment file front to back through a small reusable window
 * and checks its framing (record.ts): every record's length and CRC, the
 * zero-filled end of a preallocated file, a torn final write. Each good
 * record is handed to a visitor as a position in the window, so replaying
 * a million records makes no object per record, and the 64 MiB segments
 * are never held whole: this VM pays about 4 ms per MiB the first time a
 * fresh buffer is touched (page faults), so reading a segment into a new
 * 64 MiB buffer cost ~250 ms where a reused 4 MiB window costs ~30 ms.
 *
 * The rules are those of {@link scanSegment}, which decodes a whole buffer
 * into records (tests and tools): a bad record is a torn tail only in the
 * last segment and only when no valid record follows it; anywhere else it
 * throws {@link WalCorruptError}.
 *
 * @module
 */
import { crc32cRange } from "../wire/crc32c.ts";
import type { Disk, DiskFile } from "./disk.ts";
import {
  allZero,
  CHAIN_START,
  foldCrc,
  MAX_RECORD_LENGTH,
  RECORD_HEADER,
  validRecordAfter,
  WalCorruptError,
} from "./record.ts";

/** Bytes of the window a segment is read through. */
export const WINDOW_BYTES = 4 << 20;

/**
 * Told about each record whose CRC holds: its type byte, and where it lies,
 * `buf[at..at + RECORD_HEADER + len)` (`len` counts the type byte and the
 * payload), at byte `fileOff` of the file. `buf` and `view` are the window:
 * valid only during the call.
 */
export type RecordVisitor = (
  type: number,
  buf: Uint8Array,
  view: DataView,
  at: number,
  len: number,
  fileOff: number,
) => void;

/** What scanning one segment file found. */
export interface FileScan {
  /** Records read (their CRC held). */
  records: number;
  /** Offset just past the last good record: where appends continue. */
  end: number;
  /** foldRecordCrcs over the records kept (up to `end`). */
  chain: number;
  /** The file's size in bytes. */
  size: number;
  /** Set when a torn final write was found (only in the last segment). */
  torn?: { offset: number; reason: string; nonZeroEnd: number };
}

/** A read buffer reused from one segment to the next (grown for a larger record). */
export class ScanWindow {
  buf: Uint8Array;
  view: DataView;

  /** A window of `size` bytes. */
  constructor(size = WINDOW_BYTES) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `size` bytes, keeping the first `keep`. */
  grow(size: number, keep: number): void {
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, keep));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/**
 * Scans the segment at `path`, calling `visit` for each good record in
 * order (see the module comment for what is refused).
 */
export async function scanSegmentFile(
  disk: Disk,
  path: string,
  isLast: boolean,
  win: ScanWindow,
  visit: RecordVisitor,
): Promise<FileScan> {
  const f = await disk.open(path, { read: true });
  try {
    return await new FileScanner(f, path, isLast, win, visit).run();
  } finally {
    f.close();
  }
}

class FileScanner {
  /** File offset of `win.buf[0]`. */
  #base = 0;
  /** Bytes of the window that hold file data. */
  #have = 0;
  #eof = false;
  #chain = CHAIN_START;
  #records = 0;

  constructor(
    private readonly f: DiskFile,
    private readonly path: string,
    private readonly isLast: boolean,
    private readonly win: ScanWindow,
    private readonly visit: RecordVisitor,
  ) {}

  async run(): Promise<FileScan> {
    let off = 0;
    for (;;) {
      const stop = this.#scanWindow(off);
      off = stop.off;
      const avail = this.#base + this.#have - off;
      if (stop.kind === "more") {
        if (!this.#eof) {
          await this.#fill(off, stop.need);
          continue;
        }
        if (avail === 0) return this.#done(off);
        if (avail < RECORD_HEADER + 1) {
          if (await this.#zerosToEnd(off)) return this.#done(off);
          return await this.#bad(off, () => `partial record header (${avail} bytes left)`);
        }
        const len = stop.len;
        return await this.#bad(
          off,
          (n) => `record length ${len} runs past the end of the file (${n} bytes)`,
        );
      }
      if (stop.kind === "zero") {
        if (await this.#zerosToEnd(off)) return this.#done(off);
        return await this.#bad(off, () => "zero-length record followed by non-zero bytes");
      }
      const { len } = stop;
      if (stop.kind === "long") {
        return await this.#bad(
          off,
          (n) => `record length ${len} runs past the end of the file (${n} bytes)`,
        );
      }
      return await this.#bad(off, () => stop.reason);
    }
  }

  /**
   * Checks and visits the whole records in the window from file offset
   * `from`; says why it stopped and where.
   */
  #scanWindow(
    from: number,
  ):
    | { kind: "more"; off: number; need: number; len: number }
    | { kind: "zero"; off: number }
    | { kind: "long"; off: number; len: number }
    | { kind: "crc"; off: number; len: number; reason: string } {
    const { buf, view } = this.win;
    const base = this.#base;
    const have = this.#have;
    let p = from - base;
    for (;;) {
      if (have - p < RECORD_HEADER + 1) {
        return { kind: "more", off: base + p, need: RECORD_HEADER + 1, len: 0 };
      }
      const len = view.getUint32(p, true);
      if (len === 0) return { kind: "zero", off: base + p };
      if (len > MAX_RECORD_LENGTH) return { kind: "long", off: base + p, len };
      const next = p + RECORD_HEADER + len;
      if (next > have) return { kind: "more", off: base + p, need: RECORD_HEADER + len, len };
      const want = view.getUint32(p + 4, true);
      const got = crc32cRange(buf, p + RECORD_HEADER, next);
      if (got !== want) {
        return {
          kind: "crc",
          off: base + p,
          len,
          reason: `crc mismatch (stored ${hex32(want)}, computed ${hex32(got)})`,
        };
      }
      this.visit(buf[p + RECORD_HEADER], buf, view, p, len, base + p);
      this.#chain = foldCrc(this.#chain, want);
      this.#records++;
      p = next;
    }
  }

  /**
   * Moves the window to start at file offset `off` (keeping what it holds
   * from there) and reads until it is full or the file ends; grows it
   * first if `need` bytes would not fit.
   */
  async #fill(off: number, need: number): Promise<void> {
    const keep = this.#base + this.#have - off;
    const win = this.win;
    if (need > win.buf.length) {
      win.grow(need, 0);
      // The kept bytes were at the old window's end: read them again.
      await this.f.seek(off, Deno.SeekMode.Start);
      this.#base = off;
      this.#have = 0;
    } else {
      win.buf.copyWithin(0, off - this.#base, this.#have);
      this.#base = off;
      this.#have = keep;
    }
    const buf = win.buf;
    while (this.#have < buf.length) {
      const n = await this.f.read(buf.subarray(this.#have));
      if (n === null) {
        this.#eof = true;
        return;
      }
      this.#have += n;
    }
  }

  /** Whether every byte from file offset `off` to the end is zero (reads on to the end). */
  async #zerosToEnd(off: number): Promise<boolean> {
    const buf = this.win.buf;
    if (!allZero(buf.subarray(0, this.#have), off - this.#base)) return false;
    while (!this.#eof) {
      this.#base += this.#have;
      this.#have = 0;
      while (this.#have < buf.length) {
        const n = await this.f.read(buf.subarray(this.#have));
        if (n === null) {
          this.#eof = true;
          break;
        }
        this.#have += n;
      }
      if (!allZero(buf.subarray(0, this.#have), 0)) return false;
    }
    return true;
  }

  #done(end: number): FileScan {
    return {
      records: this.#records,
      end,
      chain: this.#chain,
      size: this.#base + this.#have,
    };
  }

  /**
   * A bad record at `off`: corruption, unless this is the last segment and
   * nothing valid follows (a torn final write). Reads the rest of the file
   * whole: a rare path (a crash mid-write), and the search needs it.
   */
  async #bad(off: number, reason: (size: number) => string): Promise<FileScan> {
    const rest = await this.#readFrom(off);
    const why = reason(off + rest.length);
    if (!this.isLast) throw new WalCorruptError(this.path, off, why);
    const view = new DataView(rest.buffer, rest.byteOffset, rest.byteLength);
    if (validRecordAfter(rest, view, 1)) {
      throw new WalCorruptError(this.path, off, `${why}, and valid records follow it`);
    }
    let nz = rest.length;
    while (nz > 0 && rest[nz - 1] === 0) nz--;
    return {
      records: this.#records,
      end: off,
      chain: this.#chain,
      size: off + rest.length,
      torn: { offset: off, reason: why, nonZeroEnd: off + nz },
    };
  }

  /** The file's bytes from `off` to its end. */
  async #readFrom(off: number): Promise<Uint8Array> {
    await this.f.seek(off, Deno.SeekMode.Start);
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(WINDOW_BYTES);
      let got = 0;
      while (got < chunk.length) {
        const n = await this.f.read(chunk.subarray(got));
        if (n === null) break;
        got += n;
      }
      parts.push(chunk.subarray(0, got));
      total += got;
      if (got < chunk.length) break;
    }
    const out = new Uint8Array(total);
    let p = 0;
    for (const part of parts) {
      out.set(part, p);
      p += part.length;
    }
    return out;
  }
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}
