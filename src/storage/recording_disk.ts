/**
 * The real disk with a count of how each opened file was written and
 * flushed, for tests that check where a save does its work: on the event
 * loop (`writeSync`) or off it (`write`), and how often it flushes.
 *
 * @module
 */
import { type Disk, REAL_DISK } from "./disk.ts";

/** What files opened through a {@link RecordingDisk} were asked to do, summed over them. */
export interface DiskCalls {
  /** Bytes written with `writeSync` (on the event loop). */
  syncWrittenBytes: number;
  /** Bytes written with `write` (off the event loop). */
  asyncWrittenBytes: number;
  /** `syncData` calls (fdatasync off the loop). */
  flushes: number;
  /** Bytes written when each flush was asked for, in order. */
  flushedAt: number[];
}

/** A {@link Disk} over the real one that records {@link DiskCalls}. */
export interface RecordingDisk {
  disk: Disk;
  calls: DiskCalls;
}

/** The real disk, recording the write and flush calls of the files it opens. */
export function recordingDisk(): RecordingDisk {
  const calls: DiskCalls = { syncWrittenBytes: 0, asyncWrittenBytes: 0, flushes: 0, flushedAt: [] };
  const disk: Disk = {
    ...REAL_DISK,
    open: async (path, opts) => {
      const f = await REAL_DISK.open(path, opts);
      const writeSync = f.writeSync.bind(f);
      const write = f.write.bind(f);
      const syncData = f.syncData.bind(f);
      f.writeSync = (p) => {
        const n = writeSync(p);
        calls.syncWrittenBytes += n;
        return n;
      };
      f.write = async (p) => {
        const n = await write(p);
        calls.asyncWrittenBytes += n;
        return n;
      };
      f.syncData = () => {
        calls.flushes++;
        calls.flushedAt.push(calls.syncWrittenBytes + calls.asyncWrittenBytes);
        return syncData();
      };
      return f;
    },
  };
  return { disk, calls };
}
