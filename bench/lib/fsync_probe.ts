/**
 * The disk half of the physical floor of a durable put: how long fdatasync
 * of one small append takes on the disk that holds the bench's data
 * directories, measured the way the WAL writes (`writeSync` then
 * `syncDataSync`, one record at a time).
 *
 * The file kind matters on ext4 (measured here): an append that grows the
 * file also changes its size and may allocate a block, so fdatasync has
 * metadata to commit; a write into blocks already written (a zero-filled,
 * preallocated segment) has only the data. Each kind is probed in a fresh
 * file, which is removed afterwards.
 *
 * @module
 */

import { join } from "node:path";

/**
 * - `fresh`: a new empty file; every append grows it (a WAL without preallocation).
 * - `zeroed`: a file first filled with zeros and fsynced; appends overwrite
 *   from its start (a preallocated WAL segment, as etcd's and cairn's).
 */
export type ProbeFileKind = "fresh" | "zeroed";

/** How a probe is run. */
export interface ProbeOptions {
  /** Appends (each followed by one fdatasync). */
  appends: number;
  /** Bytes per append (a put of 256 B is about 300 B of WAL record). */
  bytes: number;
  /** Size of the zero-filled file (`zeroed` only); must hold every append. */
  fileBytes: number;
}

/** The bench's probe: 300 B appends, as a 256 B put's WAL record. */
export const DEFAULT_PROBE: ProbeOptions = { appends: 500, bytes: 300, fileBytes: 4 << 20 };

/** Human words for a kind, as the results table names it. */
export function describeKind(kind: ProbeFileKind): string {
  return kind === "fresh"
    ? "appended to a fresh file (each append grows it)"
    : "written into a zero-filled, fsynced file (a preallocated segment)";
}

/**
 * Runs `opts.appends` append + fdatasync pairs in a new file of `kind`
 * under `dir` and returns each fdatasync's duration in milliseconds. The
 * file is removed afterwards.
 */
export async function probeFsync(
  dir: string,
  kind: ProbeFileKind,
  opts: ProbeOptions = DEFAULT_PROBE,
): Promise<number[]> {
  if (kind === "zeroed" && opts.appends * opts.bytes > opts.fileBytes) {
    throw new Error(`probe: ${opts.appends} × ${opts.bytes} B do not fit ${opts.fileBytes} B`);
  }
  const path = join(dir, `fsync-probe-${kind}-${crypto.randomUUID()}`);
  const f = await Deno.open(path, { read: true, write: true, create: true, truncate: true });
  try {
    if (kind === "zeroed") {
      const chunk = new Uint8Array(Math.min(1 << 20, opts.fileBytes));
      for (let p = 0; p < opts.fileBytes; p += chunk.length) {
        writeAll(f, chunk.subarray(0, Math.min(chunk.length, opts.fileBytes - p)));
      }
      f.syncSync();
      f.seekSync(0, Deno.SeekMode.Start);
    }
    const record = new Uint8Array(opts.bytes).fill(0x5a);
    const samples: number[] = [];
    for (let i = 0; i < opts.appends; i++) {
      writeAll(f, record);
      const t = performance.now();
      f.syncDataSync();
      samples.push(performance.now() - t);
    }
    return samples;
  } finally {
    f.close();
    await Deno.remove(path).catch(() => {});
  }
}

function writeAll(f: Deno.FsFile, data: Uint8Array): void {
  for (let done = 0; done < data.length;) done += f.writeSync(data.subarray(done));
}

if (import.meta.main) {
  // `deno run -A bench/lib/fsync_probe.ts [dir] [rounds]`: both kinds,
  // interleaved round by round, medians printed (for NOTES.md).
  const dir = Deno.args[0] ?? Deno.env.get("BENCH_DIR") ?? "/tmp";
  const rounds = Number(Deno.args[1] ?? 3);
  for (let r = 0; r < rounds; r++) {
    for (const kind of ["fresh", "zeroed"] as const) {
      const s = (await probeFsync(dir, kind)).sort((a, b) => a - b);
      const q = (p: number) => s[Math.floor(p * (s.length - 1))].toFixed(3);
      console.log(`${kind}: p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} ms`);
    }
  }
}
