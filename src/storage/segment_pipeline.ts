/**
 * Prepares the WAL's next segment file off the write path, as etcd's
 * filePipeline does: a spare file is zero-filled to the segment size and
 * fsynced in the background, so a segment switch only writes a header into
 * it and renames it, and never waits for 64 MiB of zeros.
 *
 * Why zeros, not fallocate or a sparse `truncate` (measured on this
 * machine's ext4 with a throwaway probe: 1,000-3,000 appends + fdatasync
 * of each kind, interleaved in bursts of 200): an append that grows a file
 * makes fdatasync commit the new size, and a write into a hole or into
 * fallocate's unwritten extents makes it commit a block allocation or an
 * extent conversion; blocks already written with zeros leave it only the
 * data. 300 B appends: 0.09-0.11 ms p50 into zeros, a sparse or a
 * fallocated file alike (one commit per 4 KiB block), 0.14-0.15 ms into a
 * growing file. 8 KiB appends (group commits): 0.41-0.51 ms into zeros,
 * 0.63-0.85 ms sparse or fallocated, 0.62-1.03 ms growing.
 *
 * @module
 */
import { join } from "node:path";
import type { Disk, DiskFile } from "./disk.ts";
import { removeIfExists } from "./fs_util.ts";

/**
 * Name of the `n`th spare file. It ends in `.wal.tmp`, which the WAL
 * removes when it opens, so a spare left by a crash is cleaned up and never
 * read as a segment. Each spare gets its own name, so preparing the next
 * one can never touch one the WAL is still renaming into place.
 */
export function spareName(n: number): string {
  return `spare-${n}.wal.tmp`;
}

/**
 * Zeros written, then fdatasynced, per slice while preparing. The WAL's
 * own fdatasync waits for whatever the disk was asked to write before it,
 * so every slice in flight stalls the puts of that moment: with 8 MiB
 * slices each such fdatasync took 7-9 ms here (~1 GB/s), and one spare
 * held up about 200 ms of puts in a row, which set the p99 of the
 * 10,000-watcher row (1,000 puts/s). With 256 KiB slices the WAL
 * fdatasyncs slower than 2 ms during a run halved (71 → 30-35, longest
 * 8.6 → 6 ms). A 64 MiB spare now takes ~190 ms instead of ~90, still
 * ready long before the segment it follows fills, even with 1 MiB values
 * (~70 MB/s of WAL: 32 MiB in ~450 ms) (bench/NOTES.md, "Spare segment
 * slices").
 */
export const SPARE_SLICE = 256 << 10;

/** A prepared segment file: zero-filled to the segment size, durable, positioned at 0. */
export interface SpareSegment {
  file: DiskFile;
  /** Its current (temporary) path; the WAL renames it into place. */
  path: string;
}

/** Keeps at most one spare segment in preparation or ready. */
export class SegmentPipeline {
  #pending: Promise<SpareSegment> | undefined;
  #ready = false;
  #closed = false;
  #made = 0;

  /**
   * @param dir the WAL directory (the spare is made there, so a rename moves it)
   * @param size bytes of zeros in each spare (the segment size)
   * @param disk the file system
   */
  constructor(
    private readonly dir: string,
    private readonly size: number,
    private readonly disk: Disk,
  ) {}

  /** True once a spare is fully prepared and not yet taken. */
  get ready(): boolean {
    return this.#ready;
  }

  /** True while a spare is being prepared or waits to be taken. */
  get pending(): boolean {
    return this.#pending !== undefined;
  }

  /** Starts preparing a spare unless one is already under way or ready. */
  prepare(): void {
    if (this.#pending || this.#closed) return;
    const p = this.#make();
    this.#pending = p;
    p.then(() => {
      if (this.#pending === p) this.#ready = true;
    }, () => {
      // Kept as the pending promise: take() reports the error to the
      // writer, which stops the WAL. Caught here so an error nobody has
      // asked for yet is not an unhandled rejection.
    });
  }

  /**
   * The spare, waiting for it if it is still being prepared (starting it if
   * none is). The caller owns the file from then on. An error preparing it
   * (a full disk) is thrown here.
   */
  take(): Promise<SpareSegment> {
    if (this.#closed) return Promise.reject(new Error("segment pipeline is closed"));
    this.prepare();
    const p = this.#pending!;
    this.#pending = undefined;
    this.#ready = false;
    return p;
  }

  /** Resolves when no preparation is under way (for tests and tooling). */
  async settled(): Promise<void> {
    await this.#pending?.catch(() => {});
  }

  /** Stops preparing: waits for a preparation under way, then removes the spare. */
  async close(): Promise<void> {
    this.#closed = true;
    const p = this.#pending;
    this.#pending = undefined;
    this.#ready = false;
    if (p === undefined) return;
    const spare = await p.catch(() => undefined);
    if (spare === undefined) return; // a failed preparation removed its file
    spare.file.close();
    await removeIfExists(spare.path, this.disk);
  }

  async #make(): Promise<SpareSegment> {
    const path = join(this.dir, spareName(this.#made++));
    const file = await this.disk.open(path, {
      read: true,
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      const zeros = new Uint8Array(Math.min(SPARE_SLICE, this.size));
      let sinceSync = 0;
      for (let p = 0; p < this.size;) {
        const n = await file.write(zeros.subarray(0, Math.min(zeros.length, this.size - p)));
        p += n;
        sinceSync += n;
        if (sinceSync >= SPARE_SLICE && p < this.size) {
          await file.syncData();
          sinceSync = 0;
        }
      }
      // fsync, not fdatasync: the file's size must be durable too, or the
      // header written into it later could sit beyond a size a crash restores.
      await file.sync();
      await file.seek(0, Deno.SeekMode.Start);
      return { file, path };
    } catch (err) {
      file.close();
      await removeIfExists(path, this.disk).catch(() => {});
      throw err;
    }
  }
}
